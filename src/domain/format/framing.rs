//! Incremental framing: finds the records of a `{"records":[...]}` blob in its bytes as they
//! arrive, in any chunks and from any record boundary, streams each record through the record
//! parser, and reports how far the caller may advance its offset.
//!
//! Works by content, not fixed byte counts: the head, separating commas, whitespace and the `]}`
//! tail are recognised wherever a range starts and ends. Every byte is looked at once; between
//! chunks only the framing state, the record parser's state and the first [`RAW_EXCERPT`] bytes
//! of the current record (for its dead letter, should it turn out bad) are kept.
//!
//! A record whose rows wait for header fields that come after its tuples is, with
//! [`Framer::set_rereads`], not kept either: at its end the framer stops and asks for the
//! record's bytes again ([`Framer::reread_range`], fed to [`Framer::push_reread`]), and only then
//! moves on. Without it, such a record keeps its tuples' text until its end.
mod bad_stretch;
mod records;
mod resync;

use std::ops::Range;

use bad_stretch::Scan;

use super::error::{RAW_EXCERPT, RecordErrorReason};
use super::record::RowVisitor;
use super::stream::{RecordParser, Step, is_ws};
use crate::domain::ids::RowIds;
use crate::domain::magic::GZIP_MAGIC;
pub use crate::domain::magic::is_gzip;

/// What one call achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes by which the offset moved: it only ever stops just after the head, a complete
    /// record or a dead-lettered stretch.
    pub consumed: usize,
    pub records: u64,
    pub rows: u64,
    /// Records and stretches of bytes reported through `RowVisitor::record_error`.
    pub record_errors: u64,
    /// Bytes of the data given to this call that were looked at: all of them, unless a record
    /// is to be read again first ([`Framer::reread_range`]); the rest is to be given again after.
    pub taken: usize,
}

impl Progress {
    pub fn add(&mut self, other: Progress) {
        self.consumed += other.consumed;
        self.records += other.records;
        self.rows += other.rows;
        self.record_errors += other.record_errors;
        self.taken += other.taken;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Matching `HEAD[token][..at]` (only at blob offset 0).
    Head {
        token: usize,
        at: usize,
    },
    /// After the head or a record: whitespace, at most one comma, then a record or `]`.
    Between {
        comma: bool,
    },
    Record,
    /// After the closing `]`: only `}` and whitespace may follow.
    Tail,
    /// Measuring a bad stretch (see [`Scan`]).
    Scan,
    /// Byte 0 was gzip's first magic byte and the chunk ended: the next byte decides.
    MaybeGzip,
    /// A gzip-compressed blob: reported once, when first seen, then every byte is skipped.
    Gzip {
        reported: bool,
    },
    /// A record's first read ended; its rows come from the second (see [`Reread`]).
    Reread,
}

/// A record being read a second time, with what its first read found.
#[derive(Clone, Copy, Debug)]
struct Reread {
    start: u64,
    end: u64,
    /// Bytes of it fed to the second read so far.
    fed: u64,
    /// Rows the first read visited.
    rows: u64,
}

/// Frames and flattens one byte range of a blob, fed chunk by chunk.
pub struct Framer {
    state: State,
    /// Blob offset of the next byte fed.
    pos: u64,
    /// Everything before this is handled: the next stored offset.
    offset: u64,
    record_start: u64,
    parser: RecordParser,
    scan: Scan,
    /// The first bytes since `raw_base` (the offset, or the current record's start).
    raw: Vec<u8>,
    raw_base: u64,
    reread: Option<Reread>,
}

impl Framer {
    /// Starts at blob offset `start`: 0 (the head comes first) or a record boundary.
    pub fn new(start: u64) -> Self {
        Framer {
            state: if start == 0 { State::Head { token: 0, at: 0 } } else { State::Between { comma: false } },
            pos: start,
            offset: start,
            record_start: start,
            parser: RecordParser::default(),
            scan: Scan::default(),
            raw: Vec::new(),
            raw_base: start,
            reread: None,
        }
    }

    /// The caller can read a record's bytes again: rows that wait for header fields coming after
    /// the tuples are produced by a second read instead of being kept.
    pub fn set_rereads(&mut self, on: bool) {
        self.parser.set_defer(on);
    }

    /// The blob bytes to give [`Self::push_reread`] before pushing anything more.
    pub fn reread_range(&self) -> Option<Range<u64>> {
        self.reread.map(|r| r.start + r.fed..r.end)
    }

