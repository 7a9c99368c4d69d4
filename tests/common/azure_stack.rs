//! The Azure daemon's test stack: the in-process Event Hubs emulator, Azurite (optionally
//! behind fault proxies), the `flowlog` binary as separate processes (`daemon`, `simulate`),
//! and what a test checks afterwards: rows delivered to the output hub (or to the fake Logs
//! Ingestion API), the rows every blob must yield, stored offsets and metrics. Included by the Azure end-to-end and fault tests
//! as `#[path = "common/azure_stack.rs"] mod stack;` next to `mod common;` and `mod hubs;`.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventhubs_emulator::logs_ingestion::{LogsIngestion, MONITOR_AUDIENCE, test_token};
use eventhubs_emulator::{EmulatorConfig, EmulatorHandle, HubConfig, NAMESPACE, Rules};
use flowlog::azure::StorageAuth;
use flowlog::azure::blob_store::AzureBlobStoreOptions;
use flowlog::azure::table::TableOffsetStore;
use flowlog::pipeline::blob_store::BlobStore;

use crate::common;
use crate::hubs::start_emulator;

pub const NSG: &str = "insights-logs-networksecuritygroupflowevent";
pub const VNET: &str = "insights-logs-flowlogflowevent";
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A child process that is killed if the test ends (or fails) before waiting for it, so a
/// failing test leaves no daemon running. A failing test prints the tail of its log.
pub struct Proc(pub Option<Child>, pub Option<PathBuf>);

