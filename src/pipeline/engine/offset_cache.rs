//! The engine's offset cache: each blob's last loaded or committed offset with its version.
//!
//! The worker that owns a blob's change-feed partition is the only regular writer of its offset,
//! so what it last wrote stays current until a compare-and-swap says otherwise. A stale entry
//! costs duplicates, never data: every write is still a compare-and-swap on the cached version,
//! and a conflict drops the entry and reloads. Entries are dropped on a conflict, on any other
//! failed save (its outcome is unknown), when this worker gains or loses their partition (another
//! worker may have written meanwhile; entries of no known partition go too), and all of them
//! after a retention sweep deleted entries.
//!
//! An entry also remembers the blob's ETag at the last read that finished (its offset committed,
//! or nothing new to commit): every byte of that version is delivered or waits for a later
//! version. An event that names this ETag again (one of a backlog's appends already read with a
//! later one, or a duplicate delivery) needs no request. Forgetting it costs one read, nothing
//! else.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Engine;
use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::error::{ErrorKind, ServiceResult};
use crate::pipeline::offset_store::{OffsetStore, Version};
use crate::pipeline::row_sink::RowSink;
use crate::pipeline::storage_metrics::{CacheDrop, CacheResult};

/// Bounds memory: about 300 bytes per entry; a full cache starts over (entries are cheap to reload).
const MAX_ENTRIES: usize = 200_000;

/// A cached offset, its version, and the change-feed partition whose task last processed the
/// blob (`None` until then, e.g. for the pending sweep or a backfill).
type Entry = (OffsetState, Version, Option<Arc<str>>, Seen);

/// The blob's ETag at the last finished read, if the store named it.
type Seen = Option<Box<str>>;

#[derive(Default)]
pub struct OffsetCache {
    entries: Mutex<HashMap<BlobName, Entry>>,
}

impl OffsetCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BlobName, Entry>> {
        // A poisoned lock means a panic mid-insert or mid-remove: every entry is still whole.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, blob: &BlobName) -> Option<(OffsetState, Version)> {
        self.lock().get(blob).map(|(s, v, _, _)| (s.clone(), v.clone()))
    }

    /// Records that a read of the blob at version `etag` finished: its offset is the one cached
    /// (an entry that is gone records nothing, and the next event reads).
    pub fn finished_read(&self, blob: &BlobName, etag: &str) {
        if let Some(entry) = self.lock().get_mut(blob)
            && entry.3.as_deref() != Some(etag)
        {
            entry.3 = Some(etag.into());
        }
    }

    /// Whether a finished read saw the blob at `etag`, with no retry mark left on its offset:
    /// reading it again would find nothing new.
    pub fn seen(&self, blob: &BlobName, etag: &str) -> bool {
        self.lock().get(blob).is_some_and(|(s, _, _, seen)| s.pending.is_none() && seen.as_deref() == Some(etag))
    }

    /// Stores what the store now holds; the blob keeps its partition and its last read's ETag
    /// (the offset only moves forward from it).
    pub fn put(&self, blob: &BlobName, state: OffsetState, version: Version) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(blob) {
            entries.clear();
        }
        match entries.get_mut(blob) {
            Some(entry) => (entry.0, entry.1) = (state, version),
            None => {
                entries.insert(blob.clone(), (state, version, None, None));
            }
        }
    }

    /// Records that `partition`'s task processed the blob (a blob's events always arrive on
    /// one partition: their partition key is the blob's subject).
    pub fn claim(&self, blob: &BlobName, partition: &str) {
        if let Some(entry) = self.lock().get_mut(blob)
            && entry.2.as_deref() != Some(partition)
        {
            entry.2 = Some(Arc::from(partition));
        }
    }

    pub fn remove(&self, blob: &BlobName) -> bool {
        self.lock().remove(blob).is_some()
    }

    /// Drops every entry; returns how many there were.
    pub fn clear(&self) -> u64 {
        let mut entries = self.lock();
        let n = entries.len() as u64;
        entries.clear();
        n
    }

    /// Drops the entries of `partition` and those of no known partition; returns how many.
    pub fn clear_partition(&self, partition: &str) -> u64 {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, (_, _, p, _)| p.as_deref().is_some_and(|p| p != partition));
        (before - entries.len()) as u64
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// The blob's offset: from the cache, else from the store (and then cached).
    pub(super) async fn load_offset(&self, blob: &BlobName) -> ServiceResult<Option<(OffsetState, Version)>> {
        if let Some(hit) = self.offset_cache.get(blob) {
            self.metrics.storage.cache(CacheResult::Hit);
            return Ok(Some(hit));
        }
        self.metrics.storage.cache(CacheResult::Miss);
        self.load_stored_offset(blob).await
    }

    /// The blob's offset as stored now (after a conflict), replacing any cached entry.
    pub(super) async fn load_stored_offset(&self, blob: &BlobName) -> ServiceResult<Option<(OffsetState, Version)>> {
        let loaded = self.bounded(|| format!("loading the offset of {blob}"), self.offsets.load(blob)).await?;
        match &loaded {
            Some((state, version)) => self.offset_cache.put(blob, state.clone(), version.clone()),
            None => {
                self.offset_cache.remove(blob);
            }
        }
        Ok(loaded)
    }

    /// Compare-and-swap through the store; the cache follows what the store now holds.
    pub(super) async fn save_offset(
        &self,
        blob: &BlobName,
        state: &OffsetState,
        expected: Option<&Version>,
    ) -> ServiceResult<Version> {
        let saved =
            self.bounded(|| format!("saving the offset of {blob}"), self.offsets.save(blob, state, expected)).await;
        match &saved {
            Ok(version) => self.offset_cache.put(blob, state.clone(), version.clone()),
            Err(e) => {
                let reason = if e.kind == ErrorKind::Conflict { CacheDrop::Conflict } else { CacheDrop::Error };
                if self.offset_cache.remove(blob) {
                    self.metrics.storage.cache_drop(reason, 1);
                }
            }
        }
        saved
    }

    /// Forgets every cached offset: entries were swept.
    pub(super) fn drop_cached_offsets(&self, reason: CacheDrop) {
        let n = self.offset_cache.clear();
        self.metrics.storage.cache_drop(reason, n);
    }

    /// Forgets the offsets of `partition`'s blobs: this worker gained or lost it, and another
    /// worker may have written them meanwhile.
    pub(super) fn drop_partition_offsets(&self, partition: &str) {
        let n = self.offset_cache.clear_partition(partition);
        self.metrics.storage.cache_drop(CacheDrop::Ownership, n);
    }
}
