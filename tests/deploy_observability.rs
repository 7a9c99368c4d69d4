//! Static checks of the operators' view: deploy/prometheus/alerts.yaml parses
//! as a Prometheus rule file and deploy/grafana/flowlog.json as a Grafana dashboard, and every
//! `flowlog_*` series their queries use is one the daemon exports, with labels it sets and label
//! values it can take. The exported names are read from src/pipeline/metrics.rs the way
//! prometheus-client exposes them: prefix `flowlog_`, counters `_total`, histograms
//! `_bucket`/`_sum`/`_count`.
#[path = "support/exported_metrics.rs"]
mod exported_metrics;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use exported_metrics::{Exported, exported, first_literal};

/// Series the alerts and dashboard use before the daemon exports them. Each is a known gap: the
/// test fails once the name is registered, so the entry is removed with the change that adds it.
const PENDING: &[&str] = &[];

/// Labels that Prometheus or Kubernetes service discovery add to every series.
const TARGET_LABELS: &[&str] = &["le", "pod", "namespace", "instance", "job", "container"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_expect(rel)
}

trait OrExpect<T> {
    fn unwrap_or_expect(self, what: &str) -> T;
}

impl<T, E: std::fmt::Display> OrExpect<T> for Result<T, E> {
    fn unwrap_or_expect(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

fn daemon_metrics() -> Exported {
    let sources = [
        read("src/pipeline/metrics.rs"),
        read("src/pipeline/dead_letter/mod.rs"),
        read("src/pipeline/storage_metrics.rs"),
    ];
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    let mut e = exported(sources[0], "pub struct Metrics {", &sources);
    let storage = exported(sources[2], "pub struct StorageMetrics {", &sources);
    e.series.extend(storage.series);
    e
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Problems with one PromQL expression: unknown series, labels not set on them, label values
/// they never take, and `by`/`without` labels no series of the expression has.
fn promql_problems(what: &str, expr: &str, exported: &Exported) -> Vec<String> {
    let mut problems = Vec::new();
    let mut labels_in_expr: BTreeSet<String> = TARGET_LABELS.iter().map(|s| s.to_string()).collect();
    let mut any = false;
    for (i, _) in expr.match_indices("flowlog_") {
        if expr[..i].chars().next_back().is_some_and(is_name_char) {
            continue;
        }
        let name: String = expr[i..].chars().take_while(|c| is_name_char(*c)).collect();
        any = true;
        let keys = match exported.series.get(&name) {
            Some(keys) => keys.clone(),
            None if PENDING.contains(&name.as_str()) => BTreeSet::new(),
            None => {
                problems.push(format!("{what}: {name} is not exported by the daemon"));
                continue;
            }
        };
        labels_in_expr.extend(keys.iter().cloned());
        let after = &expr[i + name.len()..];
        if let Some(matchers) = after.strip_prefix('{') {
            for matcher in matchers[..matchers.find('}').unwrap_or(matchers.len())].split(',') {
                let Some(op) = matcher.find(['=', '!']) else { continue };
                let key = matcher[..op].trim();
                let value = first_literal(matcher).unwrap_or_default();
                if !keys.contains(key) && !TARGET_LABELS.contains(&key) {
                    problems.push(format!("{what}: {name} has no label {key}"));
                }
                let exact = !matcher[op..].starts_with("=~") && !matcher[op..].starts_with("!~");
                if keys.contains(key) && exact && !exported.label_values.contains(value) {
                    problems.push(format!("{what}: {name}{{{key}}} never takes the value {value:?}"));
                }
            }
        }
    }
    if !any {
        problems.push(format!("{what}: uses no flowlog metric"));
    }
    for keyword in ["by (", "by(", "without (", "without("] {
        for (i, _) in expr.match_indices(keyword) {
            let list = &expr[i + keyword.len()..];
            for label in list[..list.find(')').unwrap_or(list.len())].split(',').map(str::trim) {
                if !labels_in_expr.contains(label) {
                    problems.push(format!("{what}: groups by {label}, which none of its series has"));
                }
            }
        }
    }
    problems
}

fn yaml_str<'a>(v: &'a Yaml, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

fn alert_problems(doc: &Yaml, exported: &Exported) -> Vec<String> {
    let mut problems = Vec::new();
    let groups = doc.get("groups").and_then(Yaml::as_sequence).expect("alerts.yaml: a `groups` list");
    let mut names = BTreeSet::new();
    for group in groups {
        let rules = group.get("rules").and_then(Yaml::as_sequence).expect("a group's `rules` list");
        assert!(yaml_str(group, "name").is_some(), "every group has a name");
        for rule in rules {
            let Some(name) = yaml_str(rule, "alert") else {
                problems.push(format!("a rule without `alert`: {rule:?}"));
                continue;
            };
            if !names.insert(name.to_string()) {
                problems.push(format!("{name}: defined twice"));
            }
            match yaml_str(rule, "expr") {
                Some(expr) => problems.extend(promql_problems(name, expr, exported)),
                None => problems.push(format!("{name}: no expr")),
            }
            if let Some(d) = rule.get("for") {
                let d = d.as_str().unwrap_or_default();
                let (n, unit) = d.split_at(d.len().saturating_sub(1));
                if n.parse::<u32>().is_err() || !["s", "m", "h"].contains(&unit) {
                    problems.push(format!("{name}: `for: {d}` is not a duration like 5m"));
                }
            }
            let severity = rule.get("labels").and_then(|l| yaml_str(l, "severity"));
            if !matches!(severity, Some("critical" | "warning" | "info")) {
                problems.push(format!("{name}: severity {severity:?} is not critical, warning or info"));
            }
            if rule.get("annotations").and_then(|a| yaml_str(a, "summary")).is_none() {
                problems.push(format!("{name}: no summary annotation"));
            }
        }
    }
    problems
}

fn dashboard_problems(doc: &Json, exported: &Exported) -> Vec<String> {
    let mut problems = Vec::new();
    for key in ["uid", "title"] {
        if !doc[key].is_string() {
            problems.push(format!("dashboard: no {key}"));
        }
    }
    let variables = doc["templating"]["list"].as_array().cloned().unwrap_or_default();
    if !variables.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource") {
        problems.push("dashboard: no `datasource` variable".into());
    }
    let mut ids = BTreeSet::new();
    for panel in doc["panels"].as_array().expect("dashboard: panels") {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        if !ids.insert(panel["id"].as_u64().unwrap_or(0)) {
            problems.push(format!("panel {title}: id missing or used twice"));
        }
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap_or(99), grid["w"].as_u64().unwrap_or(99));
        if x + w > 24 || grid["h"].as_u64().unwrap_or(0) == 0 {
            problems.push(format!("panel {title}: gridPos outside the 24 columns"));
        }
        if panel["type"] == "row" {
            continue;
        }
        if panel["datasource"]["uid"] != "${datasource}" {
            problems.push(format!("panel {title}: datasource is not ${{datasource}}"));
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("panel {title}: no queries"));
        }
        for t in targets {
            match t["expr"].as_str() {
                Some(expr) => problems.extend(promql_problems(&format!("panel {title}"), expr, exported)),
                None => problems.push(format!("panel {title}: a target without expr")),
            }
        }
    }
    problems
}

