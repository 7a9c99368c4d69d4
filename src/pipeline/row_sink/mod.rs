//! The row-sink seam: where flattened rows are delivered.
pub mod memory;

use std::future::Future;

use crate::domain::blob_name::BlobName;
use crate::pipeline::error::ServiceResult;

/// Rows of one blob, already encoded as NDJSON: whole lines, each ending in `\n`.
#[derive(Clone, Copy, Debug)]
pub struct RowBatch<'a> {
    pub blob: &'a BlobName,
    pub ndjson: &'a [u8],
    pub rows: usize,
}

pub trait RowSink: Send + Sync + 'static {
    /// Returns only when every row of `batch` is durably accepted (written and flushed, or
    /// acknowledged by the service). The engine commits offsets only after this returns `Ok`.
    fn send(&self, batch: RowBatch<'_>) -> impl Future<Output = ServiceResult<()>> + Send;
}
