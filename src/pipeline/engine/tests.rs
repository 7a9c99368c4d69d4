//! Engine behaviour on the in-memory seams: commit order, coalescing, retries, dead letters.
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

type TestEngine = Engine<MemoryBlobStore, MemoryOffsetStore, MemoryRowSink, MemoryDeadLetters>;

const NSG: &str = include_str!("../../../samples/nsg_v2.json");

fn engine(blobs: MemoryBlobStore) -> TestEngine {
    let cfg = EngineConfig { retry: RetryConfig::fast(), ..EngineConfig::default() };
    Engine::new(
        Arc::new(blobs),
        Arc::new(MemoryOffsetStore::new()),
        Arc::new(MemoryRowSink::new()),
        Arc::new(MemoryDeadLetters::new()),
        cfg,
    )
}

fn changed(seq: i64, blob: &str, len: usize) -> FeedEvent {
    FeedEvent {
        position: FeedPosition { sequence: seq, offset: seq.to_string() },
        body: EventBody::Changed(BlobChanged {
            blob: BlobName::from(blob),
            content_length: len as u64,
            sequencer: None,
            enqueued_ms: None,
        }),
    }
}

async fn run(e: &TestEngine, events: Vec<FeedEvent>) -> Vec<FeedPosition> {
    let (feed, acks) = MemoryFeed::new(vec![events]);
    e.run(feed, CancellationToken::new()).await.unwrap();
    acks[0].lock().unwrap().clone()
}

/// The sample's first record alone, as Azure would have committed it after one minute.
fn first_minute() -> String {
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
    assert_eq!(e.metrics.count("blobs", "up_to_date"), 1);
}

#[tokio::test]
async fn transient_sink_failures_are_retried_and_rows_delivered_once() {
    let blobs = MemoryBlobStore::new();
    blobs.put(&BlobName::from("b"), NSG.as_bytes().to_vec(), None);
    let e = engine(blobs);
    e.sink.fail_next(2);
    run(&e, vec![changed(1, "b", NSG.len())]).await;
    assert_eq!(e.sink.lines().len(), 6);
    assert_eq!(e.metrics.count("retries", "blob"), 2);
    assert!(e.dead_letters.letters().is_empty());
}

#[tokio::test]
async fn persistent_sink_failure_dead_letters_the_event_without_moving_the_offset() {
    let blobs = MemoryBlobStore::new();
    blobs.put(&BlobName::from("b"), NSG.as_bytes().to_vec(), None);
    let e = engine(blobs);
    e.sink.fail_next(100);
    let acks = run(&e, vec![changed(1, "b", NSG.len())]).await;
    assert_eq!(acks.len(), 1, "the partition keeps moving");
    assert!(e.offsets.get(&BlobName::from("b")).is_none(), "nothing undelivered is committed");
    let letters = e.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].kind, DeadLetterKind::Blob);
    e.sink.fail_next(0);
    run(&e, vec![changed(2, "b", NSG.len())]).await;
    assert_eq!(e.sink.lines().len(), 6, "the next event for the blob heals it");
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
        position: FeedPosition { sequence: 1, offset: "1".into() },
        body: EventBody::Invalid { reason: "not JSON".into(), raw: b"garbage".to_vec() },
    };
    let ignored = FeedEvent {
        position: FeedPosition { sequence: 2, offset: "2".into() },
        body: EventBody::Ignored { reason: "BlobDeleted".into() },
    };
    let acks = run(&e, vec![invalid, ignored, changed(3, "nope", 100)]).await;
    assert_eq!(acks.last().unwrap().sequence, 3);
    let letters = e.dead_letters.letters();
    assert_eq!(letters.iter().map(|l| l.kind).collect::<Vec<_>>(), vec![DeadLetterKind::Event, DeadLetterKind::Blob]);
    assert_eq!(letters[0].raw, "garbage");
    assert_eq!((e.metrics.count("events", "invalid"), e.metrics.count("events", "ignored")), (1, 1));
    assert_eq!(e.metrics.count("blobs", "gone"), 1);
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
    assert_eq!(e.sink.lines().len(), 10, "6 rows, then the recreated blob's 4");
    assert_eq!(e.offsets.get(&b).unwrap().blob_created_ms, Some(2));
}

#[tokio::test]
async fn small_flush_threshold_sends_and_commits_as_it_goes() {
    let blobs = MemoryBlobStore::with_chunk_size(100);
    blobs.put(&BlobName::from("b"), NSG.as_bytes().to_vec(), None);
    let mut e = engine(blobs);
    e.cfg.flush_bytes = 1;
    run(&e, vec![changed(1, "b", NSG.len())]).await;
    assert_eq!(e.sink.lines().len(), 6);
    assert_eq!(e.sink.batches(), 2, "one batch per record");
}

#[tokio::test]
async fn a_replaced_enrichment_applies_from_the_next_blob_read_on() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("a/c/PT1H.json");
    blobs.put(&b, first_minute().into_bytes(), Some(1));
    let handle = crate::pipeline::enrichment::EnrichmentHandle::default();
    let e = engine(blobs).with_enrichment(handle.clone());
    run(&e, vec![changed(1, b.as_str(), first_minute().len())]).await;
    let newer = crate::domain::enrich::Enricher::new(vec![], vec![], None, true, true).unwrap();
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
}
