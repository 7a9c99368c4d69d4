//! The Azure daemon under failing dependencies: Blob and Table behind a
//! fault-injecting proxy (5xx with `Retry-After`, 403, silence, resets, slow bodies), and the
//! Event Hubs emulator's own faults (server-busy, dropped connections, detached receivers).
//!
//! Each scenario publishes a backlog, runs the daemon while the fault is on for a few seconds,
//! ends it, and checks: every expected row delivered, duplicates identical and at most one
//! extra copy per row (one flush per blob in flight, not one per retry), offsets at the
//! record-region ends without help (no new event, no backfill), and the fault in `/metrics`.
//! The figures each scenario prints (`FAULT|...`) feed the table in tests/README.md.
mod common;
#[path = "common/fault_proxy.rs"]
mod fault_proxy;
#[path = "common/eventhubs.rs"]
mod hubs;
#[path = "common/azure_stack.rs"]
mod stack;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fault_proxy::{Action, FaultProxy, Matcher};
use flowlog::domain::blob_name::BlobName;
use flowlog::pipeline::offset_store::OffsetStore;
use stack::{Stack, check, exit_of, fresh_hour_in, http_get, id_of, signal, stack, wait_for, wait_for_rows};

/// How long a scenario may take to deliver everything once its fault has ended.
const RECOVERY: Duration = Duration::from_secs(60);
/// The same after an Event Hubs connection was lost: SDK 0.15 may report nothing (a pending send
/// or a receiver just waits), and the daemon's probe takes up to 10 s (15 s on the output hub)
/// to find the loss; it used to take 60 s (the call timeout) or forever.
const HUB_RECOVERY: Duration = Duration::from_secs(45);

struct Proxied {
    stack: Stack,
    blob: FaultProxy,
    table: FaultProxy,
}

/// A stack whose daemons retry marked blobs within seconds, not the default half minute, and
/// give up on a silent storage call after 2 s instead of 30.
async fn fault_stack() -> Stack {
    let mut stack = stack().await;
    stack.engine_extra =
        "pending_interval_secs = 1\npending_min_delay_secs = 1\npending_max_delay_secs = 2\ncall_timeout_secs = 2"
            .into();
    stack
}

async fn proxied() -> Proxied {
    let mut stack = fault_stack().await;
    let blob = FaultProxy::start(&common::blob_endpoint().to_string()).await;
    let table = FaultProxy::start(&common::table_endpoint().to_string()).await;
    stack.blob_url = blob.url().to_string();
    stack.table_url = table.url().to_string();
    Proxied { stack, blob, table }
}

/// Publishes a backlog (through the proxies, before any fault) and returns the rows it must
/// yield and each blob's final offset.
async fn backlog(stack: &Stack, slot: u32, blobs: usize) -> (HashMap<String, String>, Vec<(BlobName, u64)>) {
    let (start, hour) = hour_of(slot);
    let (seed, blobs_arg) = (slot.to_string(), blobs.to_string());
    let args = [
        "--format",
        "mixed",
        "--blobs",
        &blobs_arg,
        "--minutes",
        "4",
        "--tuples-per-minute",
        "30",
        "--seed",
        &seed,
        "--start",
        &start,
    ];
    assert!(exit_of(stack.simulate(&args)).await.success(), "simulate publishes the backlog");
    let (expected, ends) = stack.expected(&hour).await;
    assert_eq!(expected.len(), blobs * 4 * 30);
    (expected, ends)
}

/// A name usable in file names.
fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// A fresh start hour in a month of its own per scenario (`slot`), so that concurrent scenarios
/// never append to each other's blobs.
fn hour_of(slot: u32) -> (String, String) {
    fresh_hour_in(2027 + slot / 12, 1 + slot % 12)
}

/// What a scenario measured.
struct Outcome {
    duplicates: usize,
    /// The daemon's `/metrics` once everything was delivered.
    metrics: String,
}

