//! End-to-end tests of switchyard that span crates: the real `switchyard` binary started as a
//! user starts it, fed the shared mainnet blocks.
//!
//! # Layout
//! - this file: helpers to find (and build, if needed) the binary and the shared data.
//! - `tests/replay_cli.rs`: `switchyard replay` on real blocks, its exit codes and JSON summary.

use std::{
    path::PathBuf,
    process::{Command, Output},
    sync::OnceLock,
};

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
        build.args([
            "build",
            "--quiet",
            "-p",
            "switchyard-gateway",
            "--bin",
            "switchyard",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the switchyard binary failed");
        profile_dir.join("switchyard")
    })
    .clone()
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
