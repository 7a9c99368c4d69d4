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

mod scalars;
mod shape;

use scalars::unescape;
use shape::{Frame, Slot, key_slot};

use super::emit::{BufGroup, Emitter};
use super::error::RecordErrorReason;
use super::record::{Group, Header, RowVisitor, duplicate};
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

/// What a first read of a record whose rows had to wait found: the header fields (its layout
/// fixed), the flow groups whose rows were visited, and the values of the others, in order.
/// Only these values, never tuples, are kept between the two reads.
#[derive(Debug)]
pub struct Primed {
    header: Header,
    recorded: bool,
    streamed: usize,
    groups: Vec<BufGroup>,
    /// The values of the group being read again.
    current: Group,
    /// Rows the first read visited.
    rows: u64,
    /// Flow groups and tuples the first read found: the second must find as many.
    started: usize,
    tuples: u32,
}

impl Primed {
    /// Rows of the record the first read visited (before its rows had to wait).
    pub fn rows(&self) -> u64 {
        self.rows
    }
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

    /// After a record's successful end: the state to read it again with, when its rows wait for that.
    pub fn take_primed(&mut self) -> Option<Primed> {
        if self.primed.is_some() || !self.emit.deferred() {
            return None;
        }
        let (recorded, streamed, groups) = self.emit.take_deferred();
        let header = std::mem::take(&mut self.header);
        let (started, tuples) = (self.emit.started(), self.emit.tuples());
        let current = Group::default();
        Some(Primed { header, recorded, streamed, groups, current, rows: self.emit.rows, started, tuples })
    }

    /// Starts the second read of a record at `offset` with what its first read found: every row
    /// the first did not visit is visited, with the same values and ordinals.
    pub fn start_primed(&mut self, offset: u64, primed: Primed) {
        self.start(offset);
        self.primed = Some(primed);
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
            while i < data.len() && is_ws(data[i]) {
                i += 1;
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

    fn value_start<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        data: &[u8],
        i: usize,
        v: &mut V,
    ) -> Result<usize, Fail> {
        let slot = self.slot();
        let b = data[i];
        let wrong = || (i, json_err(format!("`{}` has the wrong type", slot.name())));
        match b {
            b'"' => match slot {
                Slot::Skip | Slot::Head(_) | Slot::Rule | Slot::Mac | Slot::Acl | Slot::Tuple => {
                    self.string_start(blob, data, i, v)
                }
                _ => Err(wrong()),
            },
            b'{' | b'[' => {
                self.open(blob, b, slot, v).map_err(|r| (i, r))?;
                Ok(i + 1)
            }
            b'-' | b'0'..=b'9' => match slot {
                Slot::Skip | Slot::Version { .. } => {
                    self.text.clear();
                    self.lex = Some(Lex::Num);
                    self.number_rest(data, i)
                }
                _ => Err(wrong()),
            },
            b't' | b'f' | b'n' => {
                let word: &'static [u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                let nullable =
                    matches!(slot, Slot::Head(_) | Slot::Version { .. } | Slot::Rule | Slot::Mac | Slot::Acl);
                if slot != Slot::Skip && !(nullable && b == b'n') {
                    return Err(wrong());
                }
                self.lex = Some(Lex::Lit { word, at: 0 });
                self.literal_rest(data, i, word, 0)
            }
            _ => Err((i, json_err("expected a value"))),
        }
    }

    fn open<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        b: u8,
        slot: Slot,
        v: &mut V,
    ) -> Result<(), RecordErrorReason> {
        if self.frames.len() >= MAX_DEPTH {
            return Err(json_err("nested too deeply"));
        }
        let object = b == b'{';
        let mark = self.emit.buffered_groups();
        let frame = match (slot, object) {
            (Slot::Skip, true) if self.frames.is_empty() => Frame::Record,
            (Slot::Skip, true) => Frame::SkipObject,
            (Slot::Skip, false) => Frame::SkipArray,
            (Slot::Props, true) => {
                if std::mem::replace(&mut self.header.properties, true) {
                    return Err(duplicate("properties"));
                }
                Frame::Props
            }
            (Slot::VnetRecords, true) => {
                if std::mem::replace(&mut self.header.flow_records, true) {
                    return Err(duplicate("flowRecords"));
                }
                Frame::VnetRecords
            }
            (Slot::NsgRule, true) => {
                self.group.rule = None;
                Frame::NsgRule(mark)
            }
            (Slot::NsgMac, true) => {
                self.group.mac = None;
                self.group_tuples = false;
                Frame::NsgMac(mark)
            }
            (Slot::VnetAcl, true) => {
                self.group.acl = None;
                Frame::VnetAcl(mark)
            }
            (Slot::VnetGroup, true) => {
                self.group.rule = None;
                self.group_tuples = false;
                Frame::VnetGroup(mark)
            }
            (Slot::NsgRules, false) => Frame::NsgRules,
            (Slot::NsgMacs, false) => Frame::NsgMacs,
            (Slot::VnetAcls, false) => Frame::VnetAcls,
            (Slot::VnetGroups, false) => Frame::VnetGroups,
            (Slot::Tuples, false) => {
                if std::mem::replace(&mut self.group_tuples, true) {
                    return Err(duplicate("flowTuples"));
                }
                let vnet = matches!(self.frames.last(), Some(Frame::VnetGroup(_)));
                if self.primed.is_some() {
                    self.primed_group_start(blob, v);
                } else {
                    self.emit.group_start(vnet, &mut self.header, &self.group, blob, self.offset, v);
                }
                Frame::Tuples
            }
            _ => return Err(json_err(format!("`{}` has the wrong type", slot.name()))),
        };
        self.frames.push(frame);
        if object {
            self.lex = Some(Lex::KeyOrEnd);
        } else {
            self.lex = Some(Lex::ValueOrEnd);
            self.slot = Some(frame.element());
        }
        Ok(())
    }

