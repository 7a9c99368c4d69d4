//! Engine behaviour on the in-memory seams: commit order, coalescing, retries, dead letters.
use crate::pipeline::metrics::{BlobResult, EventOutcome, RetryOp};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::memory::MemoryBlobStore;
use crate::pipeline::change_feed::memory::MemoryFeed;
use crate::pipeline::change_feed::{BlobChanged, EventBody, FeedEvent, FeedPosition};
use crate::pipeline::dead_letter::DeadLetterKind;
use crate::pipeline::dead_letter::memory::MemoryDeadLetters;
use crate::pipeline::offset_store::memory::MemoryOffsetStore;
use crate::pipeline::row_sink::memory::MemoryRowSink;

pub(super) type TestEngine = Engine<MemoryBlobStore, MemoryOffsetStore, MemoryRowSink, MemoryDeadLetters>;

pub(super) const NSG: &str = include_str!("../../../samples/nsg_v2.json");

pub(super) fn engine(blobs: MemoryBlobStore) -> TestEngine {
    let cfg = EngineConfig { retry: RetryPolicy::fast(), ..EngineConfig::default() };
    engine_with(Arc::new(blobs), Arc::new(MemoryRowSink::new()), cfg)
}

/// An engine on `blobs` with `sink` and `cfg`, and empty offsets and dead letters.
pub(super) fn engine_with<S: crate::pipeline::row_sink::RowSink>(
    blobs: Arc<MemoryBlobStore>,
    sink: Arc<S>,
    cfg: EngineConfig,
) -> Engine<MemoryBlobStore, MemoryOffsetStore, S, MemoryDeadLetters> {
    Engine::new(blobs, Arc::new(MemoryOffsetStore::new()), sink, Arc::new(MemoryDeadLetters::new()), cfg)
}

pub(super) fn changed(seq: i64, blob: &str, len: usize) -> FeedEvent {
    FeedEvent {
        position: FeedPosition { sequence: seq, event_offset: seq.to_string() },
        body: EventBody::Changed(BlobChanged {
            blob: BlobName::from(blob),
            content_length: len as u64,
            sequencer: None,
            etag: None,
            enqueued_ms: None,
        }),
    }
}

pub(super) async fn run(e: &TestEngine, events: Vec<FeedEvent>) -> Vec<FeedPosition> {
    let (feed, acks) = MemoryFeed::new(vec![events]);
    e.run(feed, CancellationToken::new()).await.unwrap();
    acks[0].lock().unwrap().clone()
}

/// The sample's first record alone (4 rows), as Azure would have committed it after one minute.
pub(super) fn first_minute() -> String {
    let second = NSG.find("\n,{").unwrap();
    format!("{}\n]}}\n", &NSG[..second])
}

#[tokio::test]
async fn events_of_one_blob_in_a_batch_are_coalesced_into_one_read() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("a/c/PT1H.json");
    blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    let e = engine(blobs);
    let acks = run(&e, vec![changed(1, "a/c/PT1H.json", 700), changed(2, "a/c/PT1H.json", NSG.len())]).await;
    assert_eq!(e.sink.lines().len(), 6);
    assert_eq!(e.sink.batches(), 1);
    assert_eq!(e.metrics.bytes_read.get() as usize, NSG.len() - 2, "one read of the record region");
    assert_eq!(acks.last().unwrap().sequence, 2);
    let stored = e.offsets.get(&b).unwrap();
    // The sample ends in `}\n]}\n`: the offset stops just after the last record.
    assert_eq!(stored.offset as usize, NSG.len() - 4);
    assert_eq!((stored.rows_emitted, stored.blob_created_ms), (6, Some(1)));
}

#[tokio::test]
async fn appends_emit_only_new_rows_and_stale_events_nothing() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("a/c/PT1H.json");
    blobs.put(&b, first_minute().into_bytes(), Some(1));
    let e = engine(blobs);
    run(&e, vec![changed(1, b.as_str(), first_minute().len())]).await;
    assert_eq!(e.sink.lines().len(), 4);
    e.blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    run(&e, vec![changed(2, b.as_str(), NSG.len())]).await;
    run(&e, vec![changed(3, b.as_str(), first_minute().len())]).await;
    let lines = e.sink.lines();
    assert_eq!(lines.len(), 6, "only the second minute's two rows were added");
    assert_eq!(e.metrics.blobs_count(BlobResult::UpToDate), 1);
}

#[tokio::test]
async fn transient_sink_failures_are_retried_and_rows_delivered_once() {
    let blobs = MemoryBlobStore::new();
    blobs.put(&BlobName::from("b"), NSG.as_bytes().to_vec(), None);
    let e = engine(blobs);
    e.sink.fail_next(2);
    run(&e, vec![changed(1, "b", NSG.len())]).await;
    assert_eq!(e.sink.lines().len(), 6);
    assert_eq!(e.metrics.retries_count(RetryOp::Blob), 2);
    assert!(e.dead_letters.letters().is_empty());
}

