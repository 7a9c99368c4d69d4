//! The blob-store seam: range reads, properties and listings of flow-log blobs.
pub mod memory;

use std::future::Future;
use std::ops::Range;

use futures::StreamExt;
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

/// A read that started before the blob's length was known: the properties its first response
/// carried, and the bytes from the start to the blob's end (`None`: nothing at or past the start).
pub struct TailRead {
    pub properties: BlobProperties,
    pub chunks: Option<ChunkStream>,
    /// The version of the blob the read saw (its ETag, without quotes), where the store says.
    pub etag: Option<String>,
}

/// Bytes a limited stream may still drain after its limit so an HTTP connection stays reusable
/// (the two bytes of a flow-log blob's tail, typically); anything longer is dropped unread.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// The first `limit` bytes of `chunks`; the rest is read and discarded if short, else dropped.
pub fn limit_to(chunks: ChunkStream, limit: u64) -> ChunkStream {
    futures::stream::unfold(Some((chunks, limit)), |state| async move {
        let (mut chunks, left) = state?;
        if left == 0 {
            let mut drained = 0u64;
            while drained <= DRAIN_LIMIT {
                match chunks.next().await {
                    Some(Ok(c)) => drained += c.len() as u64,
                    _ => break,
                }
            }
            return None;
        }
        match chunks.next().await? {
            Ok(mut chunk) => {
                if chunk.len() as u64 > left {
                    chunk.truncate(left as usize);
                }
                let left = left - chunk.len() as u64;
                Some((Ok(chunk), Some((chunks, left))))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed()
}

pub trait BlobStore: Send + Sync + 'static {
    /// Properties of the blob; `ErrorKind::NotFound` when it does not exist.
    fn properties(&self, blob: &BlobName) -> impl Future<Output = ServiceResult<BlobProperties>> + Send;

    /// Streams bytes `range` of the blob. The range must lie within the blob's current length.
    fn read_range(&self, blob: &BlobName, range: Range<u64>)
    -> impl Future<Output = ServiceResult<ChunkStream>> + Send;

    /// The blob's properties and its bytes from `start` to its current end, when the length is
    /// not known yet. Stores whose range reads report the blob's length and creation time (Azure:
    /// `Content-Range` and `x-ms-creation-time`) answer with one request; this default asks for
    /// the properties first. `ErrorKind::NotFound` when the blob does not exist.
    fn read_from(&self, blob: &BlobName, start: u64) -> impl Future<Output = ServiceResult<TailRead>> + Send {
        async move {
            let properties = self.properties(blob).await?;
            let chunks = if start < properties.content_length {
                Some(self.read_range(blob, start..properties.content_length).await?)
            } else {
                None
            };
            Ok(TailRead { properties, chunks, etag: None })
        }
    }

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
