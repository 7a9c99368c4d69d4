//! The change-feed seam: per-partition, ordered notifications that a blob grew.
pub mod listing;
pub mod memory;

use std::future::Future;

use crate::domain::blob_name::BlobName;
use crate::pipeline::error::ServiceResult;

/// "Blob `blob` now has `content_length` committed bytes."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobChanged {
    pub blob: BlobName,
    pub content_length: u64,
    /// Event Grid's `sequencer`: orders events of one blob by string comparison.
    pub sequencer: Option<String>,
    /// The blob's ETag after the change (Event Grid's `eTag`), without quotes: an event whose
    /// ETag a finished read already saw names nothing new (see `OffsetCache::seen`).
    pub etag: Option<String>,
    /// When the event entered the feed (Event Hubs enqueued time), Unix ms, for latency metrics.
    pub enqueued_ms: Option<i64>,
}

/// What one feed event says, after decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventBody {
    Changed(BlobChanged),
    /// Well-formed but not for us (another event type): counted and acknowledged.
    Ignored {
        reason: String,
    },
    /// Could not be decoded, or names a blob outside the allowed accounts/containers:
    /// dead-lettered, counted and acknowledged.
    Invalid {
        reason: String,
        raw: Vec<u8>,
    },
}

/// A feed position: acknowledging it acknowledges everything before it in the partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    pub sequence: i64,
    /// The service's own position string (Event Hubs calls it an offset; flowlog keeps that word
    /// for byte positions in blobs), empty for feeds that have none.
    pub event_offset: String,
}

/// One decoded item; a single Event Hubs message (an Event Grid array) may yield several
/// items with the same position, always delivered in the same batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEvent {
    pub position: FeedPosition,
    pub body: EventBody,
}

pub trait FeedPartition: Send + 'static {
    fn id(&self) -> &str;

    /// Waits for the next events (at most `max`, at least one). `None` ends the partition:
    /// ownership lost, shutdown, or a one-shot feed drained.
    fn next_batch(&mut self, max: usize) -> impl Future<Output = ServiceResult<Option<Vec<FeedEvent>>>> + Send;

    /// Whether dropping a `next_batch` call before it returns loses nothing. Then the engine
    /// acknowledges batches that finish while it waits for the next one; otherwise it finishes
    /// and acknowledges every running batch before it waits, so a quiet partition's checkpoint
    /// never trails.
    fn cancel_safe(&self) -> bool {
        false
    }

    /// Everything up to and including `position` is processed and its offsets committed.
    fn ack(&mut self, position: &FeedPosition) -> impl Future<Output = ServiceResult<()>> + Send;
}

pub trait ChangeFeed: Send + 'static {
    type Partition: FeedPartition;

    /// The next partition this worker owns; `None` when the feed is finished.
    fn next_partition(&mut self) -> impl Future<Output = ServiceResult<Option<Self::Partition>>> + Send;
}
