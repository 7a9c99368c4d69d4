//! Local mode through the `flowlog` binary: what it does to its output and what its exit code
//! says. Files it did not write are left alone, pipes and devices work, a closed reader stops
//! it, and `run --once` exits 3 when anything failed or was dead-lettered.
mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::{flowlog, run_once, simulate, watch};
use support::expected::{check_delivery, rows};

fn once(dir: &Path) -> Command {
    run_once(&dir.join("logs"), &dir.join("state"))
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    simulate(
        &dir.path().join("logs"),
        &["--format", "mixed", "--blobs", "2", "--minutes", "2", "--tuples-per-minute", "10"],
    );
    dir
}

#[test]
fn an_existing_file_flowlog_did_not_write_is_refused_and_untouched() {
    let dir = setup();
    let theirs = dir.path().join("data.bin");
    let content: Vec<u8> = (0..1_000_010u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&theirs, &content).unwrap();
    let out = once(dir.path()).arg("--out").arg(&theirs).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not written by flowlog") && stderr.contains("data.bin"), "{stderr}");
    assert_eq!(std::fs::read(&theirs).unwrap(), content, "not one byte changed");
    // Its own output, torn by a crash, is still repaired and appended to.
    let mine = dir.path().join("rows.ndjson");
    std::fs::write(&mine, b"{\"id\":\"torn").unwrap();
    let out = once(dir.path()).arg("--out").arg(&mine).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    check_delivery(&rows(&dir.path().join("logs")), &std::fs::read_to_string(&mine).unwrap());
}

#[test]
fn devices_and_pipes_are_outputs_too() {
    let dir = setup();
    let out = once(dir.path()).args(["--out", "/dev/null"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = setup();
    // `--out /dev/stdout` into a pipe.
    let out = once(dir.path()).args(["--out", "/dev/stdout"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = rows(&dir.path().join("logs"));
    assert_eq!(check_delivery(&expected, &String::from_utf8(out.stdout).unwrap()), 0);
    assert!(!dir.path().join("state/dead-letters").read_dir().unwrap().any(|_| true), "no dead letters");
}

#[test]
fn once_exits_3_when_anything_was_dead_lettered() {
    let dir = setup();
    let out = once(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    // A corrupted record in a blob that grows.
    let logs = dir.path().join("logs");
    let blob = logs.join(&support::expected::blobs(&logs)[0]);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes.truncate(bytes.len() - 2);
    bytes.extend_from_slice(b",{\"time\":\"not a flow-log record\"}]}");
    std::fs::write(&blob, &bytes).unwrap();
    let out = once(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("1 dead letter"), "says why: {stderr}");
    // Nothing new failing: 0 again.
    assert_eq!(once(dir.path()).output().unwrap().status.code(), Some(0));
    // `backfill` says the same with a fresh state.
    let out = flowlog()
        .args(["backfill", "--listen", "off", "--watch"])
        .arg(&logs)
        .arg("--state")
        .arg(dir.path().join("state2"))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_closed_reader_stops_watch_mode() {
    let dir = setup();
    let mut child = watch(&dir.path().join("logs"), &dir.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "still running 20 s after its reader went away");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken pipe"), "{stderr}");
    // What was not written was not committed: a new run delivers every row.
    let again = once(dir.path()).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    check_delivery(&rows(&dir.path().join("logs")), &String::from_utf8(again.stdout).unwrap());
}
