//! What a newcomer meets through the binary: commands that end quietly when their reader goes
//! away, files that are not flow logs explained, options that point to the right command,
//! errors that name their file, line or directory, and help text that says what is required.
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::cli::{flowlog, simulate, watch};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd` with stdout connected to a pipe whose reader is already gone, so every write
/// fails with a broken pipe however little is written.
fn into_closed_pipe(cmd: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer).stderr(Stdio::piped()).output().unwrap()
}

#[test]
fn schema_and_flatten_end_quietly_when_their_reader_goes_away() {
    let out = into_closed_pipe(flowlog().arg("schema"));
    assert_eq!((out.status.code(), stderr(&out)), (Some(0), String::new()));
    let out = into_closed_pipe(flowlog().args(["flatten", "samples/vnet.json", "samples/nsg_v2.json"]));
    assert_eq!((out.status.code(), stderr(&out)), (Some(0), String::new()));
}

#[test]
fn a_closed_stderr_is_no_reason_to_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let dir = tempfile::tempdir().unwrap();
    let out = flowlog()
        .args(["run", "--once", "--listen", "off", "--watch", "samples/flowlogs", "--state"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stderr(writer.try_clone().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.is_empty(), "the rows were written");
    let out = flowlog().args(["flatten", "/nonexistent/PT1H.json"]).stderr(writer).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "what the summary would have said, not a panic");
}

#[test]
fn run_into_a_closed_pipe_stops_with_one_line_and_commits_nothing_unwritten() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = into_closed_pipe(
        flowlog().args(["run", "--once", "--listen", "off", "--watch", "samples/flowlogs", "--state"]).arg(&state),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line, no log noise: {err}");
    assert!(err.contains("broken pipe") && err.contains("the next run delivers them"), "{err}");
    // Nothing was committed: the next run delivers every row.
    let again = flowlog()
        .args(["run", "--once", "--listen", "off", "--watch", "samples/flowlogs", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    let all = flowlog()
        .args(["run", "--once", "--listen", "off", "--watch", "samples/flowlogs", "--state"])
        .arg(dir.path().join("fresh"))
        .output()
        .unwrap();
    assert_eq!(again.stdout.len(), all.stdout.len());
    assert!(!all.stdout.is_empty());
    // backfill alike: it must not report success for rows it could not write.
    let out = into_closed_pipe(
        flowlog()
            .args(["backfill", "--listen", "off", "--watch", "samples/flowlogs", "--state"])
            .arg(dir.path().join("backfill")),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("broken pipe") && err.lines().count() == 1, "{err}");
}

#[test]
fn files_that_are_not_flow_logs_are_told_what_a_flow_log_looks_like() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, b"").unwrap();
    let other = dir.path().join("other.json");
    std::fs::write(&other, b"{\"value\": [1, 2, 3]}\n").unwrap();
    for (file, says) in [(&empty, "is empty"), (&other, "not the start of a flow-log blob")] {
        let out = flowlog().arg("flatten").arg(file).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says) && err.contains("{\"records\":[") && err.contains("PT1H.json"), "{err}");
        assert!(!err.contains("unexpected bytes"), "{err}");
        assert!(err.contains("no rows were written"), "the summary: {err}");
    }
}

#[test]
fn run_once_on_a_tree_without_blobs_says_which_files_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("downloads")).unwrap();
    std::fs::copy("samples/vnet.json", logs.join("downloads/flowlog-2026-01-01.json")).unwrap();
    let out = flowlog()
        .args(["run", "--once", "--listen", "off", "--watch"])
        .arg(&logs)
        .arg("--state")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("nothing to read: no file named PT1H.json"), "{err}");
    assert!(err.contains("flowlog-2026-01-01.json") && err.contains("flowlog flatten FILE"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_blob_that_is_not_a_flow_log_is_dead_lettered_with_the_reason_and_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("x")).unwrap();
    std::fs::write(logs.join("x/PT1H.json"), b"time,src,dst\n1,2,3\n").unwrap();
    let state = dir.path().join("state");
    let out = flowlog()
        .args(["run", "--once", "--listen", "off", "--watch"])
        .arg(&logs)
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("not the start of a flow-log blob"), "{err}");
    // Both the log line of the letter and the run's last line say where it is.
    let dir = state.join("dead-letters").display().to_string();
    let naming = err.lines().filter(|l| l.contains(&dir)).collect::<Vec<_>>();
    assert_eq!(naming.len(), 2, "the directory: {err}");
    assert!(naming[0].contains("dead letter written") && naming[1].contains("the details are in directory"), "{err}");
}

#[test]
fn options_of_the_wrong_command_point_to_the_right_one() {
    let out = flowlog().args(["run", "--once", "--listen", "off", "--watch", "samples/vnet.json"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("flowlog flatten samples/vnet.json"), "{err}");
    let out = flowlog().args(["flatten", "--out", "rows.ndjson", "samples/vnet.json"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("standard output") && err.contains("> rows.ndjson"), "{err}");
    assert!(out.stdout.is_empty() && !Path::new("rows.ndjson").exists());
}

#[test]
fn a_configuration_typo_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("flowlog.toml");
    std::fs::write(&config, "[local]\nwatch = \"samples/flowlogs\"\n\n[engine]\nflush_byte = 1000\n").unwrap();
    let out = flowlog().args(["run", "--once", "--listen", "off", "--config"]).arg(&config).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{} at line 5", config.display())) && err.contains("flush_byte"), "{err}");
}

#[test]
fn no_ops_server_is_announced_before_a_fatal_setting() {
    let out = flowlog()
        .args(["run", "--once", "--listen", "127.0.0.1:0", "--watch", "/nonexistent/flowlogs"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("local.watch"), "{err}");
    assert!(!err.contains("ops server listening"), "{err}");
}

/// The paragraph of `--help` output that documents `flag`.
fn help_of(help: &str, flag: &str) -> String {
    let start = help.find(&format!("  {flag} ")).unwrap_or_else(|| panic!("{flag} in {help}"));
    let rest = &help[start..];
    let end = rest[2..].find("\n  -").map_or(rest.len(), |i| i + 2);
    rest[..end].to_string()
}

#[test]
fn help_says_what_is_required_and_keeps_exit_codes_with_the_command() {
    let out = flowlog().args(["simulate", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help_of(&help, "--out").contains("Required unless --azure"), "{help}");
    let out = flowlog().args(["backfill", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(!help_of(&help, "--prefix").contains("xit code"), "{help}");
    assert!(help.contains("Exit code 0 when every blob was delivered, 3 when"), "{help}");
}

#[test]
fn simulate_names_a_file_given_as_its_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.ndjson");
    std::fs::write(&file, b"").unwrap();
    let out = flowlog().args(["simulate", "--minutes", "1", "--out"]).arg(&file).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("--out {}: not a directory", file.display())), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"", "the file is left alone");
}

#[test]
fn every_numeric_simulate_argument_is_range_checked() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--tuples-per-minute", "18446744073709551615"),
        ("--tuples-per-minute", "1000001"),
        ("--blobs", "0"),
        ("--blobs", "18446744073709551615"),
        ("--minutes", "0"),
        ("--minutes", "4294967295"),
        ("--interval-ms", "18446744073709551615"),
        ("--duplicate-percent", "101"),
        ("--delay-percent", "101"),
        ("--start", "1969-12-31T23:59:00Z"),
    ] {
        let out = flowlog().args(["simulate", flag, value, "--out"]).arg(dir.path()).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
    // Each in range, together too much for one simulated minute held in memory.
    let out = flowlog()
        .args(["simulate", "--blobs", "100", "--tuples-per-minute", "1000000", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--blobs 100 x --tuples-per-minute 1000000"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}

/// Waits for `cond` with a bounded deadline, polling: a condition on files another process writes.
fn wait_for(what: &str, limit: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The JSON log lines of `log` whose message starts with `prefix`.
fn log_lines(log: &Path, prefix: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .collect()
}

#[test]
fn a_running_daemon_logs_a_progress_line_of_what_it_did_since_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "vnet", "--blobs", "2", "--minutes", "1", "--tuples-per-minute", "25"]);
    let log = dir.path().join("flowlog.log");
    let mut child = watch(&logs, &dir.path().join("state"))
        .arg("--out")
        .arg(dir.path().join("rows.ndjson"))
        .env("RUST_LOG", "info")
        .env("FLOWLOG_LOG_FORMAT", "json")
        .env("FLOWLOG_LOG_PROGRESS_INTERVAL_SECS", "1")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let sum = |field: &str| -> u64 {
        log_lines(&log, "progress in the last 1 s").iter().map(|l| l[field].as_u64().unwrap()).sum()
    };
    wait_for("progress lines adding up to every row", std::time::Duration::from_secs(30), || sum("rows") >= 50);
    // A quiet interval follows: its line says nothing happened, and the sums are exact.
    let lines = log_lines(&log, "progress in the last 1 s").len();
    wait_for("one more progress line", std::time::Duration::from_secs(30), || {
        log_lines(&log, "progress in the last 1 s").len() > lines
    });
    let status = Command::new("kill").arg("-15").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let bytes: u64 = walk_sizes(&logs);
    assert_eq!((sum("rows"), sum("errors")), (50, 0));
    assert!(sum("blobs") >= 2, "both blobs read");
    // Every byte but each blob's closing `]}` (which the engine has no need to read).
    assert!(sum("bytes") >= bytes - 2 * 2, "every byte of the blobs read: {} of {bytes}", sum("bytes"));
    let last = log_lines(&log, "progress in the last 1 s").pop().unwrap();
    assert_eq!((last["rows"].as_u64(), last["errors"].as_u64()), (Some(0), Some(0)), "{last}");
}

fn walk_sizes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| if e.file_type().unwrap().is_dir() { walk_sizes(&e.path()) } else { e.metadata().unwrap().len() })
        .sum()
}

#[test]
fn the_summary_explains_bytes_read_without_rows() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("x")).unwrap();
    // The first six bytes of a blob still being written.
    std::fs::write(logs.join("x/PT1H.json"), b"{\"reco").unwrap();
    let out = flowlog()
        .args(["run", "--once", "--listen", "off", "--watch"])
        .arg(&logs)
        .arg("--state")
        .arg(dir.path().join("state"))
        .env("RUST_LOG", "info")
        .env("FLOWLOG_LOG_FORMAT", "text")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let line = err.lines().find(|l| l.contains("0 rows from 0 records in ")).unwrap_or_else(|| panic!("{err}"));
    let read = line.split("records in ").nth(1).and_then(|r| r.split(' ').next()).unwrap();
    assert!(read.parse::<u64>().unwrap() > 0, "bytes were read: {line}");
    assert!(
        line.contains(" bytes read; 0 blob reads delivered, 1 had nothing new to deliver (up to date, or a record still being written)"),
        "{line}"
    );
}
