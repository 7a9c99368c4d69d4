//! Local mode through the `flowlog` binary against what happens to the watched tree: ids that do
//! not depend on the watch root, unreadable directories, symbolic links, a deleted and recreated
//! root, and the retention sweep.
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::cli::{flowlog, run_once, simulate, watch};
use support::expected::{blobs, check_delivery, rows};

fn once_at(watch: &Path, state: &Path) -> Output {
    unprivileged(run_once(watch, state)).output().unwrap()
}

fn stdout_of(out: &Output) -> String {
    assert!(out.status.success(), "{:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs `cmd` as an unprivileged user when the tests run as root, so that file permissions
/// apply to it (root reads everything).
fn unprivileged(mut cmd: Command) -> Command {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    if !root {
        return cmd;
    }
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    std::mem::swap(&mut cmd, &mut wrapped);
    cmd
}

/// A temporary directory everyone may use (the unprivileged runs write their state in it).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|s| s.lines().count()).unwrap_or(0)
}

#[test]
fn ids_do_not_depend_on_where_the_watch_root_is() {
    let dir = open_tempdir();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "mixed", "--blobs", "4", "--minutes", "2", "--tuples-per-minute", "10"]);
    let state = dir.path().join("state");
    let container = logs.join("insights-logs-networksecuritygroupflowevent");
    let nsg = stdout_of(&once_at(&container, &state));
    let all = rows(&logs);
    let nsg_rows = all.iter().filter(|(_, l)| l.contains("\"format\":\"nsg\"")).count();
    assert_eq!(nsg.lines().count(), nsg_rows, "the container alone: its rows, named from the container on");
    let rest = stdout_of(&once_at(&logs, &state));
    assert_eq!(check_delivery(&all, &format!("{nsg}{rest}")), 0, "the parent: only the other container's rows");
    // A download moved one level down keeps its names.
    let moved = logs.join("downloads");
    std::fs::create_dir(&moved).unwrap();
    for c in ["insights-logs-networksecuritygroupflowevent", "insights-logs-flowlogflowevent"] {
        std::fs::rename(logs.join(c), moved.join(c)).unwrap();
    }
    assert_eq!(stdout_of(&once_at(&logs, &state)), "", "same blobs, same names, nothing new");
    assert_eq!(stdout_of(&once_at(&moved.join("insights-logs-flowlogflowevent"), &state)), "");
}

#[test]
fn an_unreadable_directory_is_skipped_reported_and_read_once_readable() {
    let dir = open_tempdir();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "mixed", "--blobs", "4", "--minutes", "2", "--tuples-per-minute", "10"]);
    let names = blobs(&logs);
    let locked: PathBuf = logs.join(&names[0]).parent().unwrap().to_path_buf();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let state = dir.path().join("state");
    let out = once_at(&logs, &state);
    assert_eq!(out.status.code(), Some(3), "documented exit code: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read") && stderr.contains(locked.to_str().unwrap()), "{stderr}");
    let first = String::from_utf8(out.stdout).unwrap();
    let all = rows(&logs);
    let locked_name = &names[0];
    let readable: std::collections::HashMap<_, _> =
        all.iter().filter(|(_, l)| !l.contains(locked_name.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(check_delivery(&readable, &first), 0, "every readable blob's rows");
    let letters = std::fs::read_dir(state.join("dead-letters")).unwrap().count();
    assert_eq!(letters, 1, "one dead letter naming the directory");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let second = stdout_of(&once_at(&logs, &state));
    assert_eq!(check_delivery(&all, &format!("{first}{second}")), 0, "the rest, once readable");
}

#[test]
fn an_unreadable_file_fails_alone_and_is_read_once_readable() {
    let dir = open_tempdir();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "mixed", "--blobs", "4", "--minutes", "1", "--tuples-per-minute", "10"]);
    let names = blobs(&logs);
    let locked = logs.join(&names[1]);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let state = dir.path().join("state");
    let out = once_at(&logs, &state);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let first = String::from_utf8(out.stdout).unwrap();
    assert_eq!(first.lines().count(), 30, "the three readable blobs");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).unwrap();
    let second = stdout_of(&once_at(&logs, &state));
    assert_eq!(check_delivery(&rows(&logs), &format!("{first}{second}")), 0);
}

