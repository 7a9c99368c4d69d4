//! Incremental flattening of a byte range that arrives in chunks, in memory independent of
//! record size: rows are visited as their tuples are parsed, and between chunks only parser
//! state is kept, never a record's bytes or rows.
//!
//! Everything before [`RangeFlattener::offset`] has been turned into rows or reported as an
//! error; rows of a record still being parsed may already have been visited (see
//! [`RowVisitor::record_end`]).
//!
//! A caller that can read bytes of the blob again ([`RangeFlattener::with_rereads`]) keeps that
//! bound for records whose header fields come after their tuples too: such a record is read twice.
use std::ops::Range;

use crate::domain::format::framing::{Framer, Progress};
use crate::domain::format::{GroupCtx, RecordCtx, RecordError, RowVisitor, Tuple, TupleError};
use crate::domain::ids::RowIds;

pub struct RangeFlattener {
    blob: RowIds,
    framer: Framer,
    total: Progress,
    open: OpenRecord,
}

/// The record being parsed past the offset: which of its tuples were visited, and which of
/// its rows to leave out because an earlier read delivered them.
#[derive(Default)]
struct OpenRecord {
    /// Tuples (rows or errors) of the open record visited so far: ordinals `0..seen`.
    seen: u32,
    /// Rows of the first record of the range with an ordinal below this are not visited.
    skip: u32,
    /// The range starts at 0 and the blob's head is not framed yet.
    head: bool,
    /// A record has ended since the range started: skipping is over.
    past_first: bool,
}

/// The caller's visitor behind the open-record bookkeeping.
struct Tracking<'a, V: ?Sized> {
    inner: &'a mut V,
    open: &'a mut OpenRecord,
}

impl<V: RowVisitor + ?Sized> Tracking<'_, V> {
    /// Notes a visited tuple; true when its row is one to leave out.
    fn note(&mut self, ordinal: u32) -> bool {
        self.open.seen = self.open.seen.max(ordinal.saturating_add(1));
        !self.open.past_first && ordinal < self.open.skip
    }
}

impl<V: RowVisitor + ?Sized> RowVisitor for Tracking<'_, V> {
    fn record(&mut self, record: &RecordCtx<'_>) {
        self.inner.record(record)
    }
    fn group(&mut self, record: &RecordCtx<'_>, group: &GroupCtx<'_>) {
        self.inner.group(record, group)
    }
    fn row(&mut self, record: &RecordCtx<'_>, group: &GroupCtx<'_>, tuple: &Tuple<'_>) {
        if !self.note(tuple.ordinal) {
            self.inner.row(record, group, tuple)
        }
    }
    fn row_pair(&mut self, record: &RecordCtx<'_>, group: &GroupCtx<'_>, a: &Tuple<'_>, b: &Tuple<'_>) {
        match (self.note(a.ordinal), self.note(b.ordinal)) {
            (false, false) => self.inner.row_pair(record, group, a, b),
            (false, true) => self.inner.row(record, group, a),
            (true, false) => self.inner.row(record, group, b),
            (true, true) => {}
        }
    }
    fn tuple_error(&mut self, error: TupleError) {
        // Only rows are left out: an open record's bad tuples were never delivered (they go out
        // with the record's end), so they are produced again.
        self.note(error.ordinal);
        self.inner.tuple_error(error)
    }
    fn record_error(&mut self, error: RecordError) {
        self.inner.record_error(error)
    }
    fn record_end(&mut self) {
        // The first end of a range from 0 is the head's.
        if !std::mem::take(&mut self.open.head) {
            self.open.past_first = true;
        }
        self.open.seen = 0;
        self.inner.record_end()
    }
}

impl RangeFlattener {
    /// Starts at byte `start` of the blob (a stored offset: 0 or the end of a record).
    pub fn new(blob: RowIds, start: u64) -> Self {
        RangeFlattener {
            blob,
            framer: Framer::new(start),
            total: Progress::default(),
            open: OpenRecord { head: start == 0, ..OpenRecord::default() },
        }
    }

    /// The caller can read a record's bytes again: a record whose rows wait for header fields
    /// after its tuples is counted, not kept, and after its end [`Self::reread_range`] names its
    /// bytes, to be given to [`Self::push_reread`] before anything more is pushed. Without it
    /// (input that cannot be read twice, such as a pipe) such a record keeps its tuples' text
    /// until its end.
    pub fn with_rereads(mut self) -> Self {
        self.framer.set_rereads(true);
        self
    }

    /// Leaves out the rows of the first `tuples` tuples of the record that starts after
    /// `start`: an earlier read delivered them while that record was still open.
    pub fn skip_delivered(mut self, tuples: u32) -> Self {
        self.open.skip = tuples;
        self
    }

    /// Tuples of the record past [`Self::offset`] whose rows or errors were visited (the
    /// record is not complete yet): ordinals `0..n`, including rows left out by
    /// [`Self::skip_delivered`].
    pub fn open_tuples(&self) -> u32 {
        self.open.seen.max(if self.open.past_first { 0 } else { self.open.skip })
    }

    pub fn blob(&self) -> &RowIds {
        &self.blob
    }

    /// Feeds the next bytes of the range; `is_final` on the last chunk. Rows and errors go to
    /// `visitor` as soon as their tuples and records are parsed.
    pub fn push<V: RowVisitor + ?Sized>(&mut self, chunk: &[u8], is_final: bool, visitor: &mut V) -> Progress {
        let mut tracking = Tracking { inner: visitor, open: &mut self.open };
        let p = self.framer.push(&self.blob, chunk, is_final, &mut tracking);
        self.total.add(p);
        p
    }

    /// The bytes of the blob to read again, when a record's rows come from a second read: give
    /// them to [`Self::push_reread`], then push the data [`Progress::taken`] left.
    pub fn reread_range(&self) -> Option<Range<u64>> {
        self.framer.reread_range()
    }

    /// The next bytes of [`Self::reread_range`]; rows go to `visitor` as with [`Self::push`].
    pub fn push_reread<V: RowVisitor + ?Sized>(&mut self, chunk: &[u8], visitor: &mut V) -> Progress {
        let mut tracking = Tracking { inner: visitor, open: &mut self.open };
        let p = self.framer.push_reread(&self.blob, chunk, &mut tracking);
        self.total.add(p);
        p
    }

    /// Pushes `chunk` whole, reading records again where needed from `whole`, the blob's bytes
    /// from offset 0 (of which `chunk` is a part): for callers that hold the blob in memory.
    pub fn push_all<V: RowVisitor + ?Sized>(
        &mut self,
        whole: &[u8],
        mut chunk: &[u8],
        is_final: bool,
        visitor: &mut V,
    ) -> Progress {
        let mut total = Progress::default();
        loop {
            let p = self.push(chunk, is_final, visitor);
            total.add(p);
            chunk = &chunk[p.taken..];
            let Some(range) = self.reread_range() else { return total };
            total.add(self.push_reread(&whole[range.start as usize..range.end as usize], visitor));
        }
    }

    /// Bytes the flattener keeps between chunks (see [`Framer::retained`]).
    pub fn retained(&self) -> usize {
        self.framer.retained()
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
