//! Streaming parser of one flow-log record: JSON tokens are consumed once, in whatever chunks they
//! arrive, and each flow tuple becomes a row as soon as its closing quote is seen.
//!
//! Only parser state survives a chunk: the stack of open containers (at most [`MAX_DEPTH`]), the
//! header and group values rows carry, and the bytes of one string cut by a chunk edge (at most
//! [`MAX_STRING`]). Unknown keys are skipped without being kept. Header fields that come after
//! the tuples (JSON does not fix key order; Azure writes them first) make the record buffer its
//! tuples until its end (see [`super::emit`]), or, for a caller that can read the record's bytes
//! again ([`RecordParser::set_defer`]), only count them: the record's end then yields a
//! [`Primed`] state, and the second read, started with it, visits the rows.
use memchr::memchr2;

mod containers;
mod primed;
mod scalars;
mod shape;
mod values;

pub use primed::Primed;
use shape::{Frame, Slot};

use super::emit::Emitter;
use super::error::RecordErrorReason;
use super::record::{Group, Header, RowVisitor};
use crate::domain::ids::RowIds;

/// Nesting limit, as serde_json's: deeper input is an error, not unbounded state.
pub const MAX_DEPTH: usize = 128;
/// Longest string value kept; longer tuples are errors and longer header values fail the record.
pub const MAX_STRING: usize = 64 * 1024;

/// How feeding bytes ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Every byte was consumed; the record continues.
    More,
    /// The record's closing brace was the last of the first `n` bytes; `Err` when the complete
    /// record turned out unusable (unknown format or version, both NSG and VNet fields).
    Done(usize, Result<(), RecordErrorReason>),
    /// The record is malformed from byte `at` on. `depth` containers were open and `in_string`
    /// tells whether `at` lies inside a string, so the caller can find where the record ends.
    Failed { at: usize, reason: RecordErrorReason, depth: usize, in_string: bool },
}

/// What the next bytes may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    /// A value (after `:` or `,` in an array).
    Value,
    /// A value or `]` (just after `[`).
    ValueOrEnd,
    /// A key or `}` (just after `{`).
    KeyOrEnd,
    /// A key (after `,` in an object).
    Key,
    Colon,
    /// `,` or the end of the container (after a value).
    Next,
    /// Inside a string; `esc` when the previous byte was an unconsumed backslash.
    Str {
        esc: bool,
    },
    Num,
    Lit {
        word: &'static [u8],
        at: u8,
    },
}

type Fail = (usize, RecordErrorReason);

fn json_err(msg: impl Into<String>) -> RecordErrorReason {
    RecordErrorReason::Json(msg.into())
}

pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// One record's parser, reused from record to record to keep its allocations.
#[derive(Default)]
pub struct RecordParser {
    frames: Vec<Frame>,
    lex: Option<Lex>,
    slot: Option<Slot>,
    /// A string or number cut by a chunk edge (raw, escapes included), up to `MAX_STRING`.
    text: Vec<u8>,
    /// Full length of that string, kept or not.
    text_len: usize,
    header: Header,
    group: Group,
    /// `flowTuples` seen in the current NSG MAC entry or VNet flow group.
    group_tuples: bool,
    emit: Emitter,
    offset: u64,
    /// What the first read of this record found, when this is the second.
    primed: Option<Primed>,
}

impl RecordParser {
    /// Starts a record whose `{` is at blob offset `offset` (the `{` is fed like any other byte).
    pub fn start(&mut self, offset: u64) {
        self.frames.clear();
        self.lex = Some(Lex::Value);
        self.slot = Some(Slot::Skip);
        self.text.clear();
        self.text_len = 0;
        self.header.clear();
        self.group = Group::default();
        self.group_tuples = false;
        self.emit.clear();
        self.offset = offset;
        self.primed = None;
    }

    /// Rows that would wait for the record's end are only counted; a record that needed it
    /// ends with [`Self::take_primed`] set, to be read again.
    pub fn set_defer(&mut self, defer: bool) {
        self.emit.set_defer(defer);
    }

    /// Bytes kept between chunks: a string cut by a chunk edge and rows waiting for the record's end.
    pub fn retained(&self) -> usize {
        self.text.capacity() + self.emit.retained() + self.primed.as_ref().map_or(0, |p| p.groups.len() * 64)
    }

    /// Rows visited for the current record so far.
    pub fn rows(&self) -> u64 {
        self.emit.rows
    }

    /// Consumes `data`, the record's next bytes, visiting rows as their tuples complete.
    pub fn feed<V: RowVisitor + ?Sized>(&mut self, blob: &RowIds, data: &[u8], visitor: &mut V) -> Step {
        match self.run(blob, data, visitor) {
            Ok(step) => step,
            Err((at, reason)) => Step::Failed {
                at,
                reason,
                depth: self.frames.len(),
                in_string: matches!(self.lex, Some(Lex::Str { .. })),
            },
        }
    }

