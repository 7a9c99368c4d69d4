//! Turning a record's tuple strings into visited rows: at once while every value the rows carry
//! is known, otherwise buffered until the record ends.
//!
//! Azure writes a record's header fields before its flows, so rows normally stream. When a field
//! rows depend on has not been seen by the time tuples start (JSON does not fix key order), the
//! rest of the record's tuples are kept, as text, until its closing brace: only that unusual
//! shape costs memory proportional to the record. A parser that may read the record again
//! ([`Emitter::set_defer`]) keeps nothing but the values of each flow group instead, and reports at
//! the record's end that its rows come from a second read, primed with what the first one found
//! (see [`super::stream::Primed`]).
use super::Layout;
use super::error::{TupleError, TupleErrorReason};
use super::record::{GroupCtx, Header, RecordCtx, RowVisitor, Seen, group_ctx};
use super::tuple::parse_tuple_bytes;
use crate::domain::ids::RowIds;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// No tuple yet.
    #[default]
    Idle,
    /// Rows are visited as tuples complete.
    Streaming(Layout),
    /// Tuples are kept until the record ends.
    Buffering,
    /// Tuples are only counted: their rows come from a second read of the record.
    Counting,
}

/// A flow group whose tuples are buffered; its values are filled in when its objects close.
#[derive(Debug, Default)]
pub(super) struct BufGroup {
    /// Index of its first tuple in `Emitter::tuples`.
    first: usize,
    pub(super) rule: Option<String>,
    pub(super) acl: Option<String>,
    pub(super) mac: Option<String>,
}

impl BufGroup {
    fn text_len(&self) -> usize {
        [&self.rule, &self.acl, &self.mac].iter().map(|v| v.as_ref().map_or(0, String::capacity)).sum()
    }
}

#[derive(Debug)]
struct BufTuple {
    /// End of its text in `Emitter::text`.
    end: usize,
    /// Full length when the text was cut at the string cap.
    too_long: Option<usize>,
}

/// Buffers larger than this are released after their record instead of kept for the next one.
const KEEP_CAPACITY: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct Emitter {
    mode: Mode,
    /// `RowVisitor::record` was called for the current record.
    recorded: bool,
    /// Ordinal of the next tuple of the record.
    ordinal: u32,
    /// Ordinal of the first buffered tuple.
    buffered_from: u32,
    pub rows: u64,
    /// Count tuples instead of keeping them when rows would have to wait for the record's end.
    defer: bool,
    /// `flowTuples` arrays started in the record so far, and how many had started when rows
    /// began to wait (those before streamed).
    started: usize,
    streamed: usize,
    groups: Vec<BufGroup>,
    tuples: Vec<BufTuple>,
    text: Vec<u8>,
}

/// Where the tuples of the current flow group go.
pub struct TupleSink<'a> {
    emit: &'a mut Emitter,
    rows: Option<(RecordCtx<'a>, GroupCtx<'a>)>,
}

impl TupleSink<'_> {
    pub fn tuple<V: RowVisitor + ?Sized>(&mut self, text: &[u8], v: &mut V) {
        match &self.rows {
            Some((record, group)) => {
                let ordinal = self.emit.next_ordinal();
                if visit(record, group, text, ordinal, None, v) {
                    self.emit.rows += 1;
                }
            }
            None => self.emit.buffer_tuple(text, None),
        }
    }

    /// Two consecutive tuple strings: as two [`Self::tuple`] calls, with the rows handed over
    /// together when both parse.
    pub fn tuple_pair<V: RowVisitor + ?Sized>(&mut self, a: &[u8], b: &[u8], v: &mut V) {
        let Some((record, group)) = &self.rows else {
            self.emit.buffer_tuple(a, None);
            self.emit.buffer_tuple(b, None);
            return;
        };
        let (oa, ob) = (self.emit.next_ordinal(), self.emit.next_ordinal());
        match (parse_tuple_bytes(record.layout, a, oa), parse_tuple_bytes(record.layout, b, ob)) {
            (Ok(ta), Ok(tb)) => {
                v.row_pair(record, group, &ta, &tb);
                self.emit.rows += 2;
            }
            _ => {
                // One is bad: each on its own, in order (parsing again is the rare path).
                for (text, ordinal) in [(a, oa), (b, ob)] {
                    if visit(record, group, text, ordinal, None, v) {
                        self.emit.rows += 1;
                    }
                }
            }
        }
    }

    /// A tuple string longer than the cap (`len` bytes): an error in its place, with its first bytes.
    pub fn too_long<V: RowVisitor + ?Sized>(&mut self, text: &[u8], len: usize, v: &mut V) {
        match &self.rows {
            Some((record, group)) => {
                let ordinal = self.emit.next_ordinal();
                visit(record, group, text, ordinal, Some(len), v);
            }
            None => self.emit.buffer_tuple(text, Some(len)),
        }
    }
}

