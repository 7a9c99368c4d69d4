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
#[path = "common/fault_scenarios.rs"]
mod scenarios;
#[path = "common/azure_stack.rs"]
mod stack;

use std::time::Duration;

use fault_proxy::Action;
use scenarios::{HOLD, Target, blob_reads, hub_scenario, proxy_scenario, status, table_all, table_writes};

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