    fn lex(&self) -> Lex {
        self.lex.unwrap_or(Lex::Value)
    }

    fn slot(&self) -> Slot {
        self.slot.unwrap_or(Slot::Skip)
    }

    fn run<V: RowVisitor + ?Sized>(&mut self, blob: &RowIds, data: &[u8], v: &mut V) -> Result<Step, Fail> {
        let mut i = 0;
        while i < data.len() {
            if self.frames.last() == Some(&Frame::Tuples) {
                i = self.tuples_fast(blob, data, i, v);
                if i == data.len() {
                    break;
                }
            }
            let b = data[i];
            match self.lex() {
                Lex::Str { esc } => i = self.string_rest(blob, data, i, esc, v)?,
                Lex::Num => i = self.number_rest(data, i)?,
                Lex::Lit { word, at } => i = self.literal_rest(data, i, word, at as usize)?,
                _ if is_ws(b) => {
                    i += 1;
                    while i < data.len() && is_ws(data[i]) {
                        i += 1;
                    }
                }
                Lex::Value | Lex::ValueOrEnd if b == b']' && self.lex() == Lex::ValueOrEnd => {
                    if let Some(done) = self.close(blob, b, i, v)? {
                        return Ok(done);
                    }
                    i += 1;
                }
                Lex::Value | Lex::ValueOrEnd => i = self.value_start(blob, data, i, v)?,
                Lex::KeyOrEnd | Lex::Key => match b {
                    b'"' => {
                        self.slot = Some(Slot::Key);
                        i = self.string_start(blob, data, i, v)?;
                    }
                    b'}' if self.lex() == Lex::KeyOrEnd => {
                        if let Some(done) = self.close(blob, b, i, v)? {
                            return Ok(done);
                        }
                        i += 1;
                    }
                    _ => return Err((i, json_err("expected a key"))),
                },
                Lex::Colon if b == b':' => {
                    self.lex = Some(Lex::Value);
                    i += 1;
                }
                Lex::Colon => return Err((i, json_err("expected `:`"))),
                Lex::Next => match b {
                    b',' => {
                        let top = *self.frames.last().expect("inside a container");
                        if top.is_object() {
                            self.lex = Some(Lex::Key);
                        } else {
                            self.lex = Some(Lex::Value);
                            self.slot = Some(top.element());
                        }
                        i += 1;
                    }
                    b'}' | b']' => {
                        if let Some(done) = self.close(blob, b, i, v)? {
                            return Ok(done);
                        }
                        i += 1;
                    }
                    _ => return Err((i, json_err("expected `,` or the end of a container"))),
                },
            }
        }
        Ok(Step::More)
    }

    /// The hot path: complete tuple strings inside a `flowTuples` array, straight from the chunk.
    /// Returns where the general path must take over (a cut or escaped string, `]`, bad input).
    fn tuples_fast<V: RowVisitor + ?Sized>(&mut self, blob: &RowIds, data: &[u8], mut i: usize, v: &mut V) -> usize {
        let mut sink = match &self.primed {
            Some(p) => self.emit.sink(&p.header, &p.current, blob, self.offset),
            None => self.emit.sink(&self.header, &self.group, blob, self.offset),
        };
        // Tuples go to the sink in pairs (see `RowVisitor::row_pair`): one read and not yet
        // handed over is held here, and handed over before this returns.
        let mut held: Option<&[u8]> = None;
        loop {
            // Only between tokens: a chunk can begin inside a string (a tuple cut by the chunk
            // edge), whose spaces and tabs are its bytes, for `string_rest` to keep.
            if matches!(self.lex.unwrap_or(Lex::Value), Lex::Value | Lex::ValueOrEnd | Lex::Next) {
                while i < data.len() && is_ws(data[i]) {
                    i += 1;
                }
            }
            match (self.lex, data.get(i)) {
                (Some(Lex::Value | Lex::ValueOrEnd), Some(b'"')) => {
                    let rest = &data[i + 1..];
                    if let Some(q) = memchr2(b'"', b'\\', rest).filter(|&q| rest[q] == b'"' && q <= MAX_STRING) {
                        match held.take() {
                            Some(first) => sink.tuple_pair(first, &rest[..q], v),
                            None => held = Some(&rest[..q]),
                        }
                        self.lex = Some(Lex::Next);
                        i += q + 2;
                        continue;
                    }
                }
                (Some(Lex::Next), Some(b',')) => {
                    self.lex = Some(Lex::Value);
                    i += 1;
                    continue;
                }
                _ => {}
            }
            if let Some(first) = held {
                sink.tuple(first, v);
            }
            return i;
        }
    }
}
