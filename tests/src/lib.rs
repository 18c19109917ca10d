//! End-to-end tests of switchyard that span crates: the real `switchyard` binary started as a
//! user starts it, fed the shared mainnet blocks.
//!
//! # Layout
//! - this file: helpers to find (and build, if needed) the binary and the shared data.
//! - [`dashboards`]: the queries, variables and metric names of `dashboards/`, and the metric
//!   names `docs/metrics.md` lists.
//! - [`prometheus`]: a real Prometheus server on loopback, queried through its HTTP API.
//! - `tests/replay_cli.rs`: `switchyard replay` on real blocks, its exit codes and JSON summary.
//! - `tests/loadgen.rs`: `switchyard loadgen` against a real gateway in every scenario:
//!   receipts, counts, and token and AMM state rebuilt from the receipts.
//! - `tests/bench_cli.rs`: `switchyard bench --quick` and the files it writes.
//! - `tests/serve_*.rs`: `switchyard serve` driven by a real alloy client and raw HTTP: the
//!   happy path, bad input, overload, exactness of produced blocks, and a throughput probe.
//!   [`Gateway`] starts the binary on ephemeral loopback ports.
//! - `tests/dashboards_*.rs`: the Prometheus config and rules under promtool, the dashboards
//!   against Grafana's schema, and every panel query against a live scrape of `serve`.
//! - `tests/remote_pools.rs`: `switchyard executor` processes ([`ExecutorProcess`]) behind a
//!   gateway: SIGKILL, restart and SIGSTOP under signed traffic; the protocol's refusals.
//! - `tests/deploy_manifests.rs`: the Kubernetes manifests in `deploy/` parse and agree.
//! - `tests/common/`: signed traffic and the sequential replay of produced blocks.

use std::{
    path::PathBuf,
    process::{Command, Output},
    sync::OnceLock,
};

pub mod dashboards;
pub mod prometheus;

pub use switchyard_executors::fixtures::mainnet_dir;

/// The `switchyard` binary of the current build profile, built on first use so a test never
/// runs a stale one. `SWITCHYARD_BIN` overrides it.
pub fn switchyard_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SWITCHYARD_BIN") {
            return PathBuf::from(bin);
        }
        // Tests run from target/<profile>/deps/; the binary lives in target/<profile>/.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>/deps layout")
            .to_owned();
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            // Only the measurements run in release, one test target at a time.
            build.args([
                "--release",
                "-p",
                "switchyard-gateway",
                "--bin",
                "switchyard",
            ]);
        } else {
            // The selection of `cargo test --workspace`: cargo unifies features over what is
            // selected, so building the gateway alone would compile some eighty crates a
            // second time with other features (two minutes and half a gigabyte in CI).
            build.args(["--workspace", "--bins", "--tests"]);
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the switchyard binary failed");
        profile_dir.join("switchyard")
    })
    .clone()
}

/// Sends `tx` through `provider` (an alloy provider with a wallet), waits for its receipt and
/// asserts the transaction succeeded.
pub async fn send_and_confirm<P: alloy_provider::Provider>(
    provider: &P,
    tx: alloy_rpc_types_eth::TransactionRequest,
) -> alloy_rpc_types_eth::TransactionReceipt {
    let receipt = provider
        .send_transaction(tx)
        .await
        .expect("transaction accepted")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(receipt.status(), "{receipt:?}");
    receipt
}

/// Contract creation code that deploys `runtime` as it is (at most 255 bytes): CODECOPY the
/// runtime behind this 12-byte prefix, then RETURN it.
pub fn deploy_code(runtime: &[u8]) -> Vec<u8> {
    let len = u8::try_from(runtime.len()).expect("a runtime of at most 255 bytes");
    let mut code = vec![
        0x60, len, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(runtime);
    code
}

/// Runs `switchyard` with `args` and waits for it.
pub fn run_switchyard(args: &[&str]) -> Output {
    Command::new(switchyard_bin())
        .args(args)
        .output()
        .expect("start switchyard")
}

/// The last line of stdout, parsed as the JSON summary.
pub fn json_summary(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last:?}"))
}

/// A `switchyard serve` process on ephemeral loopback ports, stopped (SIGTERM) on drop.
#[derive(Debug)]
pub struct Gateway {
    child: std::process::Child,
    /// The JSON-RPC address.
    pub rpc: std::net::SocketAddr,
    /// The metrics address, when enabled.
    pub metrics: Option<std::net::SocketAddr>,
    /// The data dir when the gateway owns it (a fresh temporary one, removed on drop).
    _data: Option<tempfile::TempDir>,
}

