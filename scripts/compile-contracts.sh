#!/usr/bin/env bash
# Compiles contracts/*.sol with solc (solc-js from npm, pinned below) and writes one artifact
# per contract to contracts/out/NAME.json: ABI, creation and runtime bytecode, storage layout
# and the exact compiler version. The artifacts are committed; Rust reads them, never solc.
#
#   scripts/compile-contracts.sh           # rewrite the artifacts
#   scripts/compile-contracts.sh --check   # exit 1 if the committed artifacts are stale
#
# solc is installed once into .tools/solc (git-ignored) with npm; later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."

SOLC_VERSION=0.8.30
TOOLS=.tools/solc
if [ ! -f "$TOOLS/node_modules/solc/package.json" ] \
  || [ "$(node -p "require('./$TOOLS/node_modules/solc/package.json').version")" != "$SOLC_VERSION" ]; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "solc@$SOLC_VERSION" >/dev/null
fi

OUT=contracts/out
if [ "${1:-}" = "--check" ]; then
  OUT=$(mktemp -d)
  trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"

SOLC_MODULE="$PWD/$TOOLS/node_modules/solc" OUT="$OUT" node - <<'JS'
const fs = require('fs');
const path = require('path');
const solc = require(process.env.SOLC_MODULE);
const sources = {};
for (const file of fs.readdirSync('contracts').filter((f) => f.endsWith('.sol')).sort()) {
  sources[file] = { content: fs.readFileSync(path.join('contracts', file), 'utf8') };
}
// Cancun: the synthetic blocks run under Cancun rules and the gateway under Prague; neither
// may meet an opcode of a later fork.
const input = {
  language: 'Solidity',
  sources,
  settings: {
    evmVersion: 'cancun',
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'storageLayout'] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (c.evm.bytecode.object.length === 0) continue; // interfaces
    const artifact = {
      contract: name,
      source: `contracts/${file}`,
      compiler: `solc-js ${solc.version()}`,
      settings: input.settings,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      storageLayout: c.storageLayout.storage.map((s) => ({ label: s.label, slot: s.slot, type: s.type })),
    };
    fs.writeFileSync(path.join(process.env.OUT, `${name}.json`), JSON.stringify(artifact, null, 2) + '\n');
  }
}
JS

if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$OUT" contracts/out >/dev/null; then
    echo "contracts/out is stale: run scripts/compile-contracts.sh and commit the result" >&2
    diff -r "$OUT" contracts/out | head -20 >&2
    exit 1
  fi
  echo "contracts/out is up to date (solc $SOLC_VERSION)"
fi
