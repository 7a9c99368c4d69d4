//! `flowlog check` in local mode (no `[input]`): the watched directory must be readable, the
//! state directory and output file writable, the enrichment files loadable; each line names the
//! setting and where its value came from (flag, variable or file).
use std::process::{Command, Output};

fn check(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowlog"));
    c.arg("check").args(args).env_remove("FLOWLOG_LOCAL_OUT").env_remove("FLOWLOG_LOCAL_WATCH");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn line<'a>(report: &'a str, prefix: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{report}"))
}

#[test]
fn passes_with_readable_input_and_writable_state_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let (state, out) = (dir.path().join("state"), dir.path().join("rows.ndjson"));
    let args = ["--watch", "samples/flowlogs", "--state", state.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let result = check(&args, &[]);
    let report = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{report}{}", String::from_utf8_lossy(&result.stderr));
    assert!(line(&report, "✔ watched directory samples/flowlogs").contains("[local.watch from --watch]"), "{report}");
    line(&report, "✔ state directory");
    line(&report, "✔ output file");
    line(&report, "✔ enrichment");
    assert!(report.ends_with("all 4 checks passed\n"), "{report}");
}

#[test]
fn a_missing_watch_directory_and_enrichment_file_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-logs-here");
    let state = dir.path().join("state");
    let db = dir.path().join("absent.mmdb");
    let result = check(
        &["--state", state.to_str().unwrap(), "--json"],
        &[("FLOWLOG_LOCAL_WATCH", missing.to_str().unwrap()), ("FLOWLOG_ENRICH_ASN_DB", db.to_str().unwrap())],
    );
    assert_eq!(result.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let by_name = |name: &str| v["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let watch = by_name("watched directory");
    assert_eq!((watch["status"].as_str(), watch["class"].as_str()), (Some("fail"), Some("not_found")), "{watch}");
    assert_eq!(watch["origin"], "FLOWLOG_LOCAL_WATCH");
    assert!(watch["fix"].as_str().unwrap().contains("--watch DIR"), "{watch}");
    let enrichment = by_name("enrichment");
    assert_eq!(enrichment["status"], "fail");
    assert!(enrichment["cause"].as_str().unwrap().contains("absent.mmdb"), "{enrichment}");
    assert_eq!(by_name("state directory")["status"], "pass");
}