impl Gateway {
    /// Starts `switchyard serve` with ephemeral ports, a fresh data dir and `args`, and waits
    /// until it answers (bounded: panics after two minutes).
    pub fn start(args: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut gateway = Self::start_in(data.path(), args);
        gateway._data = Some(data);
        gateway
    }

    /// Starts `switchyard serve` with ephemeral ports, the data dir `data` (kept after the
    /// gateway stops, for what it wrote there) and `args`; bounded like [`Gateway::start`].
    pub fn start_in(data: &std::path::Path, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(switchyard_bin())
            .args([
                "serve",
                "--rpc",
                "127.0.0.1:0",
                "--metrics",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start switchyard serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let (mut rpc, mut metrics) = (None, None);
        while rpc.is_none() || metrics.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("switchyard serve did not print its addresses")
            });
            let addr = |prefix: &str| {
                line.strip_prefix(prefix).map(|rest| {
                    rest.trim_start_matches("http://")
                        .trim_end_matches("/metrics")
                        .parse::<std::net::SocketAddr>()
                        .expect("address")
                })
            };
            rpc = rpc.or(addr("switchyard serve: JSON-RPC on "));
            metrics = metrics.or(addr("switchyard serve: metrics on "));
        }
        let gateway = Self {
            child,
            rpc: rpc.expect("rpc"),
            metrics,
            _data: None,
        };
        let ready = (0..240).any(|_| {
            let answered = gateway
                .try_call("eth_chainId", serde_json::json!([]))
                .is_some();
            if !answered {
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            answered
        });
        assert!(ready, "switchyard serve never answered");
        gateway
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.rpc)
    }

    /// POSTs `body` to the JSON-RPC endpoint; returns the HTTP status and body.
    pub fn post(&self, body: &[u8]) -> (u16, String) {
        http_post(self.rpc, "/", body).expect("HTTP exchange")
    }

    /// One JSON-RPC call; the whole response object.
    pub fn call(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.try_call(method, params)
            .unwrap_or_else(|| panic!("{method}: no answer"))
    }

    fn try_call(&self, method: &str, params: serde_json::Value) -> Option<serde_json::Value> {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (_, text) = http_post(self.rpc, "/", body.to_string().as_bytes()).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// One call's `result`, panicking on an error answer.
    pub fn result(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let answer = self.call(method, params);
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// The metrics text.
    pub fn scrape(&self) -> String {
        let addr = self.metrics.expect("metrics enabled");
        http_get(addr, "/metrics").expect("scrape").1
    }

    /// Sends `signal` (a `kill` name such as `HUP`) without waiting for anything.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("switchyard serve did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `switchyard executor` process on loopback, killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct ExecutorProcess {
    child: std::process::Child,
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
}

impl ExecutorProcess {
    /// Starts `switchyard executor --listen listen --threads 1` and waits (bounded: two
    /// minutes) for it to print its address. `listen` may use port 0.
    pub fn start(listen: &str) -> Self {
        Self::start_with(listen, &[])
    }

    /// [`ExecutorProcess::start`] with more flags.
    pub fn start_with(listen: &str, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(switchyard_bin())
            .args(["executor", "--listen", listen, "--threads", "1"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start switchyard executor");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the executor never blocks on a full pipe.
            lines.map_while(Result::ok).for_each(drop);
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("switchyard executor did not print its address")
            });
        let addr = line
            .strip_prefix("switchyard executor: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        Self { child, addr }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a `kill` name: `KILL`, `STOP`, `CONT`) to this process only.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGKILL, then reaps the process.
    pub fn kill(mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }
}

impl Drop for ExecutorProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // A stopped process must be continued to die promptly of SIGKILL's reaping.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of the sample `series` (name with labels, exactly as exposed) in a scrape.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
}

/// Polls `condition` every 100 ms until it holds or `limit` passes; returns whether it held.
pub fn eventually(limit: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A minimal HTTP/1.1 POST over a fresh connection (bounded by 60 s timeouts).
pub fn http_post(
    addr: std::net::SocketAddr,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    http_exchange(addr, head.as_bytes(), body)
}

/// A minimal HTTP/1.1 GET.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    http_exchange(addr, head.as_bytes(), &[])
}

fn http_exchange(
    addr: std::net::SocketAddr,
    head: &[u8],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let timeout = Some(std::time::Duration::from_secs(60));
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(10))?;
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    stream.write_all(head)?;
    // The server may answer (413) and close before the whole body is sent.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (headers, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
