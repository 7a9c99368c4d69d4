//! The Azure daemon end to end, as separate `flowlog` processes against Azurite and the Event
//! Hubs emulator: two replicas with one killed by SIGKILL (the other takes over, nothing is lost,
//! duplicates are identical, offsets end at the record-region ends), a graceful SIGTERM stop
//! under load (exit 0 within the deadline, no re-sent rows after restart), and bad input of
//! every kind (counted, dead-lettered, the partition keeps flowing).
mod common;
#[path = "common/eventhubs.rs"]
mod hubs;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use azure_messaging_eventhubs::{OpenReceiverOptions, StartLocation, StartPosition};
use eventhubs_emulator::{EmulatorConfig, EmulatorHandle, HubConfig, NAMESPACE};
use flowlog::azure::StorageAuth;
use flowlog::azure::blob_store::AzureBlobStoreOptions;
use flowlog::azure::table::TableOffsetStore;
use flowlog::pipeline::blob_store::BlobStore;
use flowlog::pipeline::offset_store::OffsetStore;
use futures::StreamExt;
use hubs::{consumer, producer, send_to_partition, start_emulator};

const NSG: &str = "insights-logs-networksecuritygroupflowevent";
const VNET: &str = "insights-logs-flowlogflowevent";
const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A child process that is killed if the test ends (or fails) before waiting for it, so a
/// failing test leaves no daemon running.
struct Proc(Option<Child>);

