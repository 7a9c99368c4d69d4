//! SIGTERM ends the process within the shutdown deadline even while a start-up step waits in
//! the kernel: `--out` names a FIFO nobody reads yet, so opening it blocks (FIFOs and devices are
//! valid outputs), and the stop must not wait for that open.
#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// True once one of `pid`'s threads sleeps in a FIFO open, waiting for the other end.
fn waits_for_a_fifo_partner(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().any(|t| std::fs::read_to_string(t.path().join("wchan")).is_ok_and(|w| w == "wait_for_partner"))
}

#[test]
fn sigterm_ends_a_start_blocked_on_an_output_fifo_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let fifo = dir.path().join("rows.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlog"))
        .args(["run", "--listen", "off", "--watch"])
        .arg(dir.path().join("logs"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .arg("--out")
        .arg(&fifo)
        .env("RUST_LOG", "warn")
        .env("FLOWLOG_SERVER_SHUTDOWN_DEADLINE_SECS", "5")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !waits_for_a_fifo_partner(child.id()) {
        assert!(start.elapsed() < Duration::from_secs(30), "never reached the open of the output FIFO");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if stopped.elapsed() > Duration::from_secs(5) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("still running 5 s (the shutdown deadline) after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
