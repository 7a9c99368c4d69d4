//! Streaming parser of one flow-log record: JSON tokens are consumed once, in whatever chunks they
//! arrive, and each flow tuple becomes a row as soon as its closing quote is seen.
//!
//! Only parser state survives a chunk: the stack of open containers (at most [`MAX_DEPTH`]), the
//! header and group values rows carry, and the bytes of one string cut by a chunk edge (at most
//! [`MAX_STRING`]). Unknown keys are skipped without being kept. Header fields that come after
//! the tuples (JSON does not fix key order; Azure writes them first) make the record buffer its
//! tuples until its end: see [`super::emit`].
use memchr::memchr2;

use super::emit::Emitter;
use super::error::RecordErrorReason;
use super::record::{Group, HeadField, Header, RowVisitor, duplicate};
use crate::domain::row::id::BlobIdent;

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

/// An open container and what its members mean. Group frames remember the first buffered group
/// created inside them, to fill in values that arrive after the tuples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Record,
    Props,
    NsgRules,
    NsgRule(usize),
    NsgMacs,
    NsgMac(usize),
    VnetRecords,
    VnetAcls,
    VnetAcl(usize),
    VnetGroups,
    VnetGroup(usize),
    Tuples,
    SkipObject,
    SkipArray,
}

impl Frame {
    fn is_object(self) -> bool {
        !matches!(
            self,
            Frame::NsgRules | Frame::NsgMacs | Frame::VnetAcls | Frame::VnetGroups | Frame::Tuples | Frame::SkipArray
        )
    }

    /// What an element of this array is.
    fn element(self) -> Slot {
        match self {
            Frame::NsgRules => Slot::NsgRule,
            Frame::NsgMacs => Slot::NsgMac,
            Frame::VnetAcls => Slot::VnetAcl,
            Frame::VnetGroups => Slot::VnetGroup,
            Frame::Tuples => Slot::Tuple,
            _ => Slot::Skip,
        }
    }
}

/// What the value being read is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Skip,
    Key,
    Head(HeadField),
    Version { vnet: bool },
    Rule,
    Mac,
    Acl,
    Tuple,
    Props,
    NsgRules,
    NsgRule,
    NsgMacs,
    NsgMac,
    VnetRecords,
    VnetAcls,
    VnetAcl,
    VnetGroups,
    VnetGroup,
    Tuples,
}

