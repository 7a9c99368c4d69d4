//! The local embedded default, end to end through the `flowlog` binary: exactly-once on a
//! simulated directory, nothing on a second run, only new rows after appends, nothing lost
//! after `kill -9`, graceful stop on SIGTERM in watch mode, backfill by prefix.
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::{flowlog, simulate, watch};
use support::expected::{check_delivery, rows};

fn run_once(dir: &Path) -> String {
    let out = support::cli::run_once(&dir.join("logs"), &dir.join("state")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Waits for `cond` with a bounded deadline, polling: a condition on files another process writes.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exactly_once_then_nothing_then_only_new_rows() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "mixed", "--blobs", "3", "--minutes", "4", "--tuples-per-minute", "40"]);
    let first = run_once(dir.path());
    let expected = rows(&logs);
    assert_eq!(expected.len(), 3 * 4 * 40);
    assert_eq!(check_delivery(&expected, &first), 0, "no duplicates on a clean run");

    assert_eq!(run_once(dir.path()), "", "a second run emits nothing");

    simulate(
        &logs,
        &[
            "--format",
            "mixed",
            "--blobs",
            "3",
            "--minutes",
            "2",
            "--tuples-per-minute",
            "40",
            "--start",
            "2026-01-01T00:04:00Z",
        ],
    );
    let third = run_once(dir.path());
    let all = rows(&logs);
    assert_eq!(third.lines().count(), 3 * 2 * 40, "only the appended minutes' rows");
    check_delivery(&all, &format!("{first}{third}"));
}

#[test]
fn kill_9_mid_run_then_restart_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let out = dir.path().join("rows.ndjson");
    simulate(&logs, &["--format", "nsg2", "--blobs", "8", "--minutes", "30", "--tuples-per-minute", "300"]);
    let start = |dir: &Path| -> Child {
        flowlog()
            .args(["run", "--once", "--listen", "off", "--watch"])
            .arg(dir.join("logs"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--out")
            .arg(dir.join("rows.ndjson"))
            // Small flushes: many send/commit steps for the kill to land between.
            .env("FLOWLOG_ENGINE_FLUSH_BYTES", "20000")
            .env("FLOWLOG_ENGINE_BLOB_CONCURRENCY", "1")
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start(dir.path());
    wait_for("some rows", Duration::from_secs(60), || {
        std::fs::metadata(&out).map(|m| m.len() > 200_000).unwrap_or(false)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = start(dir.path());
    assert!(child.wait().unwrap().success());
    let delivered = std::fs::read_to_string(&out).unwrap();
    let expected = rows(&logs);
    assert_eq!(expected.len(), 8 * 30 * 300);
    let dups = check_delivery(&expected, &delivered);
    // The documented bound: per blob in flight, the rows sent since its last offset commit, at
    // most one record (an offset moves only to a record's end; here 300 rows) plus one flush
    // (20,000 bytes, under 30 rows). Blobs waiting for the output give their read permit back,
    // so every blob of the batch (8) can be in flight at once.
    let bound = 8 * (300 + 30);
    assert!(dups <= bound, "re-sent at most one record and one flush per blob in flight ({bound}), got {dups}");
}

#[test]
fn watch_mode_follows_appends_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let out = dir.path().join("rows.ndjson");
    simulate(&logs, &["--format", "vnet", "--blobs", "2", "--minutes", "1", "--tuples-per-minute", "25"]);
    let mut child = watch(&logs, &dir.path().join("state")).arg("--out").arg(&out).spawn().unwrap();
    let count = || std::fs::read_to_string(&out).map(|s| s.lines().count()).unwrap_or(0);
    wait_for("the initial rows", Duration::from_secs(30), || count() == 50);
    simulate(
        &logs,
        &[
            "--format",
            "vnet",
            "--blobs",
            "2",
            "--minutes",
            "2",
            "--tuples-per-minute",
            "25",
            "--start",
            "2026-01-01T00:01:00Z",
        ],
    );
    wait_for("the appended rows", Duration::from_secs(30), || count() == 150);
    // SIGTERM: a graceful stop, exit 0, well within the 25 s deadline.
    let stopped = Instant::now();
    assert_eq!(unsafe_kill(child.id(), 15), 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(stopped.elapsed() < Duration::from_secs(10));
    check_delivery(&rows(&logs), &std::fs::read_to_string(&out).unwrap());
}

#[test]
fn backfill_processes_only_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "mixed", "--blobs", "3", "--minutes", "2", "--tuples-per-minute", "10"]);
    let out = flowlog()
        .args(["backfill", "--listen", "off", "--prefix", "insights-logs-flowlogflowevent/", "--watch"])
        .arg(&logs)
        .arg("--state")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let vnet: std::collections::HashMap<_, _> =
        rows(&logs).into_iter().filter(|(_, l)| l.contains("\"format\":\"vnet\"")).collect();
    assert_eq!(vnet.len(), 20);
    check_delivery(&vnet, &stdout);
    // What backfill committed, `run --once` skips: only the NSG blobs are left.
    assert_eq!(run_once(dir.path()).lines().count(), 40);
}

#[test]
fn bad_configuration_fails_at_start_naming_the_setting() {
    let out = flowlog().args(["run", "--once", "--watch", "/nonexistent/flowlogs"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("local.watch"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = flowlog().args(["run", "--once"]).env("FLOWLOG_ENGINE_FLUSH_BYTES", "lots").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("flush_bytes"), "{}", String::from_utf8_lossy(&out.stderr));
}

fn unsafe_kill(pid: u32, sig: i32) -> i32 {
    // std has no portable "send SIGTERM"; the kill(1) utility is everywhere this runs.
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map(|s| if s.success() { 0 } else { 1 })
        .unwrap_or(1)
}
