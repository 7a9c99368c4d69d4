//! Step 2 of a blob's read: the planned range streamed through the parser, chunk by chunk, into
//! rows and dead letters; each time they fill a flush, steps 3 and 4 run for them before the
//! stream goes on.
//!
//! A [`RangedRead`] is one ranged read of the blob and how far it got. The step reads one, from
//! the offset to the planned end; a record whose header fields came after its tuples is read
//! once more from its start (`reread.rs`) when the parser asks, and the stream goes on after it.
use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;

use super::deliver::Flush;
use super::{BlobRead, Delivered};
use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::{BlobStore, ChunkStream};
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::collector::feed_slice;
use crate::pipeline::engine::{Engine, heavy};
use crate::pipeline::error::{ServiceError, ServiceResult};
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

/// One ranged read of a blob and how far it got.
pub(super) struct RangedRead {
    chunks: ChunkStream,
    range: Range<u64>,
    /// Bytes of the range taken so far.
    read: u64,
}

impl RangedRead {
    fn position(&self) -> u64 {
        self.range.start + self.read
    }

    fn left(&self) -> u64 {
        self.range.end - self.position()
    }

    fn len(&self) -> u64 {
        self.range.end - self.range.start
    }
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Streams the planned range into the read's parser, delivering as the buffer fills;
    /// `Superseded` when a delivery found another worker's commit past ours.
    pub(super) async fn stream(
        &self,
        read: &mut BlobRead<'_>,
        prefetched: Option<ChunkStream>,
    ) -> ServiceResult<Delivered> {
        let mut ranged = self.open_range(read.blob, read.range.clone(), prefetched).await?;
        while let Some(chunk) = self.next_chunk(read, &mut ranged).await? {
            if self.feed(read, &chunk, ranged.left()).await? == Delivered::Superseded {
                return Ok(Delivered::Superseded);
            }
            if read.content.unwritten().is_some() {
                break;
            }
        }
        self.end_stream(read, &ranged)?;
        Ok(Delivered::Ours)
    }

    /// A ranged read of `range`: the bytes the plan already holds, else a new request.
    async fn open_range(
        &self,
        blob: &BlobName,
        range: Range<u64>,
        prefetched: Option<ChunkStream>,
    ) -> ServiceResult<RangedRead> {
        let chunks = match prefetched {
            Some(chunks) => chunks,
            None => self.bounded(|| format!("reading {blob}"), self.blobs.read_range(blob, range.clone())).await?,
        };
        Ok(RangedRead { chunks, range, read: 0 })
    }

    /// The next chunk, cut where bytes not written yet begin (see `ContentCheck::screen`).
    async fn next_chunk(&self, read: &mut BlobRead<'_>, ranged: &mut RangedRead) -> ServiceResult<Option<Bytes>> {
        let (blob, at) = (read.blob, ranged.position());
        let next = self.bounded(|| format!("reading {blob} at byte {at}"), async { Ok(ranged.chunks.next().await) });
        let Some(chunk) = next.await? else { return Ok(None) };
        let mut chunk = chunk?;
        read.content.screen(&mut chunk, at);
        ranged.read += chunk.len() as u64;
        if ranged.read > ranged.len() {
            let total = ranged.len();
            return Err(ServiceError::permanent(format!("blob {blob}: read returned more than {total} bytes")));
        }
        self.metrics.bytes_read.inc_by(chunk.len() as u64);
        Ok(Some(chunk))
    }

    /// Feeds one chunk, with `left` bytes of the range after it, to the parser in slices, which
    /// lets the buffer be flushed near `flush_bytes` whatever the store's chunk size.
    async fn feed(&self, read: &mut BlobRead<'_>, chunk: &[u8], left: u64) -> ServiceResult<Delivered> {
        let slice = feed_slice(self.cfg.flush_bytes);
        let pieces = chunk.len().div_ceil(slice).max(1);
        // Only a store whose blobs are written whole may have the parser judge the range's end.
        let ends_blob = self.blobs.atomic_commits() && left == 0;
        for (i, piece) in chunk.chunks(slice).chain(chunk.is_empty().then_some(&[][..])).enumerate() {
            read.content.observe(piece);
            read.collector.reserve(left + piece.len() as u64);
            // The parser stops inside the piece when a record must be read again; the rest of
            // the piece follows that second read.
            let mut rest = piece;
            loop {
                let last = ends_blob && i + 1 == pieces;
                let (flattener, collector) = (&mut read.flattener, &mut read.collector);
                let progress = heavy::run(rest.len(), || flattener.push(rest, last, collector));
                self.metrics.records.inc_by(progress.records);
                if self.reread(read).await? == Delivered::Superseded {
                    return Ok(Delivered::Superseded);
                }
                read.content.advance(read.flattener.offset());
                if read.collector.buffered_bytes() >= self.cfg.flush_bytes
                    && self.deliver(read, Flush::Full).await? == Delivered::Superseded
                {
                    return Ok(Delivered::Superseded);
                }
                rest = &rest[progress.taken..];
                if rest.is_empty() {
                    break;
                }
            }
        }
        Ok(Delivered::Ours)
    }

    /// The range ended, or stopped at bytes not written yet: a read cut short otherwise is
    /// transient. The rows of a record left incomplete are dropped (a later read makes them again).
    fn end_stream(&self, read: &mut BlobRead<'_>, ranged: &RangedRead) -> ServiceResult<()> {
        let blob = read.blob;
        if let Some(at) = read.content.unwritten() {
            self.metrics.unwritten_waits.inc();
            let end = ranged.range.end;
            tracing::warn!(blob = %blob, at, end, "blob has NUL bytes not yet written (filled out of order?); reading stops there until they are");
        } else if ranged.left() > 0 {
            let (read, total) = (ranged.read, ranged.len());
            return Err(ServiceError::transient(format!("blob {blob}: read ended after {read} of {total} bytes")));
        }
        if read.flattener.has_partial_record() {
            read.collector.drop_incomplete();
        }
        // Every row is encoded: the writer's warm address cache goes to the next read.
        self.enrichment.give_back(read.collector.take_writer());
        Ok(())
    }
}
