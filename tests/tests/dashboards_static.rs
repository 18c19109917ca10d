//! `dashboards/` checked without a running gateway: promtool accepts the scrape config and the
//! rules and passes the rule unit tests, which cover every alert and recording rule; every
//! dashboard query parses as PromQL once Grafana's variables are expanded; dashboards and rules
//! use only metrics listed in `docs/metrics.md` and recording rules that exist; and the
//! dashboards validate against Grafana's dashboard schema (Grafana Foundation SDK).
//!
//! CI installs promtool (Debian's `prometheus`) and the validator's Python environment
//! (`target/dashboards-venv`) in `.ci/run`; without them these tests fail under `CI=true` and
//! say SKIPPED otherwise.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
};
use switchyard_tests::dashboards::{
    dashboard_files, dashboard_queries, dashboard_variables, dashboards_dir, documented_metrics,
    metric_names, recording_rule_names, required_tool, rule_files,
};

fn promtool() -> Option<PathBuf> {
    required_tool(
        "promtool".into(),
        "install Debian's prometheus package (apt-get install prometheus)",
    )
}

fn run(program: &Path, args: &[&str], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn promtool_accepts_the_config_and_the_rules_and_passes_their_tests() {
    let Some(promtool) = promtool() else { return };
    let dir = dashboards_dir().join("prometheus");
    let check = run(&promtool, &["check", "config", "prometheus.yml"], &dir);
    assert_success("promtool check config", &check);
    // A rule file that does not exist or a file_sd glob that matches nothing is only a warning.
    let said = String::from_utf8_lossy(&check.stdout) + String::from_utf8_lossy(&check.stderr);
    assert!(!said.contains("WARNING"), "promtool warns:\n{said}");

    let rules: Vec<String> = rule_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(rules.len() >= 2, "recording and alert rules: {rules:?}");
    let mut args = vec!["check", "rules"];
    args.extend(rules.iter().map(String::as_str));
    assert_success("promtool check rules", &run(&promtool, &args, &dir));

    let tests = ["tests/recording_test.yml", "tests/alerts_test.yml"];
    let mut args = vec!["test", "rules"];
    args.extend(tests);
    let output = run(&promtool, &args, &dir);
    assert_success("promtool test rules", &output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout)
            .matches("SUCCESS")
            .count(),
        tests.len(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Every alert has a runbook, and the promtool tests exercise every alert and every recording
/// rule.
#[test]
fn every_rule_has_a_test_and_every_alert_a_runbook() {
    let dir = dashboards_dir().join("prometheus");
    let alerts = read(&dir.join("rules/alerts.yml"));
    let recording = read(&dir.join("rules/recording.yml"));
    let alert_tests = read(&dir.join("tests/alerts_test.yml"));
    let recording_tests = read(&dir.join("tests/recording_test.yml"));

    let names = |text: &str, key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .map(|n| n.trim().to_owned())
            .collect()
    };
    let alert_names = names(&alerts, "- alert:");
    assert!(alert_names.len() >= 6, "{alert_names:?}");
    assert_eq!(
        alerts.matches("\n          runbook: ").count(),
        alert_names.len(),
        "every alert has a runbook annotation"
    );
    // Each alert is tested, and fires in at least one of its tests (an expected alert has
    // labels; the other evaluations expect none).
    for alert in &alert_names {
        let fires = alert_tests
            .split("- alertname: ")
            .filter(|case| case.starts_with(&format!("{alert}\n")))
            .any(|case| case.contains("exp_labels:"));
        assert!(
            fires,
            "{alert}: no test in tests/alerts_test.yml where it fires"
        );
    }
    for record in names(&recording, "- record:") {
        assert!(
            recording_tests.contains(&format!("- expr: {record}\n")),
            "{record} has no promql_expr_test in tests/recording_test.yml"
        );
    }
}

#[test]
fn every_dashboard_query_parses_as_promql() {
    let queries = dashboard_queries();
    assert!(queries.len() >= 30, "only {} queries", queries.len());
    // Each query becomes a recording rule of its own group, named after its panel, so that
    // promtool's message points at the panel.
    let mut rules = String::from("groups:\n");
    for (i, query) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "  - name: {}\n    rules:\n      - record: dashboard_query_{i}\n        expr: {}\n",
            serde_json::to_string(&query.place).unwrap(),
            serde_json::to_string(&query.promql()).unwrap(),
        ));
    }
    for (i, variable) in dashboard_variables().iter().enumerate() {
        rules.push_str(&format!(
            "  - name: {}\n    rules:\n      - record: dashboard_variable_{i}\n        expr: {}\n",
            serde_json::to_string(&variable.place).unwrap(),
            serde_json::to_string(&switchyard_tests::dashboards::expand_variables(
                &variable.selector
            ))
            .unwrap(),
        ));
    }
    let Some(promtool) = promtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard_queries.yml");
    std::fs::write(&file, rules).unwrap();
    assert_success(
        "promtool check rules on the dashboard queries",
        &run(
            &promtool,
            &["check", "rules", file.to_str().unwrap()],
            dir.path(),
        ),
    );
}