impl Slot {
    fn name(self) -> &'static str {
        match self {
            Slot::Head(f) => f.name(),
            Slot::Version { vnet: true } => "flowLogVersion",
            Slot::Version { vnet: false } => "Version",
            Slot::Rule => "rule",
            Slot::Mac => "mac",
            Slot::Acl => "aclID",
            Slot::Tuple => "flow tuple",
            Slot::Props => "properties",
            Slot::NsgRules | Slot::NsgMacs | Slot::VnetAcls => "flows",
            Slot::NsgRule | Slot::NsgMac | Slot::VnetAcl | Slot::VnetGroup => "flow entry",
            Slot::VnetRecords => "flowRecords",
            Slot::VnetGroups => "flowGroups",
            Slot::Tuples => "flowTuples",
            Slot::Skip | Slot::Key => "value",
        }
    }

    /// Whether the string's bytes are needed (skipped strings are scanned, not kept).
    fn keeps_text(self) -> bool {
        !matches!(self, Slot::Skip)
    }
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
    }

    /// Rows visited for the current record so far.
    pub fn rows(&self) -> u64 {
        self.emit.rows
    }

    /// Consumes `data`, the record's next bytes, visiting rows as their tuples complete.
    pub fn feed<V: RowVisitor + ?Sized>(&mut self, blob: &BlobIdent, data: &[u8], visitor: &mut V) -> Step {
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

    fn run<V: RowVisitor + ?Sized>(&mut self, blob: &BlobIdent, data: &[u8], v: &mut V) -> Result<Step, Fail> {
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
    fn tuples_fast<V: RowVisitor + ?Sized>(&mut self, blob: &BlobIdent, data: &[u8], mut i: usize, v: &mut V) -> usize {
        let mut sink = self.emit.sink(&self.header, &self.group, blob, self.offset);
        loop {
            while i < data.len() && is_ws(data[i]) {
                i += 1;
            }
            let Some(&b) = data.get(i) else { return i };
            match (self.lex, b) {
                (Some(Lex::Value | Lex::ValueOrEnd), b'"') => {
                    let rest = &data[i + 1..];
                    match memchr2(b'"', b'\\', rest) {
                        Some(q) if rest[q] == b'"' && q <= MAX_STRING => {
                            sink.tuple(&rest[..q], v);
                            self.lex = Some(Lex::Next);
                            i += q + 2;
                        }
                        _ => return i,
                    }
                }
                (Some(Lex::Next), b',') => {
                    self.lex = Some(Lex::Value);
                    i += 1;
                }
                _ => return i,
            }
        }
    }

    fn value_start<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &BlobIdent,
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
        blob: &BlobIdent,
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
                self.emit.group_start(vnet, &mut self.header, &self.group, blob, self.offset, v);
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
        blob: &BlobIdent,
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
                let result = self.emit.finish(&mut self.header, blob, self.offset, v);
                self.lex = None;
                return Ok(Some(Step::Done(i + 1, result)));
            }
            _ => {}
        }
        self.lex = Some(Lex::Next);
        Ok(None)
    }

    /// At an opening quote: takes the whole string from the chunk when it is there unescaped.
    fn string_start<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &BlobIdent,
        data: &[u8],
        i: usize,
        v: &mut V,
    ) -> Result<usize, Fail> {
        let rest = &data[i + 1..];
        if let Some(q) = memchr2(b'"', b'\\', rest)
            && rest[q] == b'"'
        {
            self.lex = Some(Lex::Next);
            self.string_done(blob, &rest[..q], q, false, v).map_err(|r| (i + q + 2, r))?;
            return Ok(i + q + 2);
        }
        self.text.clear();
        self.text_len = 0;
        self.lex = Some(Lex::Str { esc: false });
        self.string_rest(blob, data, i + 1, false, v)
    }

    /// Inside a string cut by a chunk edge or holding escapes: keeps its raw bytes (up to the cap)
    /// until the closing quote.
    fn string_rest<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &BlobIdent,
        data: &[u8],
        mut i: usize,
        mut esc: bool,
        v: &mut V,
    ) -> Result<usize, Fail> {
        let keep = self.slot().keeps_text();
        loop {
            if esc {
                let Some(&b) = data.get(i) else { break };
                self.keep(keep, &[b]);
                esc = false;
                i += 1;
            }
            match memchr2(b'"', b'\\', &data[i..]) {
                Some(q) if data[i + q] == b'"' => {
                    self.keep(keep, &data[i..i + q]);
                    let end = i + q + 1;
                    let text = std::mem::take(&mut self.text);
                    self.lex = Some(Lex::Next);
                    let result = self.string_done(blob, &text, self.text_len, true, v);
                    self.text = text;
                    result.map_err(|r| (end, r))?;
                    return Ok(end);
                }
                Some(q) => {
                    self.keep(keep, &data[i..=i + q]);
                    esc = true;
                    i += q + 1;
                }
                None => {
                    self.keep(keep, &data[i..]);
                    i = data.len();
                    break;
                }
            }
        }
        self.lex = Some(Lex::Str { esc });
        Ok(i)
    }

    fn keep(&mut self, keep: bool, bytes: &[u8]) {
        self.text_len += bytes.len();
        if keep {
            let room = MAX_STRING.saturating_sub(self.text.len());
            self.text.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// A complete string: `raw` is its text as written (escapes included when `maybe_escaped`),
    /// `len` its full length (`raw` may be cut at the cap).
    fn string_done<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &BlobIdent,
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
            if len > MAX_STRING {
                let shown = &text[..text.len().min(MAX_STRING)];
                self.emit.sink(&self.header, &self.group, blob, self.offset).too_long(shown, len, v);
            } else {
                self.emit.sink(&self.header, &self.group, blob, self.offset).tuple(text, v);
            }
            return Ok(());
        }
        if slot == Slot::Key {
            self.slot = Some(self.key_slot(text));
            self.lex = Some(Lex::Colon);
            return Ok(());
        }
        if len > MAX_STRING {
            return Err(json_err(format!("`{}` is longer than {MAX_STRING} bytes", slot.name())));
        }
        let value = String::from_utf8(text.to_vec()).map_err(|_| json_err("string is not UTF-8"))?;
        self.set_string(slot, Some(value))
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

    /// What the value under `key` is, given the innermost open object.
    fn key_slot(&self, key: &[u8]) -> Slot {
        let Some(&top) = self.frames.last() else { return Slot::Skip };
        match (top, key) {
            (Frame::Record, b"time") => Slot::Head(HeadField::Time),
            (Frame::Record, b"resourceId") => Slot::Head(HeadField::ResourceId),
            (Frame::Record, b"macAddress") => Slot::Head(HeadField::MacAddress),
            (Frame::Record, b"flowLogResourceID") => Slot::Head(HeadField::FlowLogResourceId),
            (Frame::Record, b"targetResourceID") => Slot::Head(HeadField::TargetResourceId),
            (Frame::Record, b"properties") => Slot::Props,
            (Frame::Record, b"flowLogVersion") => Slot::Version { vnet: true },
            (Frame::Record, b"flowRecords") => Slot::VnetRecords,
            (Frame::Props, b"Version") => Slot::Version { vnet: false },
            (Frame::Props, b"flows") => Slot::NsgRules,
            (Frame::NsgRule(_), b"rule") => Slot::Rule,
            (Frame::NsgRule(_), b"flows") => Slot::NsgMacs,
            (Frame::NsgMac(_), b"mac") => Slot::Mac,
            (Frame::NsgMac(_), b"flowTuples") => Slot::Tuples,
            (Frame::VnetRecords, b"flows") => Slot::VnetAcls,
            (Frame::VnetAcl(_), b"aclID") => Slot::Acl,
            (Frame::VnetAcl(_), b"flowGroups") => Slot::VnetGroups,
            (Frame::VnetGroup(_), b"rule") => Slot::Rule,
            (Frame::VnetGroup(_), b"flowTuples") => Slot::Tuples,
            _ => Slot::Skip,
        }
    }

    fn number_rest(&mut self, data: &[u8], mut i: usize) -> Result<usize, Fail> {
        let start = i;
        while i < data.len() && matches!(data[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
            i += 1;
        }
        let slot = self.slot();
        if slot != Slot::Skip {
            let room = 32usize.saturating_sub(self.text.len());
            self.text.extend_from_slice(&data[start..i.min(start + room)]);
        }
        if i == data.len() {
            return Ok(i);
        }
        self.lex = Some(Lex::Next);
        if let Slot::Version { vnet } = slot {
            let text = std::str::from_utf8(&self.text).unwrap_or("");
            let value =
                text.parse::<i64>().map_err(|_| (i, json_err(format!("`{}` is not an integer", slot.name()))))?;
            self.header.set_version(vnet, Some(value)).map_err(|r| (i, r))?;
        }
        Ok(i)
    }

    fn literal_rest(&mut self, data: &[u8], mut i: usize, word: &'static [u8], mut at: usize) -> Result<usize, Fail> {
        while at < word.len() {
            let Some(&b) = data.get(i) else {
                self.lex = Some(Lex::Lit { word, at: at as u8 });
                return Ok(i);
            };
            if b != word[at] {
                return Err((i, json_err("invalid literal")));
            }
            at += 1;
            i += 1;
        }
        self.lex = Some(Lex::Next);
        if word == b"null" {
            match self.slot() {
                Slot::Version { vnet } => self.header.set_version(vnet, None).map_err(|r| (i, r))?,
                slot => self.set_string(slot, None).map_err(|r| (i, r))?,
            }
        }
        Ok(i)
    }
}

/// Decodes the escapes of a JSON string's raw text.
fn unescape(raw: &[u8]) -> Result<Vec<u8>, RecordErrorReason> {
    let bad = || json_err("invalid escape in string");
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *raw.get(i).ok_or_else(bad)?;
        i += 1;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hex = |at: usize| -> Option<u32> {
                    let h = raw.get(at..at + 4)?;
                    u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
                };
                let mut c = hex(i).ok_or_else(bad)?;
                i += 4;
                if (0xD800..0xDC00).contains(&c) && raw.get(i..i + 2) == Some(b"\\u") {
                    let low = hex(i + 2).ok_or_else(bad)?;
                    if (0xDC00..0xE000).contains(&low) {
                        c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
                        i += 6;
                    }
                }
                let ch = char::from_u32(c).ok_or_else(bad)?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return Err(bad()),
        };
        out.push(simple);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_like_serde() {
        for s in [r#"plain"#, r#"q\"b\\s\/"#, r#"\u00e9\ud83d\ude00\n\t"#] {
            let ours = unescape(s.as_bytes()).unwrap();
            let theirs: String = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(String::from_utf8(ours).unwrap(), theirs);
        }
        assert!(unescape(br"\x").is_err());
        assert!(unescape(br"\u12").is_err());
    }
}
