//! Group commit on the in-memory seams: rows of several blobs in one event, a blob's rows in
//! several events, and a failure between a shared event's acknowledgement and the offset commits.
use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::tests::{NSG, TestEngine, engine_with};
use super::*;
use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::memory::MemoryBlobStore;
use crate::pipeline::change_feed::memory::MemoryFeed;
use crate::pipeline::change_feed::{BlobChanged, EventBody, FeedEvent, FeedPosition};
use crate::pipeline::error::ErrorKind;
use crate::pipeline::metrics::FlushReason;
use crate::pipeline::offset_store::memory::MemoryOffsetStore;
use crate::pipeline::row_sink::memory::MemoryRowSink;

/// `n` blobs holding the six-row sample, and an engine with `sink`.
fn setup(n: usize, sink: MemoryRowSink) -> (TestEngine, Vec<FeedEvent>) {
    let blobs = MemoryBlobStore::new();
    let mut events = Vec::new();
    for i in 0..n {
        let name = BlobName::new(format!("a/c/b{i}/PT1H.json"));
        blobs.put(&name, NSG.as_bytes().to_vec(), Some(1));
        events.push(FeedEvent {
            position: FeedPosition { sequence: i as i64, event_offset: i.to_string() },
            body: EventBody::Changed(BlobChanged {
                blob: name,
                content_length: NSG.len() as u64,
                sequencer: None,
                etag: None,
                enqueued_ms: None,
            }),
        });
    }
    let cfg = EngineConfig { retry: RetryPolicy::fast(), ..EngineConfig::default() };
    (engine_with(Arc::new(blobs), Arc::new(sink), cfg), events)
}

fn all_committed(e: &TestEngine, n: usize) -> bool {
    (0..n).all(|i| {
        e.offsets.get(&BlobName::new(format!("a/c/b{i}/PT1H.json"))).map(|s| s.offset as usize) == Some(NSG.len() - 4)
    })
}

#[tokio::test]
async fn rows_of_several_blobs_share_one_event_and_each_blob_commits_its_offset() {
    let (e, events) = setup(5, MemoryRowSink::new());
    let (feed, acks) = MemoryFeed::new(vec![events]);
    e.run(feed, CancellationToken::new()).await.unwrap();
    assert_eq!(e.sink.batches(), 1, "one event for the rows of five blobs");
    assert_eq!(e.sink.lines().len(), 30);
    assert!(all_committed(&e, 5));
    assert_eq!(acks[0].lock().unwrap().last().map(|p| p.sequence), Some(4));
    assert_eq!(e.metrics.output.events.get(), 1);
    // Nobody was left to add rows once the five had read: sent without waiting out the linger.
    assert_eq!(e.metrics.output.flushes_count(FlushReason::Idle), 1);
    assert_eq!(e.metrics.output.flushes_count(FlushReason::Linger), 0);
}

#[tokio::test]
async fn a_blob_whose_rows_span_several_events_commits_once_all_are_accepted() {
    // About two rows per event: the sample's six rows of each blob go out in several events.
    let (e, events) = setup(2, MemoryRowSink::with_segment_bytes(2500));
    let (feed, _) = MemoryFeed::new(vec![events]);
    e.run(feed, CancellationToken::new()).await.unwrap();
    let batches = e.sink.batch_lines();
    assert!(batches.len() >= 4, "{} events", batches.len());
    assert!(batches.iter().all(|b| b.iter().map(String::len).sum::<usize>() <= 2500));
    assert_eq!(e.sink.lines().len(), 12);
    assert!(all_committed(&e, 2));
}

#[tokio::test]
async fn a_failure_after_the_shared_event_is_accepted_resends_that_event_only_with_identical_rows() {
    let (e, events) = setup(3, MemoryRowSink::new());
    // Every offset commit after the shared event's acknowledgement fails: a bounded run stops.
    e.offsets.fail_saves(1000);
    let (feed, acks) = MemoryFeed::new(vec![events.clone()]);
    let err = e.run(feed, CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::CommitFailed, "{err}");
    assert!(acks[0].lock().unwrap().is_empty(), "the batch is not acknowledged");
    assert_eq!(e.sink.batches(), 1, "the delivered event is not sent again by retries");
    e.offsets.fail_saves(0);
    let (feed, _) = MemoryFeed::new(vec![events]);
    e.run(feed, CancellationToken::new()).await.unwrap();
    // The duplicate bound: the one event whose offsets were not committed, sent once more, row for row the same.
    let batches = e.sink.batch_lines();
    assert_eq!(batches.len(), 2);
    let count = |b: &Vec<String>| {
        b.iter().fold(HashMap::new(), |mut m, l| {
            *m.entry(l.clone()).or_insert(0) += 1;
            m
        })
    };
    assert_eq!(count(&batches[0]), count(&batches[1]));
    assert_eq!(batches[0].len(), 18);
    assert!(all_committed(&e, 3));
}

