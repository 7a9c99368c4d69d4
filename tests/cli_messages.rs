//! What the binary says when something is off: errors name where a value came from and state
//! their cause once, without internal prefixes; summaries count in words people use.
mod support;

use std::process::Stdio;

use support::cli::flowlog;

#[test]
fn environment_errors_name_the_variable_and_numeric_paths_are_paths() {
    let out = flowlog()
        .args(["run", "--once", "--listen", "off"])
        .env("FLOWLOG_ENGINE_FLUSH_BYTES", "lots")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("environment variable FLOWLOG_ENGINE_FLUSH_BYTES"), "{stderr}");
    let out = flowlog().args(["run", "--once", "--listen", "off"]).env("FLOWLOG_LOCAL_WATCHDIR", "x").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("environment variable FLOWLOG_LOCAL_WATCHDIR"), "a typo in a name: {stderr}");
    // A directory named 2026 given through the environment is a path, not a number.
    let dir = tempfile::tempdir().unwrap();
    let out = flowlog()
        .current_dir(dir.path())
        .args(["run", "--once", "--listen", "off", "--watch"])
        .arg(std::env::current_dir().unwrap().join("samples/flowlogs"))
        .env("FLOWLOG_LOCAL_STATE", "2026")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("2026/offsets").is_dir());
}

#[test]
fn io_errors_state_their_cause_once_without_internal_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let out = flowlog()
        .args(["run", "--once", "--listen", "off", "--watch", "samples/flowlogs", "--state"])
        .arg(file.join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr.matches("Not a directory").count(), 1, "{stderr}");
    for prefix in ["Permanent:", "Transient:", "NotFound:"] {
        assert!(!stderr.contains(prefix), "{stderr}");
    }
}

#[test]
fn the_simulate_summary_counts_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let out = flowlog()
        .args(["simulate", "--format", "nsg2", "--blobs", "2", "--minutes", "1", "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("simulated 1 minute: 2 records,"), "{stderr}");
    assert!(stderr.contains("2 blobs created"), "{stderr}");
}