#[tokio::test]
async fn persistent_sink_failure_marks_the_blob_for_retry_and_the_sweep_heals_it() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, NSG.as_bytes().to_vec(), None);
    let mut e = engine(blobs);
    e.cfg.pending_delays = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    e.sink.fail_next(100);
    let acks = run(&e, vec![changed(1, "b", NSG.len())]).await;
    assert_eq!(acks.len(), 1, "the partition keeps moving");
    let stored = e.offsets.get(&b).expect("the failure is recorded durably");
    assert_eq!(stored.offset, 0, "nothing undelivered is committed");
    let mark = stored.pending.expect("a retry mark");
    assert_eq!((mark.attempts, mark.target_length, mark.partition.as_deref()), (1, NSG.len() as u64, Some("0")));
    assert!(mark.last_error.contains("injected sink failure"), "{mark:?}");
    assert!(e.dead_letters.letters().is_empty(), "a transient failure is retried, not dead-lettered");
    // No further event arrives (the last append of an hour): the sweep retries it. It only
    // retries blobs of partitions this worker owns.
    e.sink.fail_next(0);
    assert_eq!(e.retry_pending().await.unwrap(), 0, "partition 0 is not owned outside a run");
    e.state.own("0", true);
    assert_eq!(e.retry_pending().await.unwrap(), 1);
    assert_eq!(e.sink.lines().len(), 6, "the sweep delivered the blob");
    let healed = e.offsets.get(&b).unwrap();
    assert_eq!((healed.offset as usize, healed.pending), (NSG.len() - 4, None));
    assert_eq!(e.retry_pending().await.unwrap(), 0, "nothing left to retry");
}

#[tokio::test]
async fn an_unreadable_marked_blob_is_dead_lettered_once_and_unmarked() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, NSG.as_bytes().to_vec(), None);
    let mut e = engine(blobs);
    e.cfg.pending_delays = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    e.sink.fail_next(100);
    run(&e, vec![changed(1, "b", NSG.len())]).await;
    assert!(e.offsets.get(&b).unwrap().pending.is_some());
    e.blobs.delete(&b);
    e.state.own("0", true);
    e.retry_pending().await.unwrap();
    let letters = e.dead_letters.letters();
    assert_eq!(letters.iter().map(|l| l.kind).collect::<Vec<_>>(), vec![DeadLetterKind::Blob]);
    assert_eq!(e.offsets.get(&b).unwrap().pending, None, "given up on: the mark is gone");
    e.retry_pending().await.unwrap();
    assert_eq!(e.dead_letters.letters().len(), 1, "dead-lettered once");
}

#[tokio::test]
async fn a_failed_offset_commit_after_delivery_is_retried_alone() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, NSG.as_bytes().to_vec(), None);
    let e = engine(blobs).with_patient_commits(true);
    // Far more failures than the retry policy's attempts: a daemon keeps retrying the commit.
    e.offsets.fail_saves(20);
    let acks = run(&e, vec![changed(1, "b", NSG.len())]).await;
    assert_eq!(acks.len(), 1);
    assert_eq!(e.sink.lines().len(), 6, "delivered once, never re-sent while the commit failed");
    assert_eq!(e.sink.batches(), 1);
    assert_eq!(e.offsets.get(&b).unwrap().offset as usize, NSG.len() - 4);
    assert_eq!(e.metrics.commit_failures.get(), 20);
    assert_eq!(e.metrics.commits_pending.get(), 0);
}

#[tokio::test]
async fn a_bounded_run_stops_when_delivered_rows_cannot_be_committed() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, NSG.as_bytes().to_vec(), None);
    let e = engine(blobs);
    e.offsets.fail_saves(100);
    let (feed, acks) = MemoryFeed::new(vec![vec![changed(1, "b", NSG.len())]]);
    let err = e.run(feed, CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.kind, crate::pipeline::error::ErrorKind::CommitFailed, "{err}");
    assert!(acks[0].lock().unwrap().is_empty(), "the event is not acknowledged");
    assert_eq!(e.sink.lines().len(), 6, "sent once: no retry loop re-sends delivered rows");
    assert!(e.dead_letters.letters().is_empty(), "delivered rows are not dead-lettered");
    // The next run re-sends that one flush (the documented duplicate bound), with the same ids.
    e.offsets.fail_saves(0);
    run(&e, vec![changed(2, "b", NSG.len())]).await;
    let lines = e.sink.lines();
    assert_eq!(lines.len(), 12);
    assert_eq!(lines[..6], lines[6..]);
}