impl Outcome {
    /// Sum of the samples whose series starts with `series` (a name, or a name and labels).
    fn metric(&self, series: &str) -> f64 {
        self.metrics
            .lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The daemon's retries of every operation plus its offset commit failures.
    fn failures_seen(&self) -> f64 {
        self.metric("flowlog_retries_total") + self.metric("flowlog_offset_commit_failures_total")
    }
}

/// After the fault: every row delivered (duplicates identical, at most two copies of any row)
/// and every offset at its blob's record-region end, within `limit` of `fault_end`.
async fn recovered(
    name: &str,
    stack: &Stack,
    expected: &HashMap<String, String>,
    ends: &[(BlobName, u64)],
    fault_end: Instant,
    port: u16,
    limit: Duration,
) -> Outcome {
    wait_for_rows(stack, expected, limit).await;
    let offsets = stack.offsets().await;
    for (blob, end) in ends {
        let start = Instant::now();
        loop {
            let stored = offsets.load(blob).await.unwrap().map(|(s, _)| s.offset);
            if stored == Some(*end) {
                break;
            }
            assert!(
                start.elapsed() < RECOVERY,
                "{name}: offset of {blob} is {stored:?}, not {end}, {RECOVERY:?} after the fault"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let recovery = fault_end.elapsed();
    // Re-read: rows sent while the offsets were being waited for count too.
    let rows = stack.delivered();
    let duplicates = check(expected, &rows);
    let mut copies: HashMap<String, usize> = HashMap::new();
    for line in &rows {
        *copies.entry(id_of(line)).or_default() += 1;
    }
    let max = copies.values().copied().max().unwrap_or(0);
    eprintln!(
        "FAULT|{name}|expected {}|lost 0|duplicates {duplicates}|max copies {max}|recovery {:.1} s",
        expected.len(),
        recovery.as_secs_f64()
    );
    assert!(max <= 2, "{name}: a row was delivered {max} times: retries re-sent delivered rows");
    let metrics = http_get(port, "/metrics").1;
    Outcome { duplicates, metrics }
}

/// Source reads (GET of the flow-log containers); nothing the daemon does at start.
fn blob_reads() -> Matcher {
    Matcher { methods: vec!["GET", "HEAD"], path_contains: "/insights-logs-", ..Matcher::default() }
}

/// Offset writes (insert and replace), not table creation at start.
fn table_writes() -> Matcher {
    Matcher { methods: vec!["POST", "PUT", "MERGE", "PATCH"], path_excludes: vec!["/Tables"], ..Matcher::default() }
}

/// Every offset operation: loads and writes.
fn table_all() -> Matcher {
    Matcher { path_excludes: vec!["/Tables"], ..Matcher::default() }
}

#[derive(Clone, Copy)]
enum Target {
    Blob,
    Table,
}

/// A proxy fault: backlog, fault on, daemon, fault held `hold` after it first bites, fault off.
async fn proxy_scenario(
    name: &str,
    slot: u32,
    target: Target,
    matcher: Matcher,
    action: Action,
    hold: Duration,
) -> (Proxied, Outcome) {
    let p = proxied().await;
    let (expected, ends) = backlog(&p.stack, slot, 3).await;
    let proxy = match target {
        Target::Blob => &p.blob,
        Target::Table => &p.table,
    };
    proxy.set(matcher, action);
    let (daemon, port) = p.stack.daemon(&slug(name)).await;
    wait_for("the fault to bite", RECOVERY, || proxy.faulted() > 0).await;
    // The fault's duration (not a synchronisation): the daemon keeps meeting it meanwhile.
    tokio::time::sleep(hold).await;
    proxy.clear();
    let fault_end = Instant::now();
    let faulted = proxy.faulted();
    let outcome = recovered(name, &p.stack, &expected, &ends, fault_end, port, RECOVERY).await;
    eprintln!("FAULT|{name}|requests faulted {faulted} of {}", proxy.seen());
    signal(&daemon, "TERM");
    let status = exit_of(daemon).await;
    let log = std::fs::read_to_string(p.stack.dir.path().join(format!("{}.log", slug(name)))).unwrap_or_default();
    assert!(status.success(), "{name}: the daemon stops cleanly after the fault ({status}); its log:\n{log}");
    (p, outcome)
}

fn status(code: u16, retry_after: Option<u32>, error_code: &'static str) -> Action {
    Action::Status { code, retry_after, error_code }
}

const HOLD: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_503_with_retry_after() {
    let (_p, o) = proxy_scenario(
        "blob 503 Retry-After 1",
        1,
        Target::Blob,
        blob_reads(),
        status(503, Some(1), "ServerBusy"),
        HOLD,
    )
    .await;
    assert_eq!(o.duplicates, 0, "retried before anything was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_500() {
    let (_p, o) =
        proxy_scenario("blob 500", 2, Target::Blob, blob_reads(), status(500, None, "InternalError"), HOLD).await;
    assert_eq!(o.duplicates, 0, "retried before anything was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_connection_resets() {
    let (_p, o) = proxy_scenario("blob reset", 3, Target::Blob, blob_reads(), Action::Reset, HOLD).await;
    assert_eq!(o.duplicates, 0, "retried before anything was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_slow_bodies() {
    let slow = Action::Slow { bytes: 512, every: Duration::from_millis(50) };
    let (_p, o) = proxy_scenario("blob slow body 10 KB/s", 4, Target::Blob, blob_reads(), slow, HOLD).await;
    assert_eq!(o.duplicates, 0, "slow reads are not failures: nothing is re-sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_403_then_healed() {
    let (_p, o) =
        proxy_scenario("blob 403", 5, Target::Blob, blob_reads(), status(403, None, "AuthenticationFailed"), HOLD)
            .await;
    assert!(o.metric("flowlog_pending_retries_total") > 0.0, "the sweep retried the marked blobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_silence() {
    let (_p, o) = proxy_scenario("blob no answer", 6, Target::Blob, blob_reads(), Action::Hang, HOLD).await;
    assert!(o.metric("flowlog_retries_total{operation=\"blob\"}") > 0.0, "the timed-out reads are retried and counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_503_on_offset_writes() {
    let (_p, o) = proxy_scenario(
        "table writes 503 Retry-After 1",
        7,
        Target::Table,
        table_writes(),
        status(503, Some(1), "ServerBusy"),
        HOLD,
    )
    .await;
    assert_eq!(o.duplicates, 0, "retried before anything was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_500_on_every_offset_call() {
    let (_p, o) =
        proxy_scenario("table all 500", 8, Target::Table, table_all(), status(500, None, "InternalError"), HOLD).await;
    assert_eq!(o.duplicates, 0, "retried before anything was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_resets_on_offset_writes() {
    let (_p, o) = proxy_scenario("table writes reset", 9, Target::Table, table_writes(), Action::Reset, HOLD).await;
    assert_eq!(o.duplicates, 0, "retried before anything was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_403_on_offset_writes() {
    let (_p, o) = proxy_scenario(
        "table writes 403",
        10,
        Target::Table,
        table_writes(),
        status(403, None, "AuthenticationFailed"),
        HOLD,
    )
    .await;
    assert!(o.metric("flowlog_offset_commit_failures_total") > 0.0, "commit failures are counted");
    assert_eq!(o.duplicates, 0, "the commit is retried alone: nothing re-sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_silence_on_offset_writes() {
    let (_p, o) = proxy_scenario("table writes no answer", 11, Target::Table, table_writes(), Action::Hang, HOLD).await;
    assert!(o.failures_seen() > 0.0);
}

/// Short 5xx and resets are absorbed by the storage SDKs' own retries (up to 60 s), which no
/// flowlog code sees: the adapters' per-try pipeline policies count every try's outcome, so an
/// operator sees the refused tries in `flowlog_storage_responses_total` while nothing fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_storage_faults_are_visible_in_metrics() {
    let (_p, o) = proxy_scenario(
        "table writes 503 (metrics)",
        12,
        Target::Table,
        table_writes(),
        status(503, Some(1), "ServerBusy"),
        HOLD,
    )
    .await;
    let refused = o.metric(r#"flowlog_storage_responses_total{service="table",status="5xx"}"#);
    assert!(refused > 0.0, "a 4 s storage outage leaves a trace in /metrics");
    let writes = o.metric(r#"flowlog_storage_requests_total{service="table",operation="put_offset"}"#)
        + o.metric(r#"flowlog_storage_requests_total{service="table",operation="insert_offset"}"#);
    assert!(writes > refused, "every try is counted, the refused ones and the ones that succeeded");
}

/// An emulator fault while the daemon works through a backlog: `before` is applied before the
/// daemon starts, `during` once its first rows are out. A second backlog, published once the
/// fault is over (by a new `simulate`: the test's publisher is not what is under test), must
/// get through too: the daemon reconnected by itself.
async fn hub_scenario(
    name: &str,
    slot: u32,
    before: impl FnOnce(&eventhubs_emulator::Control),
    during: impl FnOnce(&eventhubs_emulator::Control) -> Duration,
) -> Outcome {
    let stack = fault_stack().await;
    let (mut expected, mut ends) = backlog(&stack, slot, 6).await;
    let control = stack.emulator.control();
    before(&control);
    let (daemon, port) = stack.daemon(&slug(name)).await;
    wait_for("first rows", RECOVERY, || stack.output_events() > 0).await;
    let hold = during(&control);
    tokio::time::sleep(hold).await;
    control.clear_faults();
    let fault_end = Instant::now();
    let (more, more_ends) = backlog(&stack, slot + 200, 3).await;
    expected.extend(more);
    ends.extend(more_ends);
    let outcome = recovered(name, &stack, &expected, &ends, fault_end, port, HUB_RECOVERY).await;
    signal(&daemon, "TERM");
    assert!(exit_of(daemon).await.success(), "{name}: the daemon stops cleanly after the fault");
    outcome
}

/// Server-busy is retried inside the Event Hubs SDK: no flowlog metric moves (see
/// `short_storage_faults_are_visible_in_metrics` for the same gap on Storage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_server_busy() {
    let busy = Duration::from_secs(3);
    let rejected = std::sync::Arc::new(std::sync::Mutex::new(0));
    let seen = rejected.clone();
    let o = hub_scenario(
        "hubs server-busy 3 s",
        13,
        |c| c.server_busy_for(busy),
        move |c| {
            *seen.lock().unwrap() = c.counters().hubs.get("rows").map_or(0, |h| h.rejected_sends);
            busy
        },
    )
    .await;
    assert!(*rejected.lock().unwrap() > 0, "the output hub refused sends while busy");
    assert_eq!(o.duplicates, 0, "a refused send stored nothing: nothing to re-send");
}

/// Before the probes: the send on the dropped connection got no answer and was abandoned by the
/// 60 s call timeout although the hub stored it, and each blob retry sent it again (up to 3
/// copies of a row); in other runs the change-feed receivers failed "Connection dropped" every
/// 30 s and the second backlog was not read within 90 s. Now the loss is found within seconds,
/// the flush in flight is sent again once on a new connection (at most two copies, checked by
/// `recovered`), and the receivers resume on a new connection after their last event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_connections_dropped() {
    let o = hub_scenario(
        "hubs connections dropped",
        14,
        |_| {},
        |c| {
            c.drop_connections();
            Duration::ZERO
        },
    )
    .await;
    assert!(o.metric("flowlog_retries_total{operation=\"connect\"}") > 0.0, "the reconnections are counted");
}

/// An ambiguous send: the output hub stores the rows but its acknowledgements are held back, and
/// the connections are dropped while sends wait for them. SDK 0.15 never answers those sends.
/// Before the probes they were abandoned by the 60 s call timeout (recovery past this test's
/// limit, and a copy per blob retry); now the lost connection is found within seconds and each
/// flush in flight is sent once more on a new connection: at most two copies of a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_connections_dropped_with_sends_unanswered() {
    let o = hub_scenario(
        "hubs dropped, sends unanswered",
        17,
        |c| c.delay_acks(Duration::from_secs(3)),
        |c| {
            // The first rows are stored and their acknowledgements are still held back.
            c.drop_connections();
            Duration::ZERO
        },
    )
    .await;
    assert!(o.duplicates > 0, "the unanswered sends had stored their rows: the flushes sent again are duplicates");
    assert!(o.metric("flowlog_retries_total{operation=\"connect\"}") > 0.0, "the reconnection is counted");
}

/// Before the probes: after a TCP reset while new connections are refused for 2 s, the input
/// receivers waited without an error for 90 s (SDK 0.15 reports nothing and never reconnects),
/// and the second backlog was not read within 90 s. Now a probe of each connection finds the
/// loss and the daemon reconnects, with backoff while connections are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_connections_reset_and_refused() {
    let o = hub_scenario(
        "hubs reset + refused 2 s",
        15,
        |_| {},
        |c| {
            c.refuse_connections(Duration::from_secs(2));
            c.reset_connections();
            Duration::from_secs(2)
        },
    )
    .await;
    assert!(o.metric("flowlog_retries_total{operation=\"connect\"}") > 0.0, "the reconnections are counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_receivers_detached() {
    let o = hub_scenario(
        "hubs receivers detached",
        16,
        |_| {},
        |c| {
            c.detach_receivers();
            Duration::ZERO
        },
    )
    .await;
    assert_eq!(o.duplicates, 0, "re-delivered events find their offsets committed: nothing re-sent");
}