    /// The next bytes of [`Self::reread_range`]. When the record's last byte is fed, its rows
    /// have all been visited and the offset moves past it; bytes that are not the record of the
    /// first read (the blob changed in between) make it a bad record instead.
    pub fn push_reread<V: RowVisitor + ?Sized>(&mut self, blob: &RowIds, data: &[u8], v: &mut V) -> Progress {
        let mut p = Progress::default();
        let Some(r) = self.reread.as_mut() else { return p };
        let data = &data[..data.len().min((r.end - r.start - r.fed) as usize)];
        let before = r.start + r.fed;
        r.fed += data.len() as u64;
        let r = *r;
        let ok = match self.parser.feed(blob, data, v) {
            Step::More if r.start + r.fed < r.end => return p,
            Step::Done(n, Ok(())) => before + n as u64 == r.end,
            _ => false,
        };
        self.reread = None;
        self.state = State::Between { comma: false };
        let offset = self.offset;
        if ok {
            p.records += 1;
            p.rows += r.rows + self.parser.rows();
            self.boundary(r.end);
            v.record_end();
        } else {
            let reason = RecordErrorReason::Framing("the record's bytes changed between two reads of it".into());
            self.report(blob, r.start, r.end, Some(reason), v, &mut p);
        }
        p.consumed = (self.offset - offset) as usize;
        p
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes seen past the offset: a record (or separator) not complete yet.
    pub fn pending(&self) -> u64 {
        self.pos - self.offset
    }

    /// Bytes kept between calls: the record's excerpt and the parser's state.
    pub fn retained(&self) -> usize {
        self.raw.capacity() + self.parser.retained()
    }

    /// True when the bytes past the offset are more than whitespace and the `]}` tail.
    pub fn has_partial_record(&self) -> bool {
        match self.state {
            State::Head { token, at } => token > 0 || at > 0,
            State::MaybeGzip => true,
            State::Between { comma } => comma,
            State::Tail | State::Gzip { .. } => false,
            State::Record | State::Scan | State::Reread => true,
        }
    }

    /// Feeds the next bytes; `is_final` says no more bytes of this range follow, so a bad
    /// stretch still open at the end ends there (a record still open is just incomplete).
    pub fn push<V: RowVisitor + ?Sized>(&mut self, blob: &RowIds, data: &[u8], is_final: bool, v: &mut V) -> Progress {
        let before = self.offset;
        let mut p = Progress::default();
        let mut i = 0;
        while i < data.len() && self.state != State::Reread {
            i = match self.state {
                State::Head { .. } => self.head(data, i, v),
                State::MaybeGzip => {
                    // Byte 0 (kept, consumed) starts the gzip report or the bad stretch.
                    if data[i] == GZIP_MAGIC[1] {
                        self.state = State::Gzip { reported: false };
                    } else {
                        self.start_garbage();
                    }
                    i
                }
                State::Between { comma } => self.between(data, i, comma),
                State::Record => self.record(blob, data, i, v, &mut p),
                State::Tail => {
                    let start = i;
                    while i < data.len() && (data[i] == b'}' || is_ws(data[i])) {
                        i += 1;
                    }
                    self.keep(&data[start..i]);
                    if i < data.len() {
                        self.start_garbage();
                    }
                    i
                }
                State::Scan => self.scan(blob, data, i, v, &mut p),
                State::Gzip { .. } => {
                    self.keep(&data[i..]);
                    data.len()
                }
                State::Reread => unreachable!("the loop stops for a read again"),
            };
        }
        self.pos += i as u64;
        p.taken = i;
        if is_final && self.state == State::MaybeGzip {
            // What the whole range in one chunk gives: one byte of gzip's magic and nothing after.
            self.state = State::Gzip { reported: false };
        }
        if let State::Gzip { reported } = self.state {
            // Nothing in it can be framed: the offset moves past every byte seen, and the blob
            // is dead-lettered once, with its first bytes, instead of waiting for a record forever.
            if reported {
                self.boundary(self.pos);
                v.record_end();
            } else {
                self.report(blob, 0, self.pos, Some(RecordErrorReason::Gzip), v, &mut p);
                self.state = State::Gzip { reported: true };
            }
        }
        if is_final && self.state == State::Scan {
            let reason = self.scan.reason.take();
            self.report(blob, self.scan.start, self.pos, reason, v, &mut p);
            self.state = State::Between { comma: false };
        }
        p.consumed = (self.offset - before) as usize;
        p
    }

    fn at(&self, i: usize) -> u64 {
        self.pos + i as u64
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = RAW_EXCERPT.saturating_sub(self.raw.len());
        if room > 0 {
            self.raw.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    fn boundary(&mut self, at: u64) {
        self.offset = at;
        self.raw.clear();
        self.raw_base = at;
    }
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "reread_tests.rs"]
mod reread_tests;
