//! Incremental flattening of a byte range that arrives in chunks, with bounded buffering.
//!
//! Holds only the bytes of an incomplete record between calls; everything before
//! [`RangeFlattener::offset`] has been turned into rows or reported as an error.
use crate::domain::format::RowVisitor;
use crate::domain::format::framing::{Progress, frame_and_flatten};
use crate::domain::ids::RowIds;

pub struct RangeFlattener {
    blob: RowIds,
    buf: Vec<u8>,
    base: u64,
    total: Progress,
}

impl RangeFlattener {
    /// Starts at byte `start` of the blob (a stored offset: 0 or the end of a record).
    pub fn new(blob: RowIds, start: u64) -> Self {
        RangeFlattener { blob, buf: Vec::new(), base: start, total: Progress::default() }
    }

    pub fn blob(&self) -> &RowIds {
        &self.blob
    }

    /// Feeds the next bytes of the range; `is_final` on the last chunk. Rows and errors go to
    /// `visitor` as soon as their records are complete.
    pub fn push<V: RowVisitor + ?Sized>(&mut self, chunk: &[u8], is_final: bool, visitor: &mut V) -> Progress {
        let p = if self.buf.is_empty() {
            // Fast path: frame straight from the chunk and keep only its unconsumed tail.
            let p = frame_and_flatten(&self.blob, chunk, self.base, is_final, visitor);
            self.buf.extend_from_slice(&chunk[p.consumed..]);
            p
        } else {
            self.buf.extend_from_slice(chunk);
            let p = frame_and_flatten(&self.blob, &self.buf, self.base, is_final, visitor);
            self.buf.drain(..p.consumed);
            p
        };
        self.base += p.consumed as u64;
        self.total.consumed += p.consumed;
        self.total.records += p.records;
        self.total.rows += p.rows;
        self.total.record_errors += p.record_errors;
        p
    }

    /// The blob offset up to which everything is handled: the next stored offset.
    pub fn offset(&self) -> u64 {
        self.base
    }

    /// Bytes held back because their record is not complete yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// True when the held-back bytes are a record still being written, not just the `]}` tail.
    pub fn has_partial_record(&self) -> bool {
        !crate::domain::format::framing::is_blank_or_tail(&self.buf)
    }

    pub fn total(&self) -> Progress {
        self.total
    }
}