#[test]
fn watch_mode_survives_an_unreadable_directory_appearing() {
    let dir = open_tempdir();
    let logs = dir.path().join("logs");
    let out = dir.path().join("rows.ndjson");
    simulate(&logs, &["--format", "nsg2", "--blobs", "1", "--minutes", "1", "--tuples-per-minute", "10"]);
    let mut child = unprivileged({
        let mut c = flowlog();
        c.args(["run", "--poll", "--listen", "off", "--watch"])
            .arg(&logs)
            .arg("--state")
            .arg(dir.path().join("state"))
            .arg("--out")
            .arg(&out)
            .env("FLOWLOG_LOCAL_POLL_INTERVAL_MS", "50");
        c
    })
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_for("the first rows", || lines(&out) == 10);
    // A download that cannot be read yet appears.
    let staging = dir.path().join("staging");
    simulate(&staging, &["--format", "nsg1", "--blobs", "1", "--minutes", "1", "--tuples-per-minute", "10"]);
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o000)).unwrap();
    let locked = logs.join("private");
    std::fs::rename(&staging, &locked).unwrap();
    // Many rescans later, a new blob is still picked up.
    simulate(&logs, &["--format", "vnet", "--blobs", "1", "--minutes", "1", "--tuples-per-minute", "10"]);
    wait_for("the new blob's rows", || lines(&out) == 20);
    assert!(child.try_wait().unwrap().is_none(), "still running");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    wait_for("the download's rows once readable", || lines(&out) == 30);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn two_copies_of_one_azure_blob_are_read_once() {
    let dir = open_tempdir();
    let logs = dir.path().join("logs");
    simulate(&logs.join("a"), &["--format", "nsg2", "--blobs", "1", "--minutes", "1", "--tuples-per-minute", "10"]);
    simulate(&logs.join("b"), &["--format", "nsg2", "--blobs", "1", "--minutes", "1", "--tuples-per-minute", "10"]);
    let out = once_at(&logs, &dir.path().join("state"));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(stdout_of(&out).lines().count(), 10, "one copy's rows: {stderr}");
    assert!(stderr.contains("two files have the same blob name"), "{stderr}");
}

#[test]
fn symbolic_links_are_reported_not_silently_skipped() {
    let dir = open_tempdir();
    let logs = dir.path().join("logs");
    let elsewhere = dir.path().join("elsewhere");
    simulate(&elsewhere, &["--format", "nsg2", "--blobs", "1", "--minutes", "1"]);
    std::fs::create_dir_all(logs.join("a")).unwrap();
    let target = elsewhere.join(&blobs(&elsewhere)[0]);
    std::os::unix::fs::symlink(&target, logs.join("a/PT1H.json")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, logs.join("linked-dir")).unwrap();
    let out = once_at(&logs, &dir.path().join("state"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("symbolic link not followed"), "{stderr}");
    assert!(stderr.contains("a/PT1H.json") && stderr.contains("linked-dir"), "both named: {stderr}");
}

#[test]
fn a_deleted_and_recreated_watch_root_is_watched_again() {
    let dir = open_tempdir();
    let logs = dir.path().join("logs");
    let out = dir.path().join("rows.ndjson");
    simulate(&logs, &["--format", "nsg2", "--blobs", "1", "--minutes", "1", "--tuples-per-minute", "10"]);
    let mut child = watch(&logs, &dir.path().join("state"))
        .arg("--out")
        .arg(&out)
        .env("FLOWLOG_LOCAL_POLL_INTERVAL_MS", "100")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first rows", || lines(&out) == 10);
    std::fs::remove_dir_all(&logs).unwrap();
    std::fs::create_dir(&logs).unwrap();
    simulate(&logs, &["--format", "vnet", "--blobs", "1", "--minutes", "1", "--tuples-per-minute", "10"]);
    wait_for("rows of the recreated root", || lines(&out) == 20);
    // And it is watched (not just rescanned once): a later append arrives too.
    simulate(
        &logs,
        &[
            "--format",
            "vnet",
            "--blobs",
            "1",
            "--minutes",
            "1",
            "--tuples-per-minute",
            "10",
            "--start",
            "2026-01-01T00:01:00Z",
        ],
    );
    wait_for("rows appended after", || lines(&out) == 30);
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the watched directory was removed"), "logged: {stderr}");
}

#[test]
fn retention_keeps_offsets_of_files_still_there() {
    let dir = open_tempdir();
    let logs = dir.path().join("logs");
    let state = dir.path().join("state");
    simulate(&logs, &["--format", "mixed", "--blobs", "2", "--minutes", "1", "--tuples-per-minute", "10"]);
    stdout_of(&once_at(&logs, &state));
    // Age every offset far past the retention.
    let mut aged = 0;
    for stripe in std::fs::read_dir(state.join("offsets")).unwrap() {
        let stripe = stripe.unwrap().path();
        if !stripe.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&stripe).unwrap() {
            let file = file.unwrap().path();
            let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            v["state"]["updated_at_ms"] = 1.into();
            std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
            aged += 1;
        }
    }
    assert_eq!(aged, 2);
    // Watch mode sweeps at start; wait for the sweep's verdict in the log.
    let mut child =
        watch(&logs, &state).env("RUST_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("retention sweep") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("a retention sweep within 20 s");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.contains("keeps the offsets"), "{line}");
    assert_eq!(stdout_of(&once_at(&logs, &state)), "", "nothing re-emitted");
}