impl Proc {
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    pub fn kill(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(log) = &self.1
        {
            eprintln!("{}", log_tail(log));
        }
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct Stack {
    pub emulator: EmulatorHandle,
    pub dir: tempfile::TempDir,
    pub table: String,
    pub dead_letters: String,
    /// Account endpoints the daemon and `simulate` use for sources and dead letters (Blob) and
    /// offsets (Table): Azurite's, or a fault proxy's in front of it.
    pub blob_url: String,
    pub table_url: String,
    /// The checkpoint store's account endpoint: Azurite's unless a test puts a proxy there (the
    /// fault scenarios leave it alone: faults there are the Event Hubs processor's business).
    pub checkpoints_url: String,
    /// Extra `[engine]` keys, one `key = value` per line.
    pub engine_extra: String,
    /// `output.gzip` as written to the config: `None` leaves the default (gzip), which
    /// `delivered` then requires of every event.
    pub output_gzip: Option<bool>,
    /// With a fake Logs Ingestion API here, rows go to it (`output.kind = "log_analytics"`)
    /// instead of the output hub, and `delivered` reads what it stored.
    pub logs: Option<LogsIngestion>,
}

pub async fn stack() -> Stack {
    stack_with(4, Rules::default()).await
}

/// A stack whose input hub has `input_partitions` partitions, the emulator enforcing `rules`.
pub async fn stack_with(input_partitions: u32, rules: Rules) -> Stack {
    let emulator = start_emulator(
        EmulatorConfig::new(vec![
            HubConfig::new("input", input_partitions).with_consumer_group("flowlog"),
            HubConfig::new("rows", 4).with_consumer_group("adx"),
        ])
        .with_rules(rules),
    )
    .await;
    Stack {
        emulator,
        dir: tempfile::tempdir().unwrap(),
        table: common::unique_name("offsets"),
        dead_letters: common::unique_name("dead"),
        blob_url: common::blob_endpoint().to_string(),
        table_url: common::table_endpoint().to_string(),
        checkpoints_url: common::blob_endpoint().to_string(),
        engine_extra: String::new(),
        output_gzip: None,
        logs: None,
    }
}

impl Stack {
    /// The daemon's configuration file (no secrets: those are in `env`).
    pub fn config(&self, name: &str, listen: u16) -> PathBuf {
        let checkpoints = &self.checkpoints_url;
        let (blob, table) = (&self.blob_url, &self.table_url);
        let text = format!(
            r#"[input]
namespace = "{NAMESPACE}"
hub = "input"
consumer_group = "flowlog"
endpoint = "{ep}"
update_interval_ms = 300
partition_expiration_ms = 2000
strategy = "greedy"
[checkpoints]
account_url = "{checkpoints}"
container = "{cp}"
[offsets]
account_url = "{table}"
table = "{tbl}"
[sources]
allowed = ["{blob}/{NSG}", "{blob}/{VNET}"]
[output]
namespace = "{NAMESPACE}"
hub = "rows"
endpoint = "{ep}"
{gzip}
{logs}
[dead_letter]
account_url = "{blob}"
container = "{dl}"
[engine]
flush_bytes = 65536
retry_min_delay_ms = 20
retry_max_delay_ms = 500
{extra}
[server]
listen = "127.0.0.1:{listen}"
shutdown_deadline_secs = 10
"#,
            ep = self.emulator.endpoint(),
            cp = self.checkpoints_container(),
            tbl = self.table,
            dl = self.dead_letters,
            extra = self.engine_extra,
            gzip = self.output_gzip.map(|g| format!("gzip = {g}")).unwrap_or_default(),
            logs = self.logs.as_ref().map_or(String::new(), |l| format!(
                "kind = \"log_analytics\"\n[log_analytics]\nendpoint = \"{}\"\ndcr_immutable_id = \"{}\"\nstream = \"{}\"\ntimeout_secs = 2",
                l.endpoint(),
                l.config().dcr_immutable_id,
                l.config().stream
            )),
        );
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `flowlog <subcommand> --config <config>` with the secrets in its environment.
    pub fn command(&self, subcommand: &[&str], config: &PathBuf) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flowlog"));
        c.args(subcommand).arg("--config").arg(config);
        for section in ["CHECKPOINTS", "OFFSETS", "SOURCES", "DEAD_LETTER"] {
            c.env(format!("FLOWLOG_{section}_ACCOUNT_KEY"), KEY);
        }
        // STACK_RUST_LOG raises the children's log level when a scenario is investigated.
        let level = std::env::var("STACK_RUST_LOG").unwrap_or_else(|_| "warn".into());
        c.env("FLOWLOG_INPUT_TOKEN", "t").env("FLOWLOG_OUTPUT_TOKEN", "t").env("RUST_LOG", level);
        c.env("FLOWLOG_LOG_ANALYTICS_TOKEN", test_token(MONITOR_AUDIENCE, "flowlog"));
        c
    }

    pub async fn daemon(&self, name: &str) -> (Proc, u16) {
        let port = free_port();
        let config = self.config(name, port);
        // STACK_LOGS keeps the daemons' logs in that directory after the test.
        let dir = std::env::var_os("STACK_LOGS").map_or_else(|| self.dir.path().to_path_buf(), PathBuf::from);
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut child = Proc(
            Some(self.command(&["run"], &config).stderr(file).stdout(Stdio::null()).spawn().unwrap()),
            Some(log.clone()),
        );
        let start = Instant::now();
        while http_get(port, "/readyz").0 != 200 {
            // A daemon that exited at start will never be ready: say so at once, with its log.
            let exited = child.0.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || start.elapsed() > Duration::from_secs(120) {
                let why = exited.map_or("not ready after 120 s".to_string(), |s| format!("exited at start ({s})"));
                panic!("{name} {why}; its log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (child, port)
    }

    pub fn simulate(&self, args: &[&str]) -> Proc {
        let config = self.config("simulate", free_port());
        let log = self.dir.path().join("simulate.log");
        let file = std::fs::File::create(&log).unwrap();
        Proc(Some(self.command(&["simulate", "--azure"], &config).args(args).stderr(file).spawn().unwrap()), Some(log))
    }

    /// The end-to-end tests' traffic: `blobs` blobs of mixed formats over `minutes` minutes from
    /// `start`, one event every `interval_ms`, a fifth of them duplicated and a fifth delayed,
    /// and the rest reordered.
    pub fn simulate_shuffled(
        &self,
        blobs: u32,
        minutes: u32,
        tuples: u32,
        seed: u32,
        start: &str,
        interval_ms: u32,
    ) -> Proc {
        let (blobs, minutes, tuples) = (blobs.to_string(), minutes.to_string(), tuples.to_string());
        let (seed, interval) = (seed.to_string(), interval_ms.to_string());
        self.simulate(&[
            "--format",
            "mixed",
            "--blobs",
            &blobs,
            "--minutes",
            &minutes,
            "--tuples-per-minute",
            &tuples,
            "--seed",
            &seed,
            "--start",
            start,
            "--interval-ms",
            &interval,
            "--duplicate-percent",
            "20",
            "--delay-percent",
            "20",
            "--reorder",
        ])
    }

    /// Waits until the output hub received its first rows.
    pub async fn first_rows_in_output_hub(&self) {
        let counters = self.emulator.control();
        wait_for("first rows", Duration::from_secs(60), || {
            counters.counters().hubs.get("rows").is_some_and(|h| h.partitions.values().any(|p| p.events_received > 0))
        })
        .await;
    }

    /// Events accepted by the output hub so far (the emulator's counters).
    pub fn output_events(&self) -> u64 {
        if let Some(logs) = &self.logs {
            return logs.calls().iter().filter(|c| c.status == 204).count() as u64;
        }
        self.emulator
            .control()
            .counters()
            .hubs
            .get("rows")
            .map_or(0, |h| h.partitions.values().map(|p| p.events_received).sum())
    }

    /// Every row in the output hub, in partition order, read from the emulator's store: exactly
    /// what the hub holds, duplicates included. An SDK 0.15 consumer loses its connection now and
    /// then on a race in its AMQP stack (see the emulator's `inspect` module), and a verdict on
    /// loss must not depend on it; the SDK's own read path is checked in `eventhubs_sink.rs`.
    pub fn delivered(&self) -> Vec<String> {
        if let Some(logs) = &self.logs {
            return logs.rows();
        }
        let partitions = self.emulator.stored_bodies("rows").expect("the output hub exists");
        let gzip = self.output_gzip.unwrap_or(true);
        partitions
            .iter()
            .flatten()
            .flat_map(|body| {
                // Every event is gzip when the config says so (the default), none otherwise.
                let text = if gzip {
                    let mut text = String::new();
                    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text).expect("a gzip event body");
                    text
                } else {
                    assert!(!body.starts_with(&[0x1f, 0x8b]), "plain output configured, got a gzip event");
                    String::from_utf8(body.clone()).expect("a plain event body is UTF-8")
                };
                text.lines().map(str::to_string).collect::<Vec<_>>()
            })
            .collect()
    }

    /// The rows every blob written under the given start hour must yield, by id.
    pub async fn expected(
        &self,
        hour_prefix: &str,
    ) -> (HashMap<String, String>, Vec<(flowlog::domain::blob_name::BlobName, u64)>) {
        let store = common::blob_store(&[NSG, VNET], AzureBlobStoreOptions::default());
        let mut rows = HashMap::new();
        let mut ends = Vec::new();
        for listing in store.list("").await.unwrap() {
            if !listing.blob.as_str().contains(hour_prefix) {
                continue;
            }
            let len = listing.properties.content_length;
            let bytes = common::read_all(store.read_range(&listing.blob, 0..len).await.unwrap(), usize::MAX).await;
            let mut enc = flowlog::domain::row::ndjson::NdjsonEncoder::new();
            flowlog::domain::flatten::RangeFlattener::new(flowlog::domain::ids::RowIds::new(listing.blob.as_str()), 0)
                .push(&bytes, true, &mut enc);
            for line in String::from_utf8(enc.out).unwrap().lines() {
                rows.insert(id_of(line), line.to_string());
            }
            ends.push((listing.blob, len - 2));
        }
        (rows, ends)
    }

    /// The container of the daemons' checkpoint store (ownership and checkpoint records).
    pub fn checkpoints_container(&self) -> String {
        self.table.replace("offsets", "checkpoints")
    }

    /// The daemons' checkpoint store as the SDK reads it (on Azurite, whatever proxies the
    /// daemons use).
    pub fn checkpoint_store(&self) -> std::sync::Arc<dyn azure_messaging_eventhubs::CheckpointStore + Send + Sync> {
        let container = self.checkpoints_container();
        flowlog::azure::feed::blob_checkpoint_store(
            &common::blob_endpoint(),
            &container,
            &StorageAuth::emulator(),
            None,
            &flowlog::azure::blob_clients::BlobTransport::new(),
        )
        .expect("checkpoint store client")
    }

    pub async fn offsets(&self) -> TableOffsetStore {
        TableOffsetStore::new(&common::table_endpoint(), &self.table, &StorageAuth::emulator()).unwrap()
    }
}

/// Offsets never past undelivered rows: every row of the records before each committed offset
/// (of blobs under `hour_prefix`) was delivered. Offsets are read first, rows after: rows only
/// grow, so a row missing here was missing when its offset was read.
pub async fn offsets_cover_only_delivered_rows(stack: &Stack, hour_prefix: &str) -> usize {
    use flowlog::pipeline::offset_store::OffsetStore;
    let offsets = stack.offsets().await;
    let store = common::blob_store(&[NSG, VNET], AzureBlobStoreOptions::default());
    let mut committed = Vec::new();
    for listing in store.list("").await.unwrap() {
        if listing.blob.as_str().contains(hour_prefix)
            && let Some((state, _)) = offsets.load(&listing.blob).await.unwrap()
        {
            committed.push((listing.blob, state.offset));
        }
    }
    let delivered: std::collections::HashSet<String> = stack.delivered().iter().map(|l| id_of(l)).collect();
    let mut covered = 0;
    for (blob, offset) in committed {
        let bytes = common::read_all(store.read_range(&blob, 0..offset).await.unwrap(), usize::MAX).await;
        let mut enc = flowlog::domain::row::ndjson::NdjsonEncoder::new();
        flowlog::domain::flatten::RangeFlattener::new(flowlog::domain::ids::RowIds::new(blob.as_str()), 0)
            .push(&bytes, false, &mut enc);
        for line in String::from_utf8(enc.out).unwrap().lines() {
            assert!(delivered.contains(&id_of(line)), "{blob}: offset {offset} is past undelivered row {line}");
            covered += 1;
        }
    }
    covered
}

pub fn id_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    v["id"].as_str().unwrap().to_string()
}

/// Nothing lost, nothing invented, duplicates identical; returns the number of duplicates.
pub fn check(expected: &HashMap<String, String>, delivered: &[String]) -> usize {
    let mut seen = HashMap::new();
    for line in delivered {
        let id = id_of(line);
        assert_eq!(expected.get(&id), Some(line), "row {id} unexpected or different");
        *seen.entry(id).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), expected.len(), "rows lost");
    delivered.len() - seen.len()
}

pub async fn wait_for_rows(stack: &Stack, expected: &HashMap<String, String>, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut seen_events = 0;
    loop {
        // Re-read only when the output hub received something new.
        let events = stack.output_events();
        if events == seen_events {
            assert!(start.elapsed() < limit, "no new output after {limit:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        seen_events = events;
        let rows = stack.delivered();
        let ids: std::collections::HashSet<String> = rows.iter().map(|l| id_of(l)).collect();
        if expected.keys().all(|k| ids.contains(k)) {
            return rows;
        }
        assert!(start.elapsed() < limit, "only {} of {} rows after {limit:?}", ids.len(), expected.len());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

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
fn log_tail(log: &std::path::Path) -> String {
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
