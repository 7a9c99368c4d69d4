//! The Azure daemon end to end with `output.kind = "log_analytics"`: the shape of the Event Hubs
//! end-to-end test (events duplicated, delayed and shuffled on the input hub, offsets in Azurite
//! Table, two replicas with one killed by SIGKILL), rows going to the fake Logs Ingestion API
//! through a schedule of 429s, 413s, 5xx and a silent call: every row delivered, duplicates
//! identical, offsets never past undelivered rows and at the record-region ends at last.
mod common;
#[path = "common/eventhubs.rs"]
mod hubs;
#[path = "common/azure_stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use eventhubs_emulator::logs_ingestion::{Fault, LogsIngestion, LogsIngestionConfig};
use flowlog::pipeline::offset_store::OffsetStore;
use stack::{
    assert_succeeds, check, exit_of, fresh_hour_in, metric, offsets_cover_only_delivered_rows, signal, stack, wait_for,
    wait_for_rows,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_analytics_output_through_throttling_splits_5xx_and_a_killed_replica_loses_nothing() {
    let started = Instant::now();
    let mut stack = stack().await;
    let fake = LogsIngestion::start(LogsIngestionConfig::default(), "127.0.0.1:0").await.unwrap();
    for round in 0..3 {
        fake.schedule(Fault::Throttle { retry_after: "1".into() }, 1);
        fake.schedule(Fault::TooLarge, 1);
        fake.schedule(Fault::ServerError(503), 1);
        fake.schedule(Fault::ServerError(500), 1);
        if round == 1 {
            fake.schedule(Fault::Silence, 1);
        }
    }
    let faults = fake.faults_left();
    // Both flow-log containers exist from the start (flow logging creates them with its first
    // log), so that offsets can be checked against them at any time.
    for c in [stack::NSG, stack::VNET] {
        let _ = common::admin_container(c).create(None).await;
    }
    stack.logs = Some(fake);
    let (mut a, _) = stack.daemon("a").await;
    let (b, port_b) = stack.daemon("b").await;
    let (start, hour) = fresh_hour_in(2027, 5);
    let sim = stack.simulate_shuffled(4, 8, 30, 21, &start, 400);
    // Kill one replica while rows are flowing, after some offsets were committed.
    wait_for("a third of the rows", Duration::from_secs(90), || stack.delivered().len() >= 320).await;
    a.kill();
    exit_of(a).await;
    let covered = offsets_cover_only_delivered_rows(&stack, &hour).await;
    assert!(covered > 0, "offsets were committed before the kill");
    assert_succeeds(sim, "simulate publishes its traffic").await;
    let (expected, ends) = stack.expected(&hour).await;
    assert_eq!(expected.len(), 4 * 8 * 30);
    let rows = wait_for_rows(&stack, &expected, Duration::from_secs(120)).await;
    let dups = check(&expected, &rows);
    let offsets = stack.offsets().await;
    for (blob, end) in ends {
        let (state, _) = offsets.load(&blob).await.unwrap().expect("offset stored");
        assert_eq!(state.offset, end, "offset of {blob}");
    }
    assert_eq!(offsets_cover_only_delivered_rows(&stack, &hour).await, expected.len());
    let fake = stack.logs.as_ref().unwrap();
    assert_eq!(fake.faults_left(), 0, "every scheduled fault was met");
    let calls = fake.calls();
    let statuses = |s: u16| calls.iter().filter(|c| c.status == s).count();
    assert_eq!((statuses(429), statuses(413), statuses(503) + statuses(500)), (3, 3, 6));
    assert!(metric(port_b, "flowlog_rows_sent_total") > 0, "the survivor delivered rows");
    let accepted: Vec<_> = calls.iter().filter(|c| c.status == 204).collect();
    eprintln!(
        "{} rows expected, {} delivered ({dups} duplicates) in {} accepted calls of {} ({} scheduled faults); \
         {} rows/call, {} bytes/call (gzip); {covered} rows under offsets at the kill; {:?}",
        expected.len(),
        rows.len(),
        accepted.len(),
        calls.len(),
        faults,
        accepted.iter().map(|c| c.rows).sum::<usize>() / accepted.len().max(1),
        accepted.iter().map(|c| c.bytes).sum::<usize>() / accepted.len().max(1),
        started.elapsed()
    );
    signal(&b, "TERM");
    assert_succeeds(b, "the daemon stops cleanly").await;
}
