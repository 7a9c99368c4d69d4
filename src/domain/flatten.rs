//! Incremental flattening of a byte range that arrives in chunks, in memory independent of
//! record size: rows are visited as their tuples are parsed, and between chunks only parser
//! state is kept, never a record's bytes or rows.
//!
//! Everything before [`RangeFlattener::offset`] has been turned into rows or reported as an
//! error; rows of a record still being parsed may already have been visited (see
//! [`RowVisitor::record_end`]).
use crate::domain::format::RowVisitor;
use crate::domain::format::framing::{Framer, Progress};
use crate::domain::ids::RowIds;

pub struct RangeFlattener {
    blob: RowIds,
    framer: Framer,
    total: Progress,
}

impl RangeFlattener {
    /// Starts at byte `start` of the blob (a stored offset: 0 or the end of a record).
    pub fn new(blob: RowIds, start: u64) -> Self {
        RangeFlattener { blob, framer: Framer::new(start), total: Progress::default() }
    }

    pub fn blob(&self) -> &RowIds {
        &self.blob
    }

    /// Feeds the next bytes of the range; `is_final` on the last chunk. Rows and errors go to
    /// `visitor` as soon as their tuples and records are parsed.
    pub fn push<V: RowVisitor + ?Sized>(&mut self, chunk: &[u8], is_final: bool, visitor: &mut V) -> Progress {
        let p = self.framer.push(&self.blob, chunk, is_final, visitor);
        self.total.add(p);
        p
    }

    /// The blob offset up to which everything is handled: the next stored offset.
    pub fn offset(&self) -> u64 {
        self.framer.offset()
    }

    /// Bytes seen past the offset, whose record is not complete yet.
    pub fn pending(&self) -> usize {
        self.framer.pending() as usize
    }

    /// True when the bytes past the offset are a record still being written, not just the `]}` tail.
    pub fn has_partial_record(&self) -> bool {
        self.framer.has_partial_record()
    }

    pub fn total(&self) -> Progress {
        self.total
    }
}
