//! In-memory blob store for unit tests of the engine.
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;

use super::{BlobListing, BlobProperties, BlobStore, ChunkStream, TailRead};
use crate::domain::blob_name::BlobName;
use crate::pipeline::error::{ServiceError, ServiceResult};

/// Content, creation time and ETag of one blob.
type Stored = (Vec<u8>, Option<i64>, String);

#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<BTreeMap<BlobName, Stored>>,
    chunk_size: Option<usize>,
    checks_content: bool,
    /// Requests answered (properties and reads), as a service would count them.
    requests: AtomicU64,
    /// Each `put` makes a new version: the ETag reads report is `v` and its number.
    puts: AtomicU64,
}

impl MemoryBlobStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Range reads arrive in chunks of this size, to exercise re-assembly across chunk edges.
    pub fn with_chunk_size(chunk_size: usize) -> Self {
        MemoryBlobStore { chunk_size: Some(chunk_size.max(1)), ..Self::default() }
    }

    /// Makes the engine check content marks, as for local files (`BlobStore::checks_content`).
    pub fn with_content_checks(mut self, on: bool) -> Self {
        self.checks_content = on;
        self
    }

    /// Replaces the blob's content (a commit of a new block list).
    pub fn put(&self, blob: &BlobName, content: Vec<u8>, created_ms: Option<i64>) {
        let version = self.puts.fetch_add(1, Ordering::SeqCst) + 1;
        self.blobs.lock().unwrap().insert(blob.clone(), (content, created_ms, format!("v{version}")));
    }

    /// The blob's current ETag, as a BlobCreated event of its last `put` names it.
    pub fn etag(&self, blob: &BlobName) -> Option<String> {
        self.blobs.lock().unwrap().get(blob).map(|(_, _, etag)| etag.clone())
    }

    /// Properties requests and range reads answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn delete(&self, blob: &BlobName) {
        self.blobs.lock().unwrap().remove(blob);
    }

    pub fn content(&self, blob: &BlobName) -> Option<Vec<u8>> {
        self.blobs.lock().unwrap().get(blob).map(|(c, _, _)| c.clone())
    }

    fn stat(&self, blob: &BlobName) -> ServiceResult<BlobProperties> {
        let blobs = self.blobs.lock().unwrap();
        let (content, created_ms, _) =
            blobs.get(blob).ok_or_else(|| ServiceError::not_found(format!("blob {blob}")))?;
        Ok(BlobProperties { content_length: content.len() as u64, created_ms: *created_ms })
    }

    fn slice(&self, blob: &BlobName, range: Range<u64>) -> ServiceResult<ChunkStream> {
        let data = {
            let blobs = self.blobs.lock().unwrap();
            let (content, _, _) = blobs.get(blob).ok_or_else(|| ServiceError::not_found(format!("blob {blob}")))?;
            if range.end > content.len() as u64 || range.start > range.end {
                return Err(ServiceError::permanent(format!(
                    "range {}..{} outside blob {blob} of {} bytes",
                    range.start,
                    range.end,
                    content.len()
                )));
            }
            Bytes::copy_from_slice(&content[range.start as usize..range.end as usize])
        };
        let size = self.chunk_size.unwrap_or(data.len().max(1));
        let chunks: Vec<ServiceResult<Bytes>> =
            (0..data.len()).step_by(size).map(|i| Ok(data.slice(i..(i + size).min(data.len())))).collect();
        Ok(futures::stream::iter(chunks).boxed())
    }
}

impl BlobStore for MemoryBlobStore {
    async fn properties(&self, blob: &BlobName) -> ServiceResult<BlobProperties> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.stat(blob)
    }

    async fn read_range(&self, blob: &BlobName, range: Range<u64>) -> ServiceResult<ChunkStream> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.slice(blob, range)
    }

    fn checks_content(&self) -> bool {
        self.checks_content
    }

    /// As the seam's default (properties, then the range), with the version read: one request,
    /// as Azure's ranged GET answers. The ETag is read first: a `put` in between then makes
    /// it older than the bytes, never newer (a newer one would name bytes not read).
    async fn read_from(&self, blob: &BlobName, start: u64) -> ServiceResult<TailRead> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let etag = self.etag(blob);
        let properties = self.stat(blob)?;
        let chunks = if start < properties.content_length {
            Some(self.slice(blob, start..properties.content_length)?)
        } else {
            None
        };
        Ok(TailRead { properties, chunks, etag })
    }

    async fn list(&self, prefix: &str) -> ServiceResult<Vec<BlobListing>> {
        let blobs = self.blobs.lock().unwrap();
        Ok(blobs
            .iter()
            .filter(|(name, _)| name.as_str().starts_with(prefix) && name.as_str().ends_with("PT1H.json"))
            .map(|(name, (content, created_ms, _))| BlobListing {
                blob: name.clone(),
                properties: BlobProperties { content_length: content.len() as u64, created_ms: *created_ms },
            })
            .collect())
    }
}
