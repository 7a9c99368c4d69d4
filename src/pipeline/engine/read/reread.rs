//! Step 2, continued: the second read of a record whose header fields come after its tuples.
//! Its rows wait for those fields, so instead of keeping its tuples the first read only counts
//! them, and its bytes `[start, end)` are read again here, through the blob store, once the
//! header is known. Flushes happen as in the first read, so such a record costs no more memory
//! than any other.
use futures::StreamExt;

use super::deliver::Flush;
use super::{BlobRead, Delivered};
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::Engine;
use crate::pipeline::engine::collector::feed_slice;
use crate::pipeline::error::{ServiceError, ServiceResult};
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Reads [`RangeFlattener::reread_range`](crate::domain::flatten::RangeFlattener::reread_range)
    /// of the blob again into the read's parser, delivering whenever the buffer fills;
    /// `Superseded` when a delivery found another worker's commit past ours.
    pub(super) async fn reread(&self, read: &mut BlobRead<'_>) -> ServiceResult<Delivered> {
        let Some(range) = read.flattener.reread_range() else { return Ok(Delivered::Ours) };
        let blob = read.blob;
        let what = || format!("reading {blob} again at byte {}", range.start);
        let mut chunks = self.bounded(what, self.blobs.read_range(blob, range.clone())).await?;
        while read.flattener.reread_range().is_some() {
            let Some(chunk) = self.bounded(what, async { Ok(chunks.next().await) }).await? else {
                return Err(ServiceError::transient(format!(
                    "blob {blob}: the second read of the record at byte {} ended early",
                    range.start
                )));
            };
            let chunk = chunk?;
            self.metrics.bytes_read.inc_by(chunk.len() as u64);
            for piece in chunk.chunks(feed_slice(self.cfg.flush_bytes)) {
                let progress = read.flattener.push_reread(piece, &mut read.collector);
                self.metrics.records.inc_by(progress.records);
                if read.collector.buffered_bytes() >= self.cfg.flush_bytes
                    && self.deliver(read, Flush::Full).await? == Delivered::Superseded
                {
                    return Ok(Delivered::Superseded);
                }
            }
        }
        Ok(Delivered::Ours)
    }
}

#[cfg(test)]
#[path = "reread_tests.rs"]
mod tests;