/// A sink that takes a while to acknowledge, so later batches run while rows are in flight.
struct SlowSink(MemoryRowSink);

impl crate::pipeline::row_sink::RowSink for SlowSink {
    async fn send(&self, batch: crate::pipeline::row_sink::RowBatch<'_>) -> crate::pipeline::error::ServiceResult<()> {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        self.0.send(batch).await
    }
}

#[tokio::test]
async fn a_blob_in_a_later_batch_waits_for_the_earlier_batch_naming_it() {
    let (e, events) = setup(2, MemoryRowSink::new());
    let cfg = EngineConfig { max_batch_events: 1, ..e.cfg.clone() };
    let e = engine_with(e.blobs.clone(), Arc::new(SlowSink(MemoryRowSink::new())), cfg);
    // One event per batch, three batches at once: a, b, a, b. Were the second `a` processed
    // while the first one's rows are in flight, it would load the same offset and send them again.
    let order: Vec<FeedEvent> = [0usize, 1, 0, 1]
        .into_iter()
        .enumerate()
        .map(|(n, i)| FeedEvent {
            position: FeedPosition { sequence: n as i64, event_offset: n.to_string() },
            body: events[i].body.clone(),
        })
        .collect();
    let (feed, acks) = MemoryFeed::new(vec![order]);
    e.run(feed, CancellationToken::new()).await.unwrap();
    let lines = e.sink.0.lines();
    assert_eq!(lines.len(), 12, "each blob's six rows once");
    assert_eq!(e.metrics.duplicate_rows.get(), 0);
    let acked: Vec<i64> = acks[0].lock().unwrap().iter().map(|p| p.sequence).collect();
    assert_eq!(acked.last(), Some(&3), "acknowledged in order up to the last batch: {acked:?}");
    assert!(acked.windows(2).all(|w| w[0] < w[1]), "{acked:?}");
    assert!(all_committed_with(&e.offsets, 2));
}

fn all_committed_with(offsets: &MemoryOffsetStore, n: usize) -> bool {
    (0..n).all(|i| {
        offsets.get(&BlobName::new(format!("a/c/b{i}/PT1H.json"))).map(|s| s.offset as usize) == Some(NSG.len() - 4)
    })
}

fn sem() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(1))
}

#[tokio::test(start_paused = true)]
async fn rows_of_a_backlog_linger_longer_than_fresh_rows() {
    for (behind, lingered) in [(false, 100), (true, 1000)] {
        let (e, _) = setup(0, MemoryRowSink::new());
        // Another blob still reading: the event never goes idle, so only the linger sends it.
        let _reading = e.packer.busy();
        let slot = read_slot::Slot::new([sem(), sem()], e.packer.busy(), behind);
        let blob = BlobName::new("a/c/x/PT1H.json");
        let start = tokio::time::Instant::now();
        let rows = vec![bytes::Bytes::from_static(b"{}\n")];
        read_slot::scoped(slot, e.send_rows(&blob, rows, false)).await.unwrap();
        assert_eq!(start.elapsed(), std::time::Duration::from_millis(lingered), "behind: {behind}");
        assert_eq!(e.metrics.output.flushes_count(FlushReason::Linger), 1);
        assert_eq!(e.sink.lines().len(), 1);
    }
}

#[test]
fn events_enqueued_longer_ago_than_the_backlog_linger_are_a_backlog() {
    let (e, _) = setup(0, MemoryRowSink::new());
    let now = e.now_ms();
    assert!(e.behind(Some(now - 5_000)));
    assert!(!e.behind(Some(now - 10)));
    assert!(!e.behind(None), "no enqueued time (local mode): not a backlog");
    let off = engine_with(
        e.blobs.clone(),
        e.sink.clone(),
        EngineConfig { backlog_linger: std::time::Duration::ZERO, ..e.cfg.clone() },
    );
    assert!(!off.behind(Some(now - 5_000)), "backlog_linger 0 turns it off");
}