#[test]
fn alert_rules_parse_and_use_only_exported_metrics() {
    let doc: Yaml = serde_norway::from_str(&read("deploy/prometheus/alerts.yaml")).unwrap_or_expect("alerts.yaml");
    let problems = alert_problems(&doc, &daemon_metrics());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn dashboard_parses_and_uses_only_exported_metrics() {
    let doc: Json = serde_json::from_str(&read("deploy/grafana/flowlog.json")).unwrap_or_expect("flowlog.json");
    let problems = dashboard_problems(&doc, &daemon_metrics());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The alerts cover what operators must see.
#[test]
fn alerts_cover_lag_stalls_dead_letters_pending_readiness_and_commits() {
    let text = read("deploy/prometheus/alerts.yaml");
    for series in [
        "flowlog_partition_lag_events",
        "flowlog_stalled_blobs",
        "flowlog_dead_letters_total",
        "flowlog_pending_blobs",
        "flowlog_ready",
        "flowlog_offset_commit_failures_total",
        "flowlog_commits_pending",
    ] {
        assert!(text.contains(series), "no alert uses {series}");
    }
}

#[test]
fn pending_series_are_not_exported_yet() {
    let exported = daemon_metrics();
    for name in PENDING {
        assert!(!exported.series.contains_key(*name), "{name} is exported now: remove it from PENDING");
    }
}

#[test]
fn exported_names_follow_prometheus_client_conventions() {
    let e = daemon_metrics();
    for name in ["flowlog_rows_sent_total", "flowlog_owned_partitions", "flowlog_latency_seconds_bucket"] {
        assert!(e.series.contains_key(name), "{name} missing from {:?}", e.series.keys());
    }
    assert_eq!(e.series["flowlog_retries_total"], BTreeSet::from(["operation".to_string()]));
    let storage = BTreeSet::from(["service".to_string(), "operation".to_string()]);
    assert_eq!(e.series["flowlog_storage_requests_total"], storage);
    assert!(e.label_values.contains("failed") && e.label_values.contains("blob"));
}

#[test]
fn checks_catch_unknown_series_labels_and_values() {
    let e = daemon_metrics();
    let cases = [
        ("rate(flowlog_rows_sent[5m])", "not exported"),
        ("flowlog_blobs_total{result=\"failed\"}", "no label result"),
        ("flowlog_blobs_total{outcome=\"fail\"}", "never takes the value"),
        ("sum by (kind) (flowlog_retries_total)", "groups by kind"),
        ("up == 0", "uses no flowlog metric"),
    ];
    for (expr, want) in cases {
        let problems = promql_problems("t", expr, &e);
        assert!(problems.iter().any(|p| p.contains(want)), "{expr}: {problems:?}");
    }
    assert!(
        promql_problems("t", "sum by (outcome) (rate(flowlog_blobs_total{outcome=\"failed\"}[5m]))", &e).is_empty()
    );
    let bad: Yaml =
        serde_norway::from_str("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: flowlog_ready == 0\n        for: 5 minutes\n")
            .unwrap();
    let problems = alert_problems(&bad, &e);
    assert!(problems.iter().any(|p| p.contains("not a duration")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("severity")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("summary")), "{problems:?}");
}

/// Every exported family has a panel: a metric added to the daemon shows up on the dashboard.
#[test]
fn dashboard_shows_every_exported_metric() {
    let dashboard = read("deploy/grafana/flowlog.json");
    let exported = daemon_metrics();
    let missing: Vec<&String> = exported
        .series
        .keys()
        .filter(|name| {
            // A histogram is shown when any of its series is.
            let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
            !dashboard.contains(family)
        })
        .collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
}
