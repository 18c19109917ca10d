//! A real `prometheus` server on loopback for end-to-end tests: its own temporary storage, a
//! config the test writes, queried through the HTTP API, and killed by process id on drop.

use crate::http_get;
use serde_json::Value;
use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    /// Its HTTP address.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `binary` with `config` (YAML text) on a free loopback port, and waits (bounded:
    /// one minute) until it is ready.
    pub fn start(binary: &Path, config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        // A port the kernel just handed out and released: free unless another process takes it
        // in the next moment, in which case Prometheus exits and the wait below says so.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let mut prometheus = Self {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http_get(addr, "/-/ready") {
                return prometheus;
            }
            if let Ok(Some(status)) = prometheus.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", prometheus.log());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 60 s:\n{}",
                prometheus.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GETs an API path with URL-encoded `params`; the `data` of a successful answer.
    pub fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let (status, body) =
            http_get(self.addr, &format!("{path}?{query}")).map_err(|e| e.to_string())?;
        let answer: Value =
            serde_json::from_str(&body).map_err(|e| format!("HTTP {status}, not JSON: {e}"))?;
        if answer["status"] != "success" {
            return Err(format!("HTTP {status}: {answer}"));
        }
        Ok(answer["data"].clone())
    }

    /// Evaluates `expr` at every `step` from `start` to now (Unix seconds); the result series.
    pub fn query_range(&self, expr: &str, start: f64, step: &str) -> Result<Vec<Value>, String> {
        let end = unix_now();
        let data = self.api(
            "/api/v1/query_range",
            &[
                ("query", expr),
                ("start", &format!("{start:.3}")),
                ("end", &format!("{end:.3}")),
                ("step", step),
            ],
        )?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// Evaluates `expr` now; the result samples.
    pub fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api("/api/v1/query", &[("query", expr)])?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// Waits (bounded: one minute) until Prometheus has scraped each of its `targets` targets
    /// after `after` (Unix seconds), so the state at `after` is in its storage. A target not
    /// scraped yet has no `up` series at all, hence the count.
    pub fn wait_for_scrape_after(&self, after: f64, targets: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let expr = format!("count(timestamp(up) > {after:.3})");
        loop {
            let samples = self.query(&expr).unwrap_or_default();
            if samples
                .iter()
                .any(|s| sample_value(s).is_some_and(|n| n >= targets as f64))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{expr}: not all {targets} targets scraped within 60 s: {samples:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (bounded by `timeout`) until `expr` has a sample with a value above 0.
    pub fn wait_for(&self, expr: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let samples = self.query(expr)?;
            if samples
                .iter()
                .any(|s| sample_value(s).is_some_and(|v| v > 0.0))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{expr}: nothing above 0 within {timeout:?}: {samples:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGKILL by pid: the test owns this process and its storage is thrown away.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of an instant-query sample (`[time, "value"]`).
pub fn sample_value(sample: &Value) -> Option<f64> {
    sample["value"][1].as_str().and_then(|v| v.parse().ok())
}

/// The finite values of a range-query series (`values: [[time, "value"], …]`).
pub fn finite_values(series: &Value) -> Vec<f64> {
    series["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|point| point[1].as_str()?.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .collect()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}
