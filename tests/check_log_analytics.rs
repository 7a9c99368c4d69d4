//! `flowlog check` with `output.kind = "log_analytics"`, against the fake Logs Ingestion API: the
//! output line posts an empty array and passes, and each misconfiguration (a token for another
//! audience, an identity without the role, a wrong stream, nothing listening) fails with its
//! cause and fix named.
mod common;
#[path = "common/eventhubs.rs"]
mod hubs;
#[path = "common/azure_stack.rs"]
mod stack;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use eventhubs_emulator::logs_ingestion::{
    LogsIngestion, LogsIngestionConfig, MONITOR_AUDIENCE, NO_ROLE_SUBJECT, test_token,
};
use stack::{Stack, free_port, stack};

async fn la_stack() -> Stack {
    let mut s = stack().await;
    for c in [stack::NSG, stack::VNET] {
        let _ = common::admin_container(c).create(None).await;
    }
    s.logs = Some(LogsIngestion::start(LogsIngestionConfig::default(), "127.0.0.1:0").await.unwrap());
    s
}

/// Runs `flowlog check --create --timeout 3` with `env` added; whether it exited 0, and its stdout.
async fn check(s: &Stack, config: &PathBuf, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = s.command(&["check"], config);
    cmd.args(["--timeout", "3", "--create"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let waited =
        tokio::time::timeout(Duration::from_secs(90), tokio::task::spawn_blocking(move || child.wait_with_output()));
    let output = waited.await.expect("flowlog check ended").unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stdout)
}

fn line<'a>(report: &'a str, mark: &str) -> &'a str {
    let prefix = format!("{mark} log analytics ");
    report.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no line {prefix:?} in:\n{report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_passes_and_each_misconfiguration_is_named() {
    let s = la_stack().await;
    let config = s.config("la", free_port());
    let fake = s.logs.as_ref().unwrap();
    let id = fake.config().dcr_immutable_id.clone();
    let (ok, report) = check(&s, &config, &[]).await;
    assert!(ok, "a good configuration passes:\n{report}");
    let good = line(&report, "✔");
    assert!(good.contains("accepted (204)") && good.contains(&id), "{good}");
    assert!(!report.contains("output hub"), "no Event Hubs output is checked:\n{report}");
    assert!(fake.rows().is_empty(), "the probe stores no row");

    let wrong_audience = test_token("https://storage.azure.com", "flowlog");
    let (ok, report) = check(&s, &config, &[("FLOWLOG_LOG_ANALYTICS_TOKEN", &wrong_audience)]).await;
    let failed = line(&report, "✘");
    assert!(!ok && failed.contains("401") && failed.contains("FLOWLOG_LOG_ANALYTICS_TOKEN"), "{failed}");
    assert!(!report.contains(&wrong_audience), "the token is never printed");

    let no_role = test_token(MONITOR_AUDIENCE, NO_ROLE_SUBJECT);
    let (ok, report) = check(&s, &config, &[("FLOWLOG_LOG_ANALYTICS_TOKEN", &no_role)]).await;
    let failed = line(&report, "✘");
    assert!(!ok && failed.contains("Monitoring Metrics Publisher") && failed.contains(&id), "{failed}");

    let (ok, report) = check(&s, &config, &[("FLOWLOG_LOG_ANALYTICS_STREAM", "Custom-Other")]).await;
    let failed = line(&report, "✘");
    assert!(!ok && failed.contains("404") && failed.contains("Custom-Other"), "{failed}");
    assert!(failed.contains("log_analytics.stream") && failed.contains(&id), "{failed}");

    let nobody = format!("http://127.0.0.1:{}", free_port());
    let (ok, report) = check(&s, &config, &[("FLOWLOG_LOG_ANALYTICS_ENDPOINT", &nobody)]).await;
    let failed = line(&report, "✘");
    assert!(!ok && failed.contains("refused") && failed.contains("log_analytics.endpoint"), "{failed}");
}