    /// Closes the innermost container with `b`; `Some` when that was the record itself.
    fn close<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        b: u8,
        i: usize,
        v: &mut V,
    ) -> Result<Option<Step>, Fail> {
        let top = *self.frames.last().expect("inside a container");
        if top.is_object() != (b == b'}') {
            return Err((i, json_err("mismatched bracket")));
        }
        self.frames.pop();
        match top {
            Frame::NsgRule(from) | Frame::VnetGroup(from) => self.emit.fill_rule(from, &self.group.rule),
            Frame::NsgMac(from) => self.emit.fill_mac(from, &self.group.mac),
            Frame::VnetAcl(from) => self.emit.fill_acl(from, &self.group.acl),
            Frame::Record => {
                let result = match &mut self.primed {
                    Some(p) if (p.started, p.tuples) != (self.emit.started(), self.emit.tuples()) => {
                        Err(RecordErrorReason::Framing("the record's bytes changed between two reads of it".into()))
                    }
                    Some(p) => self.emit.finish(&mut p.header, blob, self.offset, v),
                    None => self.emit.finish(&mut self.header, blob, self.offset, v),
                };
                self.lex = None;
                return Ok(Some(Step::Done(i + 1, result)));
            }
            _ => {}
        }
        self.lex = Some(Lex::Next);
        Ok(None)
    }

    /// A complete string: `raw` is its text as written (escapes included when `maybe_escaped`),
    /// `len` its full length (`raw` may be cut at the cap).
    fn string_done<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        raw: &[u8],
        len: usize,
        maybe_escaped: bool,
        v: &mut V,
    ) -> Result<(), RecordErrorReason> {
        let slot = self.slot();
        if slot == Slot::Skip {
            return Ok(());
        }
        let unescaped;
        let text = if maybe_escaped && raw.contains(&b'\\') && len <= MAX_STRING {
            unescaped = unescape(raw)?;
            &unescaped[..]
        } else {
            raw
        };
        if slot == Slot::Tuple {
            let mut sink = match &self.primed {
                Some(p) => self.emit.sink(&p.header, &p.current, blob, self.offset),
                None => self.emit.sink(&self.header, &self.group, blob, self.offset),
            };
            if len > MAX_STRING {
                sink.too_long(&text[..text.len().min(MAX_STRING)], len, v);
            } else {
                sink.tuple(text, v);
            }
            return Ok(());
        }
        if slot == Slot::Key {
            self.slot = Some(key_slot(self.frames.last(), text));
            self.lex = Some(Lex::Colon);
            return Ok(());
        }
        if len > MAX_STRING {
            return Err(json_err(format!("`{}` is longer than {MAX_STRING} bytes", slot.name())));
        }
        let value = String::from_utf8(text.to_vec()).map_err(|_| json_err("string is not UTF-8"))?;
        self.set_string(slot, Some(value))
    }

    /// A `flowTuples` array starts in a second read: the group's rows come with the values
    /// its first read found, unless that read visited them already.
    fn primed_group_start<V: RowVisitor + ?Sized>(&mut self, blob: &RowIds, v: &mut V) {
        let p = self.primed.as_mut().expect("a second read");
        let at = self.emit.started();
        // `Group` values, unlike the first read's, may come after the tuples: the group's row
        // values are the first read's, and this read's own are left for its duplicate checks.
        let Some(values) = at.checked_sub(p.streamed).and_then(|i| p.groups.get(i)) else {
            self.emit.primed_group_start(None, p.recorded, v);
            return;
        };
        p.current =
            Group { rule: Some(values.rule.clone()), mac: Some(values.mac.clone()), acl: Some(values.acl.clone()) };
        let record = p.header.ctx(blob, self.offset);
        let group = p.current.ctx(record.layout, &p.header);
        self.emit.primed_group_start(Some((&record, &group)), p.recorded, v);
    }

    fn set_string(&mut self, slot: Slot, value: Option<String>) -> Result<(), RecordErrorReason> {
        let target = match slot {
            Slot::Head(field) => return self.header.set_str(field, value),
            Slot::Rule => &mut self.group.rule,
            Slot::Mac => &mut self.group.mac,
            Slot::Acl => &mut self.group.acl,
            _ => return Ok(()),
        };
        if target.is_some() {
            return Err(duplicate(slot.name()));
        }
        *target = Some(value);
        Ok(())
    }
}
