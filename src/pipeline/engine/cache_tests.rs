//! The offset cache on the in-memory seams: hits in steady state, dropped on a conflict and on
//! ownership changes, and blob recreation still detected against a cached offset.
use super::tests::{NSG, TestEngine, changed, engine, first_minute, run};
use super::*;
use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::pipeline::blob_store::memory::MemoryBlobStore;
use crate::pipeline::offset_store::{OffsetStore, Version};
use crate::pipeline::storage_metrics::{CacheDrop, CacheResult};

fn cache(e: &TestEngine, result: CacheResult) -> u64 {
    e.metrics.storage.cache_count(result)
}

/// What the store holds and what the cache holds for `b` agree.
async fn cache_matches_store(e: &TestEngine, b: &BlobName) {
    let stored = e.offsets.load(b).await.unwrap().expect("stored");
    assert_eq!(e.offset_cache.get(b), Some(stored));
}

#[tokio::test]
async fn repeated_reads_of_a_blob_are_served_from_the_cache() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("a/c/PT1H.json");
    blobs.put(&b, first_minute().into_bytes(), Some(1));
    let e = engine(blobs);
    assert!(matches!(e.process_blob(&b).await.unwrap(), BlobOutcome::Processed { rows: 4, .. }));
    e.blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    assert!(matches!(e.process_blob(&b).await.unwrap(), BlobOutcome::Processed { rows: 2, .. }));
    assert_eq!(e.process_blob(&b).await.unwrap(), BlobOutcome::UpToDate);
    assert_eq!((cache(&e, CacheResult::Miss), cache(&e, CacheResult::Hit)), (1, 2));
    cache_matches_store(&e, &b).await;
    assert_eq!(e.sink.lines().len(), 6);
}

#[tokio::test]
async fn a_conflict_drops_the_cached_offset_and_the_stored_one_wins() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, first_minute().into_bytes(), Some(1));
    let e = engine(blobs);
    e.process_blob(&b).await.unwrap();
    // Another worker (after a rebalance this one did not see) delivers the second record.
    e.blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    let (stored, version) = e.offsets.load(&b).await.unwrap().unwrap();
    let theirs = OffsetState { offset: NSG.len() as u64 - 4, rows_emitted: 6, ..stored };
    e.offsets.save(&b, &theirs, Some(&version)).await.unwrap();

    // The stale cached offset costs duplicates (same ids), never a lost or a backward offset.
    let outcome = e.process_blob(&b).await.unwrap();
    assert!(matches!(outcome, BlobOutcome::Superseded { .. }), "{outcome:?}");
    assert_eq!(e.metrics.duplicate_rows.get(), 2);
    assert_eq!(e.metrics.storage.cache_drops_count(CacheDrop::Conflict), 1);
    cache_matches_store(&e, &b).await;
    assert_eq!(e.offsets.get(&b).unwrap().offset, theirs.offset);
    // From now on the reloaded offset is used: nothing more is sent.
    assert_eq!(e.process_blob(&b).await.unwrap(), BlobOutcome::UpToDate);
    assert_eq!(e.sink.lines().len(), 6);
}

#[tokio::test]
async fn gaining_or_losing_a_partition_forgets_cached_offsets() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    let e = engine(blobs);
    e.process_blob(&b).await.unwrap();
    assert_eq!(e.offset_cache.len(), 1);
    run(&e, vec![changed(1, b.as_str(), NSG.len())]).await;
    // Dropped when the partition started (so its event was a miss) and again when it ended.
    assert!(e.offset_cache.is_empty());
    assert_eq!(cache(&e, CacheResult::Miss), 2);
    assert!(e.metrics.storage.cache_drops_count(CacheDrop::Ownership) >= 2);
}

#[test]
fn a_partition_change_drops_its_blobs_and_those_of_no_partition_only() {
    let cache = OffsetCache::default();
    let (a, b, c) = (BlobName::from("a"), BlobName::from("b"), BlobName::from("c"));
    for blob in [&a, &b, &c] {
        cache.put(blob, OffsetState::default(), Version("1".into()));
    }
    cache.claim(&a, "0");
    cache.claim(&b, "1");
    cache.put(&b, OffsetState { offset: 7, ..OffsetState::default() }, Version("2".into()));
    assert_eq!(cache.clear_partition("0"), 2, "a (partition 0) and c (none)");
    assert_eq!(cache.get(&b).map(|(s, v)| (s.offset, v.0)), Some((7, "2".to_string())));
    assert_eq!(cache.clear_partition("0"), 0, "b keeps its partition across updates");
    assert_eq!(cache.clear_partition("1"), 1);
}