impl Emitter {
    pub fn clear(&mut self) {
        let big = self.text.capacity() > KEEP_CAPACITY;
        let (groups, tuples, text) =
            (std::mem::take(&mut self.groups), std::mem::take(&mut self.tuples), std::mem::take(&mut self.text));
        *self = Emitter { defer: self.defer, ..Emitter::default() };
        if !big {
            (self.groups, self.tuples, self.text) = (groups, tuples, text);
            self.groups.clear();
            self.tuples.clear();
            self.text.clear();
        }
    }

    /// Whether rows that must wait for the record's end are counted (and read again) rather
    /// than kept; survives [`Self::clear`].
    pub fn set_defer(&mut self, defer: bool) {
        self.defer = defer;
    }

    /// The record ended with rows still to visit: they come from a read of it again.
    pub fn deferred(&self) -> bool {
        self.mode == Mode::Counting && self.defer
    }

    /// For a read again: whether `RowVisitor::record` was called, the groups that streamed, and
    /// the values of those that did not.
    pub(super) fn take_deferred(&mut self) -> (bool, usize, Vec<BufGroup>) {
        (self.recorded, self.streamed, std::mem::take(&mut self.groups))
    }

    /// Bytes held for rows still to visit (buffer capacity, not just use).
    pub fn retained(&self) -> usize {
        self.text.capacity()
            + self.tuples.capacity() * std::mem::size_of::<BufTuple>()
            + self.groups.capacity() * std::mem::size_of::<BufGroup>()
            + self.groups.iter().map(BufGroup::text_len).sum::<usize>()
    }

    pub fn buffered_groups(&self) -> usize {
        self.groups.len()
    }

    fn next_ordinal(&mut self) -> u32 {
        let o = self.ordinal;
        self.ordinal = self.ordinal.wrapping_add(1);
        o
    }

    /// A `flowTuples` array starts: stream its rows if every value they carry is known.
    pub fn group_start<V: RowVisitor + ?Sized>(
        &mut self,
        vnet: bool,
        header: &mut Header,
        group: &super::record::Group,
        blob: &RowIds,
        offset: u64,
        v: &mut V,
    ) {
        self.started += 1;
        if !matches!(self.mode, Mode::Buffering | Mode::Counting) {
            let layout = header.streamable(vnet).filter(|l| group.complete(*l, header));
            match (self.mode, layout) {
                (Mode::Idle, Some(layout)) => {
                    header.fix(layout);
                    v.record(&header.ctx(blob, offset));
                    self.recorded = true;
                    self.mode = Mode::Streaming(layout);
                }
                (Mode::Streaming(current), Some(layout)) if current == layout => {}
                _ => {
                    self.mode = if self.defer { Mode::Counting } else { Mode::Buffering };
                    self.buffered_from = self.ordinal;
                    self.streamed = self.started - 1;
                }
            }
            if let Mode::Streaming(layout) = self.mode {
                v.group(&header.ctx(blob, offset), &group.ctx(layout, header));
                return;
            }
        }
        self.groups.push(BufGroup { first: self.tuples.len(), ..BufGroup::default() });
    }

