//! The engine's promises when things keep going wrong, through the `flowlog` binary in local
//! mode: a blob full of bad tuples makes one dead letter (not one per tuple), a record that
//! never completes raises the stall alarm, secrets never appear in configuration errors, and
//! out-of-range settings fail at start. (Failing storage and hubs are in `tests/faults*.rs`.)
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::{flowlog, run_once, simulate};

/// Every `PT1H.json` under `root`, as paths.
fn flow_logs(root: &Path) -> Vec<std::path::PathBuf> {
    support::expected::blobs(root).iter().map(|name| root.join(name)).collect()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_blob_of_bad_tuples_makes_one_dead_letter_with_counts() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "vnet", "--blobs", "1", "--minutes", "3", "--tuples-per-minute", "4000"]);
    // Every tuple gets a direction flowlog does not know: every tuple is bad.
    let blobs = flow_logs(&logs);
    let [blob] = &blobs[..] else { panic!("one blob expected") };
    let mut text = std::fs::read_to_string(blob).unwrap();
    for dir in ["I", "O"] {
        for state in ["B", "C", "E", "D"] {
            text = text.replace(&format!(",{dir},{state},"), &format!(",Z,{state},"));
        }
    }
    std::fs::write(blob, text).unwrap();
    let out = run_once(&logs, &dir.path().join("state")).output().unwrap();
    assert_eq!(out.stdout.len(), 0, "no row survives");
    let warnings = String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 4, "one warning per document, not per tuple: {warnings}");
    let letters: Vec<serde_json::Value> = std::fs::read_dir(dir.path().join("state/dead-letters"))
        .unwrap()
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "one document for the blob read");
    let letter = &letters[0];
    assert_eq!(letter["kind"], "tuple");
    assert!(letter["context"].as_str().unwrap().starts_with("12000 bad tuples"), "{letter}");
    assert_eq!(letter["error"], "direction is not I or O (12000)");
    assert!(letter["raw"].as_str().unwrap().len() <= 64 * 1024, "raw bytes capped");
}

#[test]
fn a_record_that_never_completes_raises_the_stall_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "nsg2", "--blobs", "1", "--minutes", "2", "--tuples-per-minute", "20"]);
    let blobs = flow_logs(&logs);
    let [blob] = &blobs[..] else { panic!("one blob expected") };
    // Cut the blob inside its second record, and close it as Azure would: `]}`.
    let text = std::fs::read_to_string(blob).unwrap();
    let second = text.find("\n,{").or_else(|| text.find(",{\"time\"")).expect("two records");
    std::fs::write(blob, format!("{}]}}", &text[..second + 100])).unwrap();
    let port = free_port();
    let mut daemon = flowlog()
        .args(["run", "--listen", &format!("127.0.0.1:{port}"), "--poll", "--watch"])
        .arg(&logs)
        .arg("--state")
        .arg(dir.path().join("state"))
        .env("FLOWLOG_ENGINE_STALL_AFTER_SECS", "1")
        .env("FLOWLOG_ENGINE_PENDING_INTERVAL_SECS", "1")
        .env("FLOWLOG_LOCAL_POLL_INTERVAL_MS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut seen = (String::new(), String::new());
    while start.elapsed() < Duration::from_secs(30) {
        let metrics = http_get(port, "/metrics").unwrap_or_default();
        let ready = http_get(port, "/readyz").unwrap_or_default();
        if metrics.contains("flowlog_stalled_blobs 1") && ready.contains("stalled: ") {
            seen = (metrics, ready);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status();
    let status = daemon.wait().unwrap();
    assert!(seen.0.contains("flowlog_stalled_blobs 1"), "no stall reported within 30 s");
    assert!(seen.1.contains("PT1H.json"), "{}", seen.1);
    assert!(status.success());
}

#[test]
fn secrets_never_appear_in_configuration_errors_of_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[offsets]\naccount_url = \"https://a\" sas = \"sv=TOPSECRET123\"\n").unwrap();
    let out = flowlog().args(["run", "--once", "--config"]).arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("line 2") && !stderr.contains("TOPSECRET123"), "{stderr}");
    let help = flowlog().args(["run", "--help"]).env("FLOWLOG_OFFSETS_ACCOUNT_KEY", "KEYSECRET").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("KEYSECRET"));
}

#[test]
fn out_of_range_settings_fail_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, name) in [
        ("FLOWLOG_OFFSETS_RETENTION_DAYS", "999999999999", "offsets.retention_days"),
        ("FLOWLOG_OFFSETS_RETENTION_DAYS", "0", "offsets.retention_days"),
        ("FLOWLOG_LOCAL_POLL_INTERVAL_MS", "0", "local.poll_interval_ms"),
    ] {
        let out = run_once(dir.path(), &dir.path().join("state")).env(var, value).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(name), "{var}={value}: {stderr}");
        assert!(!dir.path().join("state/offsets").exists(), "nothing was touched before the check");
    }
}

#[test]
fn a_value_azure_adds_later_keeps_its_rows_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    simulate(&logs, &["--format", "vnet", "--blobs", "1", "--minutes", "2", "--tuples-per-minute", "50"]);
    let blobs = flow_logs(&logs);
    let [blob] = &blobs[..] else { panic!("one blob expected") };
    // Every known encryption status becomes one this build has never heard of.
    let mut text = std::fs::read_to_string(blob).unwrap();
    for state in ["B", "C", "E", "D"] {
        for enc in [
            "X",
            "NX",
            "NX_HW_NOT_SUPPORTED",
            "NX_SW_NOT_READY",
            "NX_NOT_ACCEPTED",
            "NX_NOT_SUPPORTED",
            "NX_LOCAL_DST",
            "NX_FALLBACK",
        ] {
            text = text.replace(&format!(",{state},{enc},"), &format!(",{state},NX_FUTURE_STATUS,"));
        }
    }
    std::fs::write(blob, text).unwrap();
    let out = run_once(&logs, &dir.path().join("state")).output().unwrap();
    let rows = String::from_utf8(out.stdout).unwrap();
    assert_eq!(rows.lines().count(), 100, "no row dropped: {}", String::from_utf8_lossy(&out.stderr));
    assert!(rows.lines().all(|l| l.contains("\"encryption\":\"NX_FUTURE_STATUS\"")));
    assert!(out.status.success(), "nothing failed or was dead-lettered");
    assert!(!dir.path().join("state/dead-letters").read_dir().is_ok_and(|mut d| d.next().is_some()));
}
