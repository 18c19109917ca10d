//! The gateway's `/metrics`, scraped from the real binary: every exported family is documented
//! in `docs/metrics.md`, every documented metric is exported, and `promtool check metrics`
//! accepts the exposition.

use serde_json::json;
use std::{
    io::Write,
    process::{Command, Stdio},
};
use switchyard_tests::{Gateway, dashboards::documented_metrics};

#[test]
fn metrics_are_documented_and_pass_promtool() {
    let gateway = Gateway::start(&[]);
    gateway.result("eth_chainId", json!([]));
    let unknown = gateway.call("no_such_method", json!([]));
    assert_eq!(unknown["error"]["code"], -32601);
    let text = gateway.scrape();

    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md"))
        .expect("docs/metrics.md");
    let families: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    assert!(families.len() > 10, "too few metric families: {families:?}");
    // Before any block or transaction: every documented metric is already there (closed label
    // sets are created at start), so dashboards never lack a series.
    for documented in documented_metrics() {
        assert!(
            families.contains(&documented.as_str()),
            "{documented} is in docs/metrics.md but not exported"
        );
    }
    for family in &families {
        assert!(
            family.starts_with("switchyard_"),
            "{family} lacks the switchyard_ prefix"
        );
        assert!(
            docs.contains(&format!("`{family}`")),
            "{family} is not in docs/metrics.md"
        );
    }

    // CI installs promtool from Debian's prometheus package (.ci/run).
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match promtool {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "SKIPPED promtool check: cannot run promtool ({e}); install Debian's prometheus package"
            );
            return;
        }
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("promtool");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
