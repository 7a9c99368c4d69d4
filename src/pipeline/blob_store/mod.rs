//! The blob-store seam: range reads, properties and listings of flow-log blobs.
pub mod memory;

use std::future::Future;
use std::ops::Range;

use futures::stream::BoxStream;

use crate::domain::blob_name::BlobName;
use crate::pipeline::error::ServiceResult;

/// What the engine needs to know about a blob before reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobProperties {
    pub content_length: u64,
    /// Creation time in Unix milliseconds, used to detect a deleted and recreated blob.
    pub created_ms: Option<i64>,
}

/// One blob found by a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobListing {
    pub blob: BlobName,
    pub properties: BlobProperties,
}

/// Chunks of a range read, in order; memory stays bounded by the chunk size.
pub type ChunkStream = BoxStream<'static, ServiceResult<bytes::Bytes>>;

pub trait BlobStore: Send + Sync + 'static {
    /// Properties of the blob; `ErrorKind::NotFound` when it does not exist.
    fn properties(&self, blob: &BlobName) -> impl Future<Output = ServiceResult<BlobProperties>> + Send;

    /// Streams bytes `range` of the blob. The range must lie within the blob's current length.
    fn read_range(&self, blob: &BlobName, range: Range<u64>)
    -> impl Future<Output = ServiceResult<ChunkStream>> + Send;

    /// True when a blob's length only ever covers fully written content (Azure block blobs:
    /// a commit is atomic). Files being appended to can expose a half-written record, so bytes
    /// that do not parse at their end are kept for the next read instead of dead-lettered.
    fn atomic_commits(&self) -> bool {
        true
    }

    /// True when a blob's bytes can change under the same name without its creation time
    /// changing (local files rewritten in place, or replaced by a renamed copy). The engine then
    /// checks content marks on every read instead of trusting creation times, and treats NUL
    /// bytes as not yet written (a preallocated file filled out of order).
    fn checks_content(&self) -> bool {
        false
    }

    /// Every flow-log blob (`PT1H.json`) whose name starts with `prefix`.
    fn list(&self, prefix: &str) -> impl Future<Output = ServiceResult<Vec<BlobListing>>> + Send;
}
