//! The Kubernetes manifests in `deploy/` parse (PyYAML, run as a subprocess), and they agree
//! with each other and with the binary: the gateway's config passes `switchyard serve`'s own
//! check, lists exactly the StatefulSet's pods by their headless-Service names, and the
//! selectors, ports and scrape annotations line up.

use serde_json::Value;
use std::{path::PathBuf, process::Command};
use switchyard_gateway::serve::config::Config;

fn deploy_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy"))
}

/// Every document of every `deploy/*.yaml`, as JSON; `None` when PyYAML is not available.
fn documents() -> Option<Vec<Value>> {
    const SCRIPT: &str = "import json, sys, yaml\n\
        docs = []\n\
        for path in sys.argv[1:]:\n\
        \x20   with open(path) as f:\n\
        \x20       docs += [d for d in yaml.safe_load_all(f) if d is not None]\n\
        print(json.dumps(docs))\n";
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .expect("deploy/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "deploy/ holds {files:?}");
    let output = Command::new("python3")
        .args(["-c", SCRIPT])
        .args(&files)
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) if String::from_utf8_lossy(&output.stderr).contains("No module named") => {
            return None;
        }
        Ok(output) => panic!(
            "the manifests do not parse: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(_) => return None,
    };
    Some(serde_json::from_slice(&output.stdout).expect("JSON from python"))
}

fn one<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind}/{name}");
    found[0]
}

fn port(container: &Value, name: &str) -> u64 {
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no port {name}"))
}

#[test]
fn manifests_parse_and_agree_with_each_other_and_the_binary() {
    let Some(docs) = documents() else {
        // CI installs python3-yaml (.ci/run); anywhere else say so and skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with PyYAML is required in CI"
        );
        eprintln!("SKIPPED: python3 with PyYAML is not available");
        return;
    };
    for doc in &docs {
        for key in ["apiVersion", "kind"] {
            assert!(doc[key].is_string(), "{key} missing in {doc}");
        }
        assert!(doc["metadata"]["name"].is_string(), "unnamed: {doc}");
    }

    // The gateway's config is valid for `switchyard serve`.
    let config_map = one(&docs, "ConfigMap", "switchyard-gateway");
    let text = config_map["data"]["switchyard.toml"].as_str().unwrap();
    let settings = toml::from_str::<Config>(text)
        .expect("config parses")
        .check()
        .expect("config is valid");
    assert_eq!(settings.pools, 0, "remote pools only");

    // It lists exactly the StatefulSet's pods, by their stable names.
    let executors = one(&docs, "StatefulSet", "switchyard-executor");
    let spec = &executors["spec"];
    let service = spec["serviceName"].as_str().unwrap();
    let headless = one(&docs, "Service", service);
    assert_eq!(headless["spec"]["clusterIP"], "None");
    let executor = &spec["template"]["spec"]["containers"][0];
    let protocol = port(executor, "protocol");
    let expected: Vec<String> = (0..spec["replicas"].as_u64().unwrap())
        .map(|i| format!("switchyard-executor-{i}.{service}:{protocol}"))
        .collect();
    assert_eq!(settings.remote.addrs, expected);
    let args: Vec<&str> = executor["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "executor");
    assert!(
        args.contains(&format!("0.0.0.0:{protocol}").as_str()),
        "{args:?}"
    );

    // The gateway reads that config, and is scraped on the port it serves metrics on.
    let gateway = one(&docs, "Deployment", "switchyard-gateway");
    let pod = &gateway["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["args"][0], "serve");
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "config")
        .unwrap();
    assert_eq!(
        container["args"][2].as_str().unwrap(),
        format!("{}/switchyard.toml", mount["mountPath"].as_str().unwrap())
    );
    let metrics = port(container, "metrics");
    assert_eq!(
        Some(metrics as u16),
        settings.metrics_addr.map(|a| a.port())
    );
    assert_eq!(
        Some(port(container, "rpc") as u16),
        Some(settings.rpc_addr.port())
    );
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], metrics.to_string());

    // Every Service and ServiceMonitor selects pods that exist.
    let pod_labels = [
        &pod["metadata"]["labels"],
        &spec["template"]["metadata"]["labels"],
    ];
    for doc in docs
        .iter()
        .filter(|d| d["kind"] == "Service" || d["kind"] == "ServiceMonitor")
    {
        let selector = match doc["kind"].as_str() {
            Some("Service") => &doc["spec"]["selector"],
            _ => &doc["spec"]["selector"]["matchLabels"],
        };
        let selected = pod_labels.iter().any(|labels| {
            selector
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| labels[k] == *v)
        });
        assert!(selected, "{} selects no pod", doc["metadata"]["name"]);
    }
}