#[test]
fn dashboards_and_rules_use_only_documented_metrics_and_defined_recording_rules() {
    let documented = documented_metrics();
    assert!(documented.len() > 30, "{documented:?}");
    let recording = read(&dashboards_dir().join("prometheus/rules/recording.yml"));
    let defined: BTreeSet<String> = recording
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record:"))
        .map(|n| n.trim().to_owned())
        .collect();

    let mut sources: Vec<(String, String)> = dashboard_files()
        .iter()
        .map(|p| (p.display().to_string(), read(p)))
        .collect();
    sources.extend(
        rule_files()
            .iter()
            .map(|p| (p.display().to_string(), read(p))),
    );
    let mut used = BTreeSet::new();
    for (file, text) in &sources {
        for metric in metric_names(text) {
            assert!(
                documented.contains(&metric),
                "{file} uses {metric}, which docs/metrics.md does not list"
            );
            used.insert(metric);
        }
        for record in recording_rule_names(text) {
            assert!(
                defined.contains(&record),
                "{file} uses {record}, which no recording rule defines"
            );
        }
    }
    // The dashboards show most of what the gateway exports.
    assert!(
        used.len() * 4 >= documented.len() * 3,
        "dashboards and rules use only {} of {} metrics",
        used.len(),
        documented.len()
    );
}

#[test]
fn dashboards_validate_against_grafanas_schema() {
    let python = std::env::var_os("SWITCHYARD_DASHBOARDS_PYTHON").map_or_else(
        || switchyard_tests::dashboards::repo_root().join("target/dashboards-venv/bin/python"),
        PathBuf::from,
    );
    let Some(python) = required_tool(
        python,
        "create it with: python3 -m venv target/dashboards-venv && target/dashboards-venv/bin/pip install -r dashboards/requirements.txt (.ci/run does)",
    ) else {
        return;
    };
    let validator = dashboards_dir().join("validate_dashboards.py");
    let mut args = vec![validator.display().to_string()];
    args.extend(dashboard_files().iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&python, &args, &dashboards_dir());
    assert_success("validate_dashboards.py", &output);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("4 dashboards") && said.contains("valid against Grafana's dashboard schema"),
        "{said}"
    );

    // The validator fails on a dashboard Grafana would not take: one unknown field.
    let mut broken: serde_json::Value = serde_json::from_str(&read(&dashboard_files()[0])).unwrap();
    broken["panels"][0]["gridPos"]["w"] = serde_json::json!("wide");
    broken["panels"][0]["not_a_grafana_field"] = serde_json::json!(1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, broken.to_string()).unwrap();
    let output = run(
        &python,
        &[validator.to_str().unwrap(), file.to_str().unwrap()],
        dir.path(),
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("not_a_grafana_field") && said.contains("grid_pos.w"),
        "{said}"
    );
}
