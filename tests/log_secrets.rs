//! No secret reaches the log at any level, whoever logs it: the daemon started in Azure mode with
//! SAS tokens and a hub token, against a storage endpoint that refuses connections, at
//! `RUST_LOG=trace` (the SDKs then print each request's URL, query string and all), never
//! writes a signature to stderr; the redacted URLs are there.
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SIGNATURE: &str = "SIGSECRETc2lnbmF0dXJl";
const HUB_SIGNATURE: &str = "HUBSECRETaHViIHNpZw";

fn refused_port() -> u16 {
    // Bound, then closed: connections to it are refused.
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An Azure-mode configuration in `dir` with every storage setting at `storage`: `input` adds to
/// the `[input]` section, `output` is the `[output]` section's body (and any section after it),
/// `tail` any further sections.
fn azure_config(dir: &Path, storage: &str, input: &str, output: &str, tail: &str) -> PathBuf {
    let config = dir.join("azure.toml");
    let text = format!(
        r#"[input]
namespace = "flowlog-test.servicebus.windows.net"
hub = "input"
{input}
[checkpoints]
account_url = "{storage}"
container = "checkpoints"
[offsets]
account_url = "{storage}"
table = "offsets"
[sources]
allowed = ["{storage}/insights-logs-networksecuritygroupflowevent"]
[output]
{output}
[dead_letter]
account_url = "{storage}"
container = "deadletters"
{tail}
"#
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// `flowlog <args> --config <config>` at `RUST_LOG=trace`, with the storage credential
/// `credential` (`SAS` or `ACCOUNT_KEY`) set to `value` for every storage section.
fn flowlog(args: &[&str], config: &Path, credential: &str, value: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowlog"));
    cmd.args(args).arg("--config").arg(config).env("RUST_LOG", "trace");
    for section in ["CHECKPOINTS", "OFFSETS", "SOURCES", "DEAD_LETTER"] {
        cmd.env(format!("FLOWLOG_{section}_{credential}"), value);
    }
    cmd
}

/// Runs `cmd` until `logged` holds for the lines it printed so far, or it ends by itself (within
/// 60 s), and returns those lines (stdout and stderr), having checked that none carries a
/// signature.
fn scanned_lines(mut cmd: Command, logged: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let read = |stream: Box<dyn Read + Send>| {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                lines.lock().unwrap().push(line.unwrap_or_default());
            }
        })
    };
    let readers = [read(Box::new(child.stdout.take().unwrap())), read(Box::new(child.stderr.take().unwrap()))];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ended = child.try_wait().unwrap().is_some();
    while !ended && !logged(&lines.lock().unwrap()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        ended = child.try_wait().unwrap().is_some();
    }
    if !ended {
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    }
    child.wait().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
    let lines = std::mem::take(&mut *lines.lock().unwrap());
    let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(SIGNATURE) || l.contains(HUB_SIGNATURE)).collect();
    assert!(leaks.is_empty(), "{} of {} lines carry a signature, e.g. {}", leaks.len(), lines.len(), leaks[0]);
    lines
}

#[test]
fn sas_signatures_never_reach_the_log_even_at_trace() {
    let port = refused_port();
    let storage = format!("http://127.0.0.1:{port}/devstoreaccount1");
    let dir = tempfile::tempdir().unwrap();
    let output = "namespace = \"flowlog-test.servicebus.windows.net\"\nhub = \"rows\"";
    let tail = "[engine]\nretry_max_attempts = 2\nretry_min_delay_ms = 10\nretry_max_delay_ms = 20\n[server]\nlisten = \"off\"";
    let config = azure_config(dir.path(), &storage, "consumer_group = \"flowlog\"", output, tail);
    let sas =
        format!("sv=2022-11-02&ss=bt&srt=sco&sp=rwdlacu&se=2099-01-01T00:00:00Z&spr=https,http&sig={SIGNATURE}%3D");
    let mut cmd = flowlog(&["run"], &config, "SAS", &sas);
    let hub_token = format!("SharedAccessSignature sr=flowlog-test&sig={HUB_SIGNATURE}&se=4102444800&skn=send");
    cmd.env("FLOWLOG_LOG_FORMAT", "json")
        .env("FLOWLOG_INPUT_TOKEN", &hub_token)
        .env("FLOWLOG_OUTPUT_TOKEN", &hub_token);
    // Until the SDK has logged a request to the refused endpoint with its query string (or the
    // process ended on its own, having failed to start).
    let host = format!("127.0.0.1:{port}");
    let lines = scanned_lines(cmd, |lines| lines.iter().any(|l| l.contains(&host) && l.contains("sig=")));
    assert!(
        lines.iter().any(|l| l.contains(&host) && l.contains("sig=REDACTED")),
        "no request URL was logged, so nothing was tested ({} lines)",
        lines.len()
    );
}

/// The Logs Ingestion bearer token never reaches the log either: `flowlog check` at
/// `RUST_LOG=trace` posts to the fake Logs Ingestion API with the token (the fake accepts it, so
/// the request was made) and prints nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_ingestion_token_never_reaches_the_log_even_at_trace() {
    use eventhubs_emulator::logs_ingestion::{LogsIngestion, LogsIngestionConfig, MONITOR_AUDIENCE, test_token};
    let fake = LogsIngestion::start(LogsIngestionConfig::default(), "127.0.0.1:0").await.unwrap();
    let storage = format!("http://127.0.0.1:{}/devstoreaccount1", refused_port());
    let dir = tempfile::tempdir().unwrap();
    let c = fake.config();
    let output = format!(
        "kind = \"log_analytics\"\n[log_analytics]\nendpoint = \"{}\"\ndcr_immutable_id = \"{}\"\nstream = \"{}\"",
        fake.endpoint(),
        c.dcr_immutable_id,
        c.stream
    );
    let config = azure_config(dir.path(), &storage, "", &output, "");
    // The token's signature part is a marker no log line may carry.
    let token = format!("{}{SIGNATURE}", test_token(MONITOR_AUDIENCE, "flowlog"));
    let mut cmd = flowlog(&["check", "--timeout", "3"], &config, "ACCOUNT_KEY", "a2V5");
    cmd.env("FLOWLOG_LOG_ANALYTICS_TOKEN", &token).env("FLOWLOG_INPUT_TOKEN", "t");
    let text = tokio::task::spawn_blocking(move || scanned_lines(cmd, |_| false).join("\n")).await.unwrap();
    assert!(fake.calls().iter().any(|c| c.status == 204), "the check's call was made and accepted:\n{text}");
    assert!(text.contains("log analytics"), "the check line is there:\n{text}");
}
