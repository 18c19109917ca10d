//! What the dashboards and rules in `dashboards/` ask of Prometheus, read from the files
//! themselves: every panel and annotation query, every template variable, and the metric
//! names they and the rules use; plus the metric names `docs/metrics.md` lists.

use serde_json::Value;
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

/// The repository root (the workspace holding this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// `dashboards/` in the repository.
pub fn dashboards_dir() -> PathBuf {
    repo_root().join("dashboards")
}

/// The Grafana dashboard JSON files, sorted.
pub fn dashboard_files() -> Vec<PathBuf> {
    files_in(
        &dashboards_dir().join("grafana/dashboards/switchyard"),
        "json",
    )
}

/// The Prometheus rule files (recording and alerts), sorted.
pub fn rule_files() -> Vec<PathBuf> {
    files_in(&dashboards_dir().join("prometheus/rules"), "yml")
}

fn files_in(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    files
}

/// One PromQL query of a dashboard: a panel target or an annotation.
#[derive(Debug, Clone)]
pub struct DashboardQuery {
    /// Where it is, for messages: `overview.json / Throughput / A`.
    pub place: String,
    /// The expression as Grafana holds it, variables unexpanded.
    pub expr: String,
}

impl DashboardQuery {
    /// The expression as Prometheus gets it from Grafana with every variable at "All".
    pub fn promql(&self) -> String {
        expand_variables(&self.expr)
    }
}

/// A query template variable: `label_values(SELECTOR, LABEL)`.
#[derive(Debug, Clone)]
pub struct LabelValuesVariable {
    /// Where it is, for messages.
    pub place: String,
    /// The series selector, variables unexpanded.
    pub selector: String,
    /// The label whose values the variable offers.
    pub label: String,
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// Every panel target and annotation query of every dashboard.
pub fn dashboard_queries() -> Vec<DashboardQuery> {
    let mut queries = Vec::new();
    for path in dashboard_files() {
        let board = load(&path);
        let name = file_name(&path);
        for panel in board["panels"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_default();
                queries.push(DashboardQuery {
                    place: format!(
                        "{name} / {title} / {}",
                        target["refId"].as_str().unwrap_or("?")
                    ),
                    expr: expr.to_owned(),
                });
            }
        }
        for annotation in board["annotations"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(expr) = annotation["expr"].as_str() {
                queries.push(DashboardQuery {
                    place: format!(
                        "{name} / annotation {}",
                        annotation["name"].as_str().unwrap_or("?")
                    ),
                    expr: expr.to_owned(),
                });
            }
        }
    }
    queries
}

/// Every `label_values(...)` template variable of every dashboard.
pub fn dashboard_variables() -> Vec<LabelValuesVariable> {
    let mut variables = Vec::new();
    for path in dashboard_files() {
        let board = load(&path);
        for variable in board["templating"]["list"].as_array().into_iter().flatten() {
            if variable["type"] != "query" {
                continue;
            }
            let place = format!(
                "{} / ${}",
                file_name(&path),
                variable["name"].as_str().unwrap_or("?")
            );
            let query = variable["query"]["query"]
                .as_str()
                .or(variable["query"].as_str())
                .unwrap_or_default();
            let args = query
                .strip_prefix("label_values(")
                .and_then(|rest| rest.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{place}: not label_values(...): {query}"));
            let (selector, label) = args
                .rsplit_once(',')
                .unwrap_or_else(|| panic!("{place}: label_values needs a selector: {query}"));
            variables.push(LabelValuesVariable {
                place,
                selector: selector.trim().to_owned(),
                label: label.trim().to_owned(),
            });
        }
    }
    variables
}

/// The window that stands for `$__rate_interval` (and `$__interval`, `$__range`): wide enough to
/// hold a whole test run, so an event driven early in a test is still in every panel's window.
pub const RATE_INTERVAL: &str = "5m";

/// Expands Grafana's variables as Grafana does with every template variable at "All"
/// (`allValue` is `.*` in these dashboards).
pub fn expand_variables(expr: &str) -> String {
    let mut out = expr
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", RATE_INTERVAL)
        .replace("$__range", RATE_INTERVAL);
    for name in ["job", "instance", "pool", "method"] {
        out = out
            .replace(&format!("${{{name}}}"), ".*")
            .replace(&format!("${name}"), ".*");
    }
    assert!(
        !out.contains('$'),
        "a Grafana variable this test does not expand: {expr}"
    );
    out
}

/// Metric names (`switchyard_…`, histogram series reduced to their family) in `text`.
pub fn metric_names(text: &str) -> BTreeSet<String> {
    recorded_or_raw(text, "switchyard_")
        .into_iter()
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .map_or(name.clone(), str::to_owned)
        })
        .collect()
}

/// Recording-rule names (`switchyard:…`) in `text`.
pub fn recording_rule_names(text: &str) -> BTreeSet<String> {
    recorded_or_raw(text, "switchyard:")
}

fn recorded_or_raw(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let starts_word = rest[..at]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        if starts_word {
            names.insert(tail[..len].to_owned());
        }
        rest = &tail[len..];
    }
    names
}

/// The metric names `docs/metrics.md` lists (its table's first column).
pub fn documented_metrics() -> BTreeSet<String> {
    let path = repo_root().join("docs/metrics.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .filter(|name| name.starts_with("switchyard_"))
        .collect()
}

/// A tool the test needs (`promtool`, `prometheus`, the validator's Python): `Some(path)` when
/// present. When it is missing, CI (`CI=true`) fails with what to install, while a developer's
/// run says SKIPPED and goes on.
pub fn required_tool(path: PathBuf, install: &str) -> Option<PathBuf> {
    let found = if path.components().count() > 1 {
        path.exists().then_some(path.clone())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(&path))
                .find(|candidate| candidate.is_file())
        })
    };
    if found.is_none() {
        let message = format!("{} is missing: {install}", path.display());
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("SKIPPED: {message}");
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_promql() {
        let expr = r#"histogram_quantile(0.99, sum by (le) (rate(switchyard_rpc_request_duration_seconds_bucket{job=~"$job"}[$__rate_interval]))) / switchyard:rpc_errors:ratio_rate5m + switchyard_blocks_total"#;
        assert_eq!(
            metric_names(expr).into_iter().collect::<Vec<_>>(),
            [
                "switchyard_blocks_total",
                "switchyard_rpc_request_duration_seconds"
            ]
        );
        assert_eq!(
            recording_rule_names(expr).into_iter().collect::<Vec<_>>(),
            ["switchyard:rpc_errors:ratio_rate5m"]
        );
        assert_eq!(
            expand_variables(r#"rate(x{pool=~"$pool", job=~"${job}"}[$__rate_interval])"#),
            r#"rate(x{pool=~".*", job=~".*"}[5m])"#
        );
    }
}
