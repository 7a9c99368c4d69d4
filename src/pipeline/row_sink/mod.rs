//! The row-sink seam: where flattened rows are delivered.
pub mod memory;

use std::future::Future;

use bytes::Bytes;

use crate::domain::blob_name::BlobName;
use crate::pipeline::error::ServiceResult;

/// Rows of one blob, already encoded as NDJSON: whole lines, each ending in `\n`, in one or more
/// segments of whole lines. Owned, so a sink hands the bytes on (to a blocking writer, or as
/// event bodies) without copying them.
#[derive(Clone, Debug)]
pub struct RowBatch<'a> {
    pub blob: &'a BlobName,
    pub segments: Vec<Bytes>,
    pub rows: usize,
}

impl<'a> RowBatch<'a> {
    /// One segment.
    pub fn new(blob: &'a BlobName, ndjson: impl Into<Bytes>, rows: usize) -> Self {
        RowBatch { blob, segments: vec![ndjson.into()], rows }
    }

    /// Bytes in all segments.
    pub fn len(&self) -> usize {
        self.segments.iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(Bytes::is_empty)
    }

    /// True when every non-empty segment ends with a newline (so the batch is whole lines).
    pub fn whole_lines(&self) -> bool {
        self.segments.iter().all(|s| s.is_empty() || s.ends_with(b"\n"))
    }
}

pub trait RowSink: Send + Sync + 'static {
    /// Largest segment the sink sends as it is (one Event Hubs event, say): the engine cuts rows
    /// into segments of at most this many bytes as it encodes them, so nothing is copied to
    /// split them later. `None`: any size.
    fn segment_bytes(&self) -> Option<usize> {
        None
    }

    /// Uncompressed bytes of rows that make one output event, when the sink knows better than
    /// `segment_bytes` (a compressing sink: rows of several segments per event). The engine packs
    /// rows of many blobs into events of this size. `None`: a few flushes' worth.
    fn event_bytes(&self) -> Option<usize> {
        self.segment_bytes()
    }

    /// True when `send` keeps no reference to the batch's segments once it returns (it only
    /// reads them, say to compress them into bodies of its own). The engine then keeps each
    /// output event's buffer and fills it again with later rows, instead of writing rows into
    /// fresh memory event after event. A sink that hands the segments on (as event bodies, to a
    /// writer) says false: a buffer the engine still held would have to be copied there.
    fn reads_segments_only(&self) -> bool {
        false
    }

    /// Returns only when every row of `batch` is durably accepted (written and flushed, or
    /// acknowledged by the service). The engine commits offsets only after this returns `Ok`.
    fn send(&self, batch: RowBatch<'_>) -> impl Future<Output = ServiceResult<()>> + Send;

    /// True once the output can take no rows ever again (its reader went away): a blob that
    /// fails then is not at fault, so the engine stops without dead-lettering or acknowledging it.
    fn closed(&self) -> bool {
        false
    }
}
