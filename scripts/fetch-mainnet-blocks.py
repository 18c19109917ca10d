#!/usr/bin/env python3
"""Fetch mainnet blocks with their pre-state, in the layout `switchyard replay` reads.

Needs an archive node that serves the debug API (geth, reth, erigon):

    scripts/fetch-mainnet-blocks.py --rpc http://localhost:8545 --out data/mainnet 19932703 19933122
    scripts/fetch-mainnet-blocks.py --rpc http://localhost:8545 --out data/mainnet --manifest MANIFEST.tsv

For each block it writes `<number>/block.json` (eth_getBlockByNumber with full transactions),
`<number>/prestate.json` (every account and slot the block touches, as it was before the block,
merged from debug_traceBlockByNumber's prestateTracer: the first sighting of an account or slot
wins, which is its value before the block) and `<number>/block_hashes.json` (the 256 hashes
BLOCKHASH can reach), and appends a row to `<out>/MANIFEST.tsv`. Only the Python standard
library is used.
"""

import argparse
import json
import os
import sys
import urllib.request

BYZANTIUM = 4_370_000


def rpc(url, calls, timeout):
    """Sends one JSON-RPC batch and returns results in call order; raises on any error."""
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        replies = json.load(response)
    if isinstance(replies, dict):  # some servers answer a failed batch with one error object
        raise RuntimeError(f"RPC error: {replies.get('error', replies)}")
    replies.sort(key=lambda r: r["id"])
    for reply in replies:
        if "error" in reply:
            method = calls[reply["id"]][0]
            raise RuntimeError(f"{method}: {reply['error'].get('message', reply['error'])}")
    return [r["result"] for r in replies]


def merge_prestate(traces):
    """Merges per-transaction prestates: the first value seen of each account field or slot."""
    merged = {}
    for trace in traces:
        for address, account in (trace.get("result") or {}).items():
            address = address.lower()
            into = merged.setdefault(address, {"storage": {}})
            for field in ("balance", "nonce", "code"):
                if field in account and field not in into:
                    into[field] = account[field]
            for slot, value in (account.get("storage") or {}).items():
                into["storage"].setdefault(slot, value)
    for account in merged.values():
        account.setdefault("balance", "0x0")
        account.setdefault("nonce", 0)
        if not account["storage"]:
            del account["storage"]
        if account.get("code") in ("0x", ""):
            del account["code"]
    return merged


def fetch(url, number, out, timeout):
    block, traces = rpc(
        url,
        [
            ("eth_getBlockByNumber", [hex(number), True]),
            ("debug_traceBlockByNumber", [hex(number), {"tracer": "prestateTracer"}]),
        ],
        timeout,
    )
    if block is None:
        raise RuntimeError(f"block {number} not found")
    first = max(0, number - 256)
    headers = rpc(url, [("eth_getBlockByNumber", [hex(n), False]) for n in range(first, number)], timeout)
    hashes = {str(first + i): h["hash"] for i, h in enumerate(headers)}

    folder = os.path.join(out, str(number))
    os.makedirs(folder, exist_ok=True)
    for name, value in (
        ("block.json", block),
        ("prestate.json", merge_prestate(traces)),
        ("block_hashes.json", hashes),
    ):
        with open(os.path.join(folder, name), "w") as f:
            json.dump(value, f)
    return block


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rpc", required=True, help="archive node URL with the debug API")
    parser.add_argument("--out", required=True, help="folder to write block folders into")
    parser.add_argument("--manifest", help="take block numbers from the first column of this TSV")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per RPC request")
    parser.add_argument("numbers", nargs="*", type=int, help="block numbers")
    args = parser.parse_args()

    numbers = list(args.numbers)
    if args.manifest:
        with open(args.manifest) as f:
            rows = [line.split("\t") for line in f.read().splitlines()[1:] if line.strip()]
        numbers += [int(row[0]) for row in rows]
    if not numbers:
        parser.error("give block numbers or --manifest")

    os.makedirs(args.out, exist_ok=True)
    manifest = os.path.join(args.out, "MANIFEST.tsv")
    new_manifest = not os.path.exists(manifest)
    failures = 0
    with open(manifest, "a") as rows:
        if new_manifest:
            rows.write("number\ttxs\tgas_used\treceipts_root\treceipts_root_checkable\n")
        for number in numbers:
            try:
                block = fetch(args.rpc, number, args.out, args.timeout)
            except Exception as e:  # report and go on with the next block
                failures += 1
                print(f"block {number}: {e}", file=sys.stderr)
                continue
            rows.write(
                f"{number}\t{len(block['transactions'])}\t{int(block['gasUsed'], 16)}\t"
                f"{block['receiptsRoot']}\t{str(number >= BYZANTIUM).lower()}\n"
            )
            print(f"block {number}: {len(block['transactions'])} txs")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
