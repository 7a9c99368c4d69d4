//! The fault suite's harness: the stack behind fault-injecting proxies, backlogs in a month of
//! their own per scenario, a scenario run by a proxy fault or an emulator fault, and the verdict
//! after it (every row, offsets at the record-region ends, the daemon's `/metrics`).
use std::collections::HashMap;
use std::time::{Duration, Instant};

use flowlog::domain::blob_name::BlobName;
use flowlog::pipeline::offset_store::OffsetStore;

use crate::common;
use crate::fault_proxy::{Action, FaultProxy, Matcher};
use crate::stack::{
    Stack, assert_succeeds, check, exit_of, fresh_hour_in, http_get, id_of, signal, stack, wait_for, wait_for_rows,
};

/// How long a scenario may take to deliver everything once its fault has ended.
const RECOVERY: Duration = Duration::from_secs(60);
/// The same after an Event Hubs connection was lost: SDK 0.15 may report nothing (a pending send
/// or a receiver just waits), and the daemon's probe takes up to 10 s (15 s on the output hub)
/// to find the loss; it used to take 60 s (the call timeout) or forever.
const HUB_RECOVERY: Duration = Duration::from_secs(45);

pub struct Proxied {
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
    assert_succeeds(stack.simulate(&args), "simulate publishes the backlog").await;
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
pub struct Outcome {
    pub duplicates: usize,
    /// The daemon's `/metrics` once everything was delivered.
    metrics: String,
}

impl Outcome {
    /// Sum of the samples whose series starts with `series` (a name, or a name and labels).
    pub fn metric(&self, series: &str) -> f64 {
        self.metrics
            .lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The daemon's retries of every operation plus its offset commit failures.
    pub fn failures_seen(&self) -> f64 {
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
pub fn blob_reads() -> Matcher {
    Matcher { methods: vec!["GET", "HEAD"], path_contains: "/insights-logs-", ..Matcher::default() }
}

/// Offset writes (insert and replace), not table creation at start.
pub fn table_writes() -> Matcher {
    Matcher { methods: vec!["POST", "PUT", "MERGE", "PATCH"], path_excludes: vec!["/Tables"], ..Matcher::default() }
}

/// Every offset operation: loads and writes.
pub fn table_all() -> Matcher {
    Matcher { path_excludes: vec!["/Tables"], ..Matcher::default() }
}

#[derive(Clone, Copy)]
pub enum Target {
    Blob,
    Table,
}

/// A proxy fault: backlog, fault on, daemon, fault held `hold` after it first bites, fault off.
pub async fn proxy_scenario(
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

pub fn status(code: u16, retry_after: Option<u32>, error_code: &'static str) -> Action {
    Action::Status { code, retry_after, error_code }
}

pub const HOLD: Duration = Duration::from_secs(4);

/// An emulator fault while the daemon works through a backlog: `before` is applied before the
/// daemon starts, `during` once its first rows are out. A second backlog, published once the
/// fault is over (by a new `simulate`: the test's publisher is not what is under test), must
/// get through too: the daemon reconnected by itself.
pub async fn hub_scenario(
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
    assert_succeeds(daemon, &format!("{name}: the daemon stops cleanly after the fault")).await;
    outcome
}