#[tokio::test]
async fn malformed_record_is_dead_lettered_and_passed() {
    let blobs = MemoryBlobStore::new();
    let bad = NSG.replacen("\"Version\":2", "\"Version\":9", 1).replacen("192.0.2.190", "192.0.2.290", 1);
    let bad = bad.replacen("10.5.16.4,203.0.113.118,59831,443,T,O,A,C", "10.5.16.4,203.0.113.118,59831,443,X,O,A,C", 1);
    blobs.put(&BlobName::from("b"), bad.clone().into_bytes(), None);
    let e = engine(blobs);
    run(&e, vec![changed(1, "b", bad.len())]).await;
    assert_eq!(e.sink.lines().len(), 1, "second record minus its bad tuple");
    let kinds: Vec<_> = e.dead_letters.letters().iter().map(|l| l.kind).collect();
    assert_eq!(kinds, vec![DeadLetterKind::Record, DeadLetterKind::Tuple]);
    let rec = &e.dead_letters.letters()[0];
    assert!(rec.raw.contains("\"Version\":9") && rec.error.contains("version 9"), "{rec:?}");
    assert_eq!(e.offsets.get(&BlobName::from("b")).unwrap().offset as usize, bad.len() - 4);
}

#[tokio::test]
async fn invalid_events_and_missing_blobs_are_dead_lettered() {
    let e = engine(MemoryBlobStore::new());
    let invalid = FeedEvent {
        position: FeedPosition { sequence: 1, event_offset: "1".into() },
        body: EventBody::Invalid { reason: "not JSON".into(), raw: b"garbage".to_vec() },
    };
    let ignored = FeedEvent {
        position: FeedPosition { sequence: 2, event_offset: "2".into() },
        body: EventBody::Ignored { reason: "BlobDeleted".into() },
    };
    let acks = run(&e, vec![invalid, ignored, changed(3, "nope", 100)]).await;
    assert_eq!(acks.last().unwrap().sequence, 3);
    let letters = e.dead_letters.letters();
    assert_eq!(letters.iter().map(|l| l.kind).collect::<Vec<_>>(), vec![DeadLetterKind::Event, DeadLetterKind::Blob]);
    assert_eq!(letters[0].raw, "garbage");
    assert_eq!((e.metrics.events_count(EventOutcome::Invalid), e.metrics.events_count(EventOutcome::Ignored)), (1, 1));
    assert_eq!(e.metrics.blobs_count(BlobResult::Gone), 1);
}

#[tokio::test]
async fn recreated_blob_is_read_again_from_the_start() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    let e = engine(blobs);
    run(&e, vec![changed(1, "b", NSG.len())]).await;
    e.blobs.put(&b, first_minute().into_bytes(), Some(2));
    run(&e, vec![changed(2, "b", first_minute().len())]).await;
    let lines = e.sink.lines();
    assert_eq!(lines.len(), 10, "6 rows, then the recreated blob's 4");
    let stored = e.offsets.get(&b).unwrap();
    assert_eq!((stored.blob_created_ms, stored.generation), (Some(2), 1));
    // Same name, same record offsets, different content: the ids must differ, or Data
    // Explorer's dedup view would keep one of two different rows.
    let id = |l: &String| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string();
    let old: std::collections::HashSet<String> = lines[..6].iter().map(id).collect();
    assert!(lines[6..].iter().map(id).all(|i| !old.contains(&i)), "a recreated blob reuses no id");
}

#[tokio::test]
async fn small_flush_threshold_sends_and_commits_as_it_goes() {
    let blobs = MemoryBlobStore::with_chunk_size(100);
    blobs.put(&BlobName::from("b"), NSG.as_bytes().to_vec(), None);
    let mut e = engine(blobs);
    e.cfg.flush_bytes = 1;
    run(&e, vec![changed(1, "b", NSG.len())]).await;
    assert_eq!(e.sink.lines().len(), 6);
    assert!(e.sink.batches() > 2, "rows go out as they are parsed, not once per record");
    assert_eq!(e.offsets.get(&BlobName::from("b")).unwrap().offset as usize, NSG.len() - 4);
}

/// A sink that accepts the first `n` batches and then fails the rest, as a crash would.
pub(super) struct CrashAfter {
    pub(super) inner: MemoryRowSink,
    pub(super) left: std::sync::atomic::AtomicUsize,
}

impl crate::pipeline::row_sink::RowSink for CrashAfter {
    async fn send(&self, batch: crate::pipeline::row_sink::RowBatch<'_>) -> crate::pipeline::error::ServiceResult<()> {
        use std::sync::atomic::Ordering;
        if self.left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_err() {
            return Err(crate::pipeline::error::ServiceError::permanent("injected crash"));
        }
        self.inner.send(batch).await
    }
}