    /// A `flowTuples` array starts in a record read again: its values are known (`Some`), or
    /// its rows were visited by the first read (`None`: its tuples are only counted).
    pub fn primed_group_start<V: RowVisitor + ?Sized>(
        &mut self,
        rows: Option<(&RecordCtx<'_>, &GroupCtx<'_>)>,
        recorded: bool,
        v: &mut V,
    ) {
        self.started += 1;
        let Some((record, group)) = rows else {
            self.mode = Mode::Counting;
            return;
        };
        if !(recorded || self.recorded) {
            v.record(record);
        }
        self.recorded = true;
        self.mode = Mode::Streaming(record.layout);
        v.group(record, group);
    }

    /// Tuples seen in the record so far (rows, errors, counted or kept).
    pub fn tuples(&self) -> u32 {
        self.ordinal
    }

    /// `flowTuples` arrays started in the record so far.
    pub fn started(&self) -> usize {
        self.started
    }

    /// The sink for the current group's tuples.
    pub fn sink<'a>(
        &'a mut self,
        header: &'a Header,
        group: &'a super::record::Group,
        blob: &'a RowIds,
        offset: u64,
    ) -> TupleSink<'a> {
        let rows = match self.mode {
            Mode::Streaming(layout) => Some((header.ctx(blob, offset), group.ctx(layout, header))),
            _ => None,
        };
        TupleSink { emit: self, rows }
    }

    fn buffer_tuple(&mut self, text: &[u8], too_long: Option<usize>) {
        self.ordinal = self.ordinal.wrapping_add(1);
        if self.mode == Mode::Counting {
            return;
        }
        self.text.extend_from_slice(text);
        self.tuples.push(BufTuple { end: self.text.len(), too_long });
    }

    pub fn fill_rule(&mut self, from: usize, value: &Seen<String>) {
        for g in self.groups.iter_mut().skip(from) {
            g.rule = value.clone().flatten();
        }
    }

    pub fn fill_mac(&mut self, from: usize, value: &Seen<String>) {
        for g in self.groups.iter_mut().skip(from) {
            g.mac = value.clone().flatten();
        }
    }

    pub fn fill_acl(&mut self, from: usize, value: &Seen<String>) {
        for g in self.groups.iter_mut().skip(from) {
            g.acl = value.clone().flatten();
        }
    }

    /// The record's closing brace: decides its layout and visits what was buffered.
    pub fn finish<V: RowVisitor + ?Sized>(
        &mut self,
        header: &mut Header,
        blob: &RowIds,
        offset: u64,
        v: &mut V,
    ) -> Result<(), super::error::RecordErrorReason> {
        let layout = header.layout()?;
        header.fix(layout);
        if self.deferred() {
            return Ok(());
        }
        let record = header.ctx(blob, offset);
        if !self.recorded {
            v.record(&record);
            self.recorded = true;
        }
        for (g, group) in self.groups.iter().enumerate() {
            let gctx = group_ctx(layout, header, group.rule.as_deref(), group.acl.as_deref(), group.mac.as_deref());
            v.group(&record, &gctx);
            let end = self.groups.get(g + 1).map_or(self.tuples.len(), |next| next.first);
            for t in group.first..end {
                let start = if t == 0 { 0 } else { self.tuples[t - 1].end };
                let tuple = &self.tuples[t];
                let ordinal = self.buffered_from.wrapping_add(t as u32);
                if visit(&record, &gctx, &self.text[start..tuple.end], ordinal, tuple.too_long, v) {
                    self.rows += 1;
                }
            }
        }
        Ok(())
    }
}

/// Parses one tuple and visits its row or its error; true for a row.
fn visit<V: RowVisitor + ?Sized>(
    record: &RecordCtx<'_>,
    group: &GroupCtx<'_>,
    text: &[u8],
    ordinal: u32,
    too_long: Option<usize>,
    v: &mut V,
) -> bool {
    let parsed = match too_long {
        Some(len) => Err(TupleErrorReason::TooLong { len }),
        None => parse_tuple_bytes(record.layout, text, ordinal),
    };
    match parsed {
        Ok(t) => {
            v.row(record, group, &t);
            true
        }
        Err(reason) => {
            v.tuple_error(TupleError {
                blob: record.blob.name.clone(),
                record_offset: record.offset,
                ordinal,
                tuple: String::from_utf8_lossy(text).into_owned(),
                reason,
            });
            false
        }
    }
}