#[tokio::test]
async fn a_recreated_blob_is_detected_against_a_cached_offset() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    let e = engine(blobs);
    e.process_blob(&b).await.unwrap();
    // Recreated past the cached offset (same bytes, new creation time), then shorter: both read from 0.
    e.blobs.put(&b, NSG.as_bytes().to_vec(), Some(2));
    assert!(matches!(e.process_blob(&b).await.unwrap(), BlobOutcome::Processed { from: 0, rows: 6, .. }));
    e.blobs.put(&b, first_minute().into_bytes(), Some(3));
    assert!(matches!(e.process_blob(&b).await.unwrap(), BlobOutcome::Processed { from: 0, rows: 4, .. }));
    assert_eq!(cache(&e, CacheResult::Hit), 2, "both recreations were judged against the cached offset");
    let stored = e.offsets.get(&b).unwrap();
    assert_eq!((stored.blob_created_ms, stored.generation), (Some(3), 2));
    assert_eq!(e.sink.lines().len(), 6 + 6 + 4);
}

/// A BlobCreated event naming `etag`.
fn tagged(seq: i64, b: &BlobName, len: usize, etag: Option<String>) -> crate::pipeline::change_feed::FeedEvent {
    let mut ev = changed(seq, b.as_str(), len);
    if let crate::pipeline::change_feed::EventBody::Changed(c) = &mut ev.body {
        c.etag = etag;
    }
    ev
}

#[tokio::test]
async fn an_event_naming_a_version_already_read_makes_no_request() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("a/c/PT1H.json");
    blobs.put(&b, first_minute().into_bytes(), Some(1));
    let early = blobs.etag(&b);
    // The second append lands before the first event is read, as in a backlog.
    blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    let late = blobs.etag(&b);
    assert_ne!(early, late);
    let cfg = EngineConfig { retry: RetryPolicy::fast(), max_batch_events: 1, ..EngineConfig::default() };
    let e = super::tests::engine_with(
        std::sync::Arc::new(blobs),
        std::sync::Arc::new(crate::pipeline::row_sink::memory::MemoryRowSink::new()),
        cfg,
    );
    // One batch each: the first event's read sees the later version; the second event names
    // it (no request); the third names an unknown version, the fourth none: both read.
    let events = vec![
        tagged(1, &b, first_minute().len(), early),
        tagged(2, &b, NSG.len(), late.clone()),
        tagged(3, &b, NSG.len(), Some("elsewhere".into())),
        tagged(4, &b, NSG.len(), None),
    ];
    let acks = run(&e, events).await;
    assert_eq!(acks.last().unwrap().sequence, 4, "every event acknowledged");
    assert_eq!(e.blobs.requests(), 3, "one read each for events 1, 3 and 4");
    assert_eq!(e.sink.lines().len(), 6, "every row once");
    assert_eq!(e.offsets.get(&b).unwrap().offset as usize, NSG.len() - 4);
    assert_eq!(e.metrics.blobs_count(crate::pipeline::metrics::BlobResult::UpToDate), 3);
}

#[tokio::test]
async fn a_version_is_not_skipped_after_its_cached_offset_was_dropped_or_marked() {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("b");
    blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    let e = engine(blobs);
    e.process_blob(&b).await.unwrap();
    let etag = e.blobs.etag(&b).unwrap();
    assert!(e.offset_cache.seen(&b, &etag));
    assert!(!e.offset_cache.seen(&b, "v0"));
    // A retry mark on the offset: the pending sweep owns the blob until it clears it.
    let (state, version) = e.offset_cache.get(&b).unwrap();
    let mark = crate::domain::offset::PendingRetry {
        target_length: NSG.len() as u64 + 100,
        attempts: 1,
        last_error: "timed out".into(),
        next_attempt_ms: 0,
        partition: None,
    };
    let marked = OffsetState { pending: Some(mark), ..state };
    e.offset_cache.put(&b, marked, version);
    assert!(!e.offset_cache.seen(&b, &etag));
    e.offset_cache.clear();
    assert!(!e.offset_cache.seen(&b, &etag), "forgotten with its entry");
}