#[tokio::test]
async fn a_record_larger_than_a_flush_goes_out_in_parts_and_its_offset_at_its_end() {
    let first = first_minute();
    let b = BlobName::from("b");
    let blobs = MemoryBlobStore::with_chunk_size(60);
    blobs.put(&b, first.clone().into_bytes(), Some(1));
    let cfg = EngineConfig { retry: RetryPolicy::fast(), flush_bytes: 1, ..EngineConfig::default() };
    let sink = CrashAfter { inner: MemoryRowSink::new(), left: 1.into() };
    let e = engine_with(Arc::new(blobs), Arc::new(sink), cfg);
    // The first flush is in the middle of the record; the sink fails at the second.
    let (feed, _) = MemoryFeed::new(vec![vec![changed(1, "b", first.len())]]);
    let _ = e.run(feed, CancellationToken::new()).await;
    let sent = e.sink.inner.lines();
    assert!(!sent.is_empty() && sent.len() < 4, "part of the record was delivered: {}", sent.len());
    let head = "{\"records\":[".len() as u64;
    let stored = e.offsets.get(&b).unwrap();
    assert_eq!(stored.offset, head, "the offset stays at the record's start");
    assert_eq!(stored.open_tuples as usize, sent.len(), "with how many of its tuples went");
    // Restarted: the record is read from its start; the part already sent is not sent again.
    e.sink.left.store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    let (feed, _) = MemoryFeed::new(vec![vec![changed(2, "b", first.len())]]);
    e.run(feed, CancellationToken::new()).await.unwrap();
    let all = e.sink.inner.lines();
    assert_eq!(all.len(), 4, "each row once");
    assert_eq!(&all[..sent.len()], &sent[..]);
    let stored = e.offsets.get(&b).unwrap();
    assert_eq!((stored.offset as usize, stored.open_tuples), (first.len() - 4, 0));
}

#[tokio::test]
async fn a_record_that_never_completes_is_reported_as_stalled_until_it_does() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    // The committed length covers half of the second record: it can never be parsed.
    let second = NSG.find("\n,{").unwrap();
    let cut = format!("{}]}}", &NSG[..second + 200]);
    blobs.put(&b, cut.clone().into_bytes(), None);
    let mut e = engine(blobs);
    e.cfg.stall_after = std::time::Duration::ZERO;
    run(&e, vec![changed(1, "b", cut.len())]).await;
    assert_eq!(e.sink.lines().len(), 4, "the complete first record is delivered");
    let stalled = e.report_stalls();
    assert_eq!(stalled.iter().map(|(b, _)| b.as_str()).collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(e.metrics.stalled_blobs.get(), 1);
    e.blobs.put(&b, NSG.as_bytes().to_vec(), None);
    run(&e, vec![changed(2, "b", NSG.len())]).await;
    assert!(e.report_stalls().is_empty(), "progress clears the stall");
    assert_eq!(e.metrics.stalled_blobs.get(), 0);
}

#[tokio::test]
async fn a_replaced_enrichment_applies_from_the_next_blob_read_on() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("a/c/PT1H.json");
    blobs.put(&b, first_minute().into_bytes(), Some(1));
    let handle = crate::pipeline::enrichment::EnrichmentHandle::default();
    let e = engine(blobs).with_enrichment(handle.clone());
    run(&e, vec![changed(1, b.as_str(), first_minute().len())]).await;
    // A database on, so the writer keeps an address cache to hand on.
    let asn = crate::domain::enrich::csv_ranges::AsnTable::from_csv(b"8.8.8.0,8.8.8.255,15169,Google LLC\n");
    let asn = crate::domain::enrich::DataFile::AsnCsv(asn.unwrap());
    let newer = crate::domain::enrich::Enricher::new(vec![asn], vec![], None, true, true).unwrap();
    handle.replace(Arc::new(newer));
    e.blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    run(&e, vec![changed(2, b.as_str(), NSG.len())]).await;
    let lines = e.sink.lines();
    assert_eq!(lines.len(), 6);
    for (i, line) in lines.iter().enumerate() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["flow_type"], "private", "always on");
        // The first read's rows were made with the first version, the append's with the second.
        assert_eq!(row.get("community_id").is_some(), i >= 4, "{line}");
        assert_eq!(row.get("service").is_some(), i >= 4, "{line}");
    }
    // The append's read left its writer, with the addresses it looked up, for the next read.
    let warm = handle.writer();
    assert!(warm.settings().community_id);
    assert!(warm.cached_addresses() > 0, "blob reads hand their address cache on");
}