impl Proc {
    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    fn kill(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Stack {
    emulator: EmulatorHandle,
    dir: tempfile::TempDir,
    table: String,
    dead_letters: String,
}

async fn stack() -> Stack {
    let emulator = start_emulator(EmulatorConfig::new(vec![
        HubConfig::new("input", 4).with_consumer_group("flowlog"),
        HubConfig::new("rows", 4).with_consumer_group("adx"),
    ]))
    .await;
    Stack {
        emulator,
        dir: tempfile::tempdir().unwrap(),
        table: common::unique_name("offsets"),
        dead_letters: common::unique_name("dead"),
    }
}

impl Stack {
    /// The daemon's configuration file (no secrets: those are in `env`).
    fn config(&self, name: &str, listen: u16) -> PathBuf {
        let blob = common::blob_endpoint().to_string();
        let table = common::table_endpoint().to_string();
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
account_url = "{blob}"
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
[dead_letter]
account_url = "{blob}"
container = "{dl}"
[engine]
flush_bytes = 65536
retry_min_delay_ms = 20
retry_max_delay_ms = 500
[server]
listen = "127.0.0.1:{listen}"
shutdown_deadline_secs = 10
"#,
            ep = self.emulator.endpoint(),
            cp = self.table.replace("offsets", "checkpoints"),
            tbl = self.table,
            dl = self.dead_letters,
        );
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `flowlog <subcommand> --config <config>` with the secrets in its environment.
    fn command(&self, subcommand: &[&str], config: &PathBuf) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flowlog"));
        c.args(subcommand).arg("--config").arg(config);
        for section in ["CHECKPOINTS", "OFFSETS", "SOURCES", "DEAD_LETTER"] {
            c.env(format!("FLOWLOG_{section}_ACCOUNT_KEY"), KEY);
        }
        c.env("FLOWLOG_INPUT_TOKEN", "t").env("FLOWLOG_OUTPUT_TOKEN", "t").env("RUST_LOG", "warn");
        c
    }

    async fn daemon(&self, name: &str) -> (Proc, u16) {
        let port = free_port();
        let config = self.config(name, port);
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let child = Proc(Some(self.command(&["run"], &config).stderr(log).stdout(Stdio::null()).spawn().unwrap()));
        let log = self.dir.path().join(format!("{name}.log"));
        let ready = tokio::time::timeout(Duration::from_secs(120), async {
            while http_get(port, "/readyz").0 != 200 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        if ready.await.is_err() {
            panic!("{name} not ready after 120 s; its log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        (child, port)
    }

    fn simulate(&self, args: &[&str]) -> Proc {
        let config = self.config("simulate", free_port());
        Proc(Some(self.command(&["simulate", "--azure"], &config).args(args).stderr(Stdio::null()).spawn().unwrap()))
    }

    /// Events accepted by the output hub so far (the emulator's counters).
    fn output_events(&self) -> u64 {
        self.emulator
            .control()
            .counters()
            .hubs
            .get("rows")
            .map_or(0, |h| h.partitions.values().map(|p| p.events_received).sum())
    }

    /// Every row in the output hub, in partition order. Reading is retried: the test's own
    /// short-lived clients are not what is under test.
    async fn delivered(&self) -> Vec<String> {
        let mut last = String::new();
        for attempt in 1..=12u64 {
            match tokio::time::timeout(Duration::from_secs(30), self.try_delivered()).await {
                Ok(Ok(lines)) => return lines,
                Ok(Err(e)) => last = e,
                Err(_) => last = "timed out".into(),
            }
            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
        }
        panic!("reading the output hub failed: {last}");
    }

    async fn try_delivered(&self) -> Result<Vec<String>, String> {
        let consumer = consumer(&self.emulator, "rows").await;
        let mut lines = Vec::new();
        for p in 0..4 {
            let props = consumer.get_partition_properties(&p.to_string()).await.map_err(|e| e.to_string())?;
            if props.is_empty {
                continue;
            }
            let n = (props.last_enqueued_sequence_number + 1) as usize;
            let options = OpenReceiverOptions {
                start_position: Some(StartPosition { location: StartLocation::Earliest, inclusive: false }),
                ..Default::default()
            };
            let receiver =
                consumer.open_receiver_on_partition(p.to_string(), Some(options)).await.map_err(|e| e.to_string())?;
            {
                let stream = receiver.stream_events();
                futures::pin_mut!(stream);
                for _ in 0..n {
                    let event = stream.next().await.ok_or("stream ended")?.map_err(|e| e.to_string())?;
                    let body = event.event_data().body().unwrap_or_default();
                    lines.extend(String::from_utf8_lossy(body).lines().map(str::to_string));
                }
            }
            let _ = receiver.close().await;
        }
        let _ = consumer.close().await;
        Ok(lines)
    }

    /// The rows every blob written under the given start hour must yield, by id.
    async fn expected(
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

    async fn offsets(&self) -> TableOffsetStore {
        TableOffsetStore::new(&common::table_endpoint(), &self.table, &StorageAuth::emulator()).unwrap()
    }
}

fn id_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    v["id"].as_str().unwrap().to_string()
}

/// Nothing lost, nothing invented, duplicates identical; returns the number of duplicates.
fn check(expected: &HashMap<String, String>, delivered: &[String]) -> usize {
    let mut seen = HashMap::new();
    for line in delivered {
        let id = id_of(line);
        assert_eq!(expected.get(&id), Some(line), "row {id} unexpected or different");
        *seen.entry(id).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), expected.len(), "rows lost");
    delivered.len() - seen.len()
}

async fn wait_for_rows(stack: &Stack, expected: &HashMap<String, String>, limit: Duration) -> Vec<String> {
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
        let rows = stack.delivered().await;
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
fn fresh_hour(month: u32) -> (String, String) {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let (day, hour) = (1 + n % 28, (n / 28) % 24);
    (format!("2026-{month:02}-{day:02}T{hour:02}:00:00Z"), format!("y=2026/m={month:02}/d={day:02}/h={hour:02}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(port: u16, path: &str) -> (u16, String) {
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
async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for a child process off the runtime's threads.
async fn exit_of(mut proc: Proc) -> std::process::ExitStatus {
    let mut child = proc.0.take().expect("not waited for yet");
    tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap()
}

fn signal(child: &Proc, sig: &str) {
    assert!(Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap().success());
}

fn metric(port: u16, name: &str) -> u64 {
    let (_, body) = http_get(port, "/metrics");
    body.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum::<f64>()
        as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_nothing_lost_offsets_at_region_ends() {
    let stack = stack().await;
    let (mut a, _) = stack.daemon("a").await;
    let (b, port_b) = stack.daemon("b").await;
    let (start, hour) = fresh_hour(3);
    let sim = stack.simulate(&[
        "--format",
        "mixed",
        "--blobs",
        "4",
        "--minutes",
        "8",
        "--tuples-per-minute",
        "30",
        "--seed",
        "11",
        "--start",
        &start,
        "--interval-ms",
        "400",
        "--duplicate-percent",
        "20",
        "--delay-percent",
        "20",
        "--reorder",
    ]);
    // Kill one replica while events are flowing: after the first rows reached the output hub.
    let counters = stack.emulator.control();
    wait_for("first rows", Duration::from_secs(60), || {
        counters.counters().hubs.get("rows").is_some_and(|h| h.partitions.values().any(|p| p.events_received > 0))
    })
    .await;
    a.kill();
    exit_of(a).await;
    assert!(exit_of(sim).await.success());
    let (expected, ends) = stack.expected(&hour).await;
    assert_eq!(expected.len(), 4 * 8 * 30);
    let rows = wait_for_rows(&stack, &expected, Duration::from_secs(90)).await;
    let dups = check(&expected, &rows);
    eprintln!("delivered {} rows for {} expected ({dups} duplicates)", rows.len(), expected.len());
    let offsets = stack.offsets().await;
    for (blob, end) in ends {
        let (state, _) = offsets.load(&blob).await.unwrap().expect("offset stored");
        assert_eq!(state.offset, end, "offset of {blob}");
    }
    assert!(metric(port_b, "flowlog_rows_sent_total") > 0, "the survivor delivered rows");
    signal(&b, "TERM");
    assert!(exit_of(b).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_zero_in_time_and_restart_resends_nothing() {
    let stack = stack().await;
    let (first, _) = stack.daemon("first").await;
    let (start, hour) = fresh_hour(4);
    let sim = stack.simulate(&[
        "--format",
        "vnet",
        "--blobs",
        "6",
        "--minutes",
        "10",
        "--tuples-per-minute",
        "200",
        "--seed",
        "12",
        "--start",
        &start,
    ]);
    let counters = stack.emulator.control();
    wait_for("rows flowing", Duration::from_secs(60), || {
        counters.counters().hubs.get("rows").is_some_and(|h| h.partitions.values().any(|p| p.events_received > 0))
    })
    .await;
    let stopped = Instant::now();
    signal(&first, "TERM");
    assert!(exit_of(first).await.success(), "graceful stop exits 0");
    assert!(stopped.elapsed() < Duration::from_secs(12), "within the 10 s deadline: {:?}", stopped.elapsed());
    assert!(exit_of(sim).await.success());
    let (second, _) = stack.daemon("second").await;
    let (expected, _) = stack.expected(&hour).await;
    let rows = wait_for_rows(&stack, &expected, Duration::from_secs(90)).await;
    assert_eq!(check(&expected, &rows), 0, "a graceful stop commits what it sent: nothing is re-sent");
    signal(&second, "TERM");
    assert!(exit_of(second).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_counted_and_dead_lettered_and_the_partition_keeps_flowing() {
    let stack = stack().await;
    let (daemon, port) = stack.daemon("bad").await;
    let blob = common::blob_endpoint().to_string();
    // A corrupted blob: a good record, garbage, another good record.
    let vnet = common::admin_container(VNET);
    let _ = vnet.create(None).await;
    let good = std::fs::read_to_string("samples/vnet.json").unwrap();
    let records: Vec<&str> =
        good.trim().trim_start_matches("{\"records\":[").trim_end_matches("]}").split("\n,").collect();
    let corrupt_path = format!("bad-{}/PT1H.json", common::unique_name("c"));
    let appender = flowlog::app::simulate::block_writer::BlockAppender::new(&vnet, &corrupt_path);
    appender.create(b"{\"records\":[", b"]}").await.unwrap();
    appender.append_before_tail(records[0].trim().as_bytes()).await.unwrap();
    appender
        .append_before_tail(
            b",{\"time\":\"2022-09-14T09:01:00Z\",\"flowLogVersion\":4,\"flowRecords\":{\"flows\":[{]}}",
        )
        .await
        .unwrap();
    let corrupt_len = appender.append_before_tail(format!(",{}", records[1].trim()).as_bytes()).await.unwrap();
    let good_path = format!("good-{}/PT1H.json", common::unique_name("g"));
    let appender = flowlog::app::simulate::block_writer::BlockAppender::new(&vnet, &good_path);
    appender.create(b"{\"records\":[", b"]}").await.unwrap();
    let good_len = appender.append_before_tail(records[0].trim().as_bytes()).await.unwrap();

    let producer = producer(&stack.emulator, "input").await;
    let event = |url: String, len: u64| serde_json::to_vec(&vec![hubs::blob_created(&url, len)]).unwrap();
    // All on one partition, in order: the good blob comes last and must still be processed.
    for body in [
        b"this is not JSON".to_vec(),
        event("https://evil.blob.core.windows.net/insights-logs-flowlogflowevent/x/PT1H.json".into(), 100),
        event(format!("{blob}/{VNET}/missing-{}/PT1H.json", common::unique_name("m")), 100),
        event(format!("{blob}/{VNET}/{corrupt_path}"), corrupt_len),
        event(format!("{blob}/{VNET}/{good_path}"), good_len),
    ] {
        send_to_partition(&producer, "1", body).await;
    }
    // 5 rows of the good blob's record and 5 + 3 of the corrupted blob's two good records.
    let start = Instant::now();
    loop {
        let rows = if stack.output_events() > 0 { stack.delivered().await } else { Vec::new() };
        if rows.len() >= 13 {
            assert_eq!(rows.len(), 13, "no row lost or invented");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "rows after bad input: {}", rows.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(metric(port, "flowlog_events_total{outcome=\"invalid\"}"), 2, "malformed and foreign events");
    assert_eq!(metric(port, "flowlog_dead_letters_total{kind=\"event\"}"), 2);
    assert_eq!(metric(port, "flowlog_dead_letters_total{kind=\"blob\"}"), 1, "the 404");
    assert_eq!(metric(port, "flowlog_dead_letters_total{kind=\"record\"}"), 1, "the garbage record");
    let dl = common::admin_container(&stack.dead_letters);
    let mut pager = dl.list_blobs(None).unwrap();
    let mut documents = 0;
    while let Some(item) = pager.next().await {
        item.unwrap();
        documents += 1;
    }
    assert_eq!(documents, 4, "one dead-letter document per failure");
    signal(&daemon, "TERM");
    assert!(exit_of(daemon).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_hubs_gone_still_exits_within_the_deadline() {
    let stack = stack().await;
    let (daemon, port) = stack.daemon("lonely").await;
    let Stack { emulator, dir: _dir, .. } = stack;
    // Both hubs (and the checkpoint store's partner, the processor) stop answering: every
    // shutdown step (in-flight work, ownership release, closing connections) must give up at
    // the deadline instead of waiting for its own 60 s timeout.
    emulator.shutdown().await;
    assert_eq!(http_get(port, "/healthz").0, 200, "the daemon outlives its hubs");
    let stopped = Instant::now();
    signal(&daemon, "TERM");
    let status = exit_of(daemon).await;
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(13), "shutdown_deadline_secs is 10; took {took:?}");
    assert!(status.code().is_some(), "exited by itself, not killed: {status:?}");
}
