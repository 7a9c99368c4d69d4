//! Process and HTTP helpers of the Azure stack tests: free ports, the daemons' metrics and
//! health endpoints, signals, waiting for a condition or a child's exit with its log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use super::Proc;

/// A start hour no earlier run against the same Azurite used (blobs are appended to, as Azure
/// does): `(--start value, the blob-path fragment of that hour)`.
pub fn fresh_hour(month: u32) -> (String, String) {
    fresh_hour_in(2026, month)
}

/// [`fresh_hour`] in another year, so that suites do not share months.
pub fn fresh_hour_in(year: u32, month: u32) -> (String, String) {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let (day, hour) = (1 + n % 28, (n / 28) % 24);
    (format!("{year}-{month:02}-{day:02}T{hour:02}:00:00Z"), format!("y={year}/m={month:02}/d={day:02}/h={hour:02}"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
        return (0, String::new());
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// Polls `cond` without blocking the runtime: the emulator runs on it too.
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a child process off the runtime's threads.
pub async fn exit_of(mut proc: Proc) -> std::process::ExitStatus {
    let mut child = proc.0.take().expect("not waited for yet");
    tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap()
}

/// Waits for `proc` and fails with `what` and the end of its log unless it exited 0: the log is
/// the only trace of why a helper process failed.
pub async fn assert_succeeds(proc: Proc, what: &str) {
    let log = proc.1.clone();
    let status = exit_of(proc).await;
    if !status.success() {
        let tail = log.as_deref().map(log_tail).unwrap_or_default();
        panic!("{what}: exited with {status}\n{tail}");
    }
}

/// The last 40 lines of a process's log, headed by its path.
pub(super) fn log_tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!("--- last lines of {}:\n{}", log.display(), lines[lines.len().saturating_sub(40)..].join("\n"))
}

pub fn signal(child: &Proc, sig: &str) {
    assert!(Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap().success());
}

pub fn metric(port: u16, name: &str) -> u64 {
    let (_, body) = http_get(port, "/metrics");
    body.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum::<f64>()
        as u64
}
