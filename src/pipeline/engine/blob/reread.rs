//! The second read of a record whose header fields come after its tuples: its rows wait for
//! those fields, so instead of keeping its tuples the first read only counts them, and its bytes
//! are read again here, through the blob store, once the header is known. Flushes happen as in
//! the first read, so such a record costs no more memory than any other.
use futures::StreamExt;

use super::{Cursor, Engine};
use crate::domain::flatten::RangeFlattener;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::collector::{Collector, feed_slice};
use crate::pipeline::engine::content::Marker;
use crate::pipeline::error::{ServiceError, ServiceResult};
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Reads [`RangeFlattener::reread_range`] of `blob` again into `flattener`. Returns the rows
    /// delivered by flushes on the way, or `None` when another worker committed past us.
    pub(super) async fn reread(
        &self,
        blob: &crate::domain::blob_name::BlobName,
        flattener: &mut RangeFlattener,
        collector: &mut Collector,
        cursor: &mut Cursor,
        marker: Option<&Marker>,
    ) -> ServiceResult<Option<u64>> {
        let Some(range) = flattener.reread_range() else { return Ok(Some(0)) };
        let what = || format!("reading {blob} again at byte {}", range.start);
        let mut stream = self.bounded(what, self.blobs.read_range(blob, range.clone())).await?;
        let mut rows = 0;
        while flattener.reread_range().is_some() {
            let Some(chunk) = self.bounded(what, async { Ok(stream.next().await) }).await? else {
                return Err(ServiceError::transient(format!(
                    "blob {blob}: the second read of the record at byte {} ended early",
                    range.start
                )));
            };
            let chunk = chunk?;
            self.metrics.bytes_read.inc_by(chunk.len() as u64);
            for piece in chunk.chunks(feed_slice(self.cfg.flush_bytes)) {
                let p = flattener.push_reread(piece, collector);
                self.metrics.records.inc_by(p.records);
                match self.flush_full(blob, cursor, collector, flattener, marker).await? {
                    Some(n) => rows += n,
                    None => return Ok(None),
                }
            }
        }
        Ok(Some(rows))
    }

    /// Delivers what is buffered once it reaches `flush_bytes`, possibly in the middle of a
    /// record: its rows go now, its offset when it ends; how many of its tuples went is
    /// committed with the offset, so a later read of the record does not send them again.
    /// Returns the rows delivered (0 below the threshold), or `None` when superseded.
    pub(super) async fn flush_full(
        &self,
        blob: &crate::domain::blob_name::BlobName,
        cursor: &mut Cursor,
        collector: &mut Collector,
        flattener: &RangeFlattener,
        marker: Option<&Marker>,
    ) -> ServiceResult<Option<u64>> {
        if collector.buffered_bytes() < self.cfg.flush_bytes {
            return Ok(Some(0));
        }
        let open = flattener.open_tuples();
        let commit = flattener.offset() > cursor.state.offset || open > cursor.state.open_tuples;
        let marks = marker.and_then(|m| m.marks_at(flattener.offset()));
        let at = (flattener.offset(), open);
        self.deliver(blob, cursor, collector, at, marks, commit, true).await
    }
}

#[cfg(test)]
#[path = "reread_tests.rs"]
mod tests;
