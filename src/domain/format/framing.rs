//! Incremental framing: finds the complete records in any byte range of a `{"records":[...]}` blob
//! and flattens each one, reporting how far the caller may advance its offset.
//!
//! Works by content, not fixed byte counts: the head, separating commas, whitespace and the
//! `]}` tail are recognised wherever the range starts and ends. A record is located and parsed
//! in a single pass (serde_json's stream deserializer reports where the value ends, and an
//! end-of-input error means "incomplete, wait for more bytes").
use serde_json::Deserializer;

use super::error::{RAW_EXCERPT, RecordError, RecordErrorReason};
use super::raw::RawRecord;
use super::record::{RowVisitor, detect_layout, flatten_record};
use crate::domain::ids::RowIds;

/// What one call achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input that are fully handled; the new offset is `base + consumed`.
    /// It ends just after the last complete record (or the head, or a dead-lettered stretch).
    pub consumed: usize,
    pub records: u64,
    pub rows: u64,
    /// Records and stretches of bytes reported through `RowVisitor::record_error`.
    pub record_errors: u64,
}

const HEAD_KEY: &[u8] = b"\"records\"";

/// Frames and flattens `data`, the blob's bytes starting at offset `base`. `is_final` says no
/// more bytes of this range will follow, so undecodable bytes at the end are garbage rather
/// than a record still being written. An incomplete record at the end is left unconsumed.
pub fn frame_and_flatten<V: RowVisitor + ?Sized>(
    blob: &RowIds,
    data: &[u8],
    base: u64,
    is_final: bool,
    visitor: &mut V,
) -> Progress {
    let mut p = Progress::default();
    let mut pos = 0;
    if base == 0 {
        match head_len(data) {
            Head::Complete(n) => {
                pos = n;
                p.consumed = n;
            }
            Head::Incomplete => return p,
            Head::Mismatch => {
                if !garbage(blob, data, base, 0, is_final, visitor, &mut p) {
                    return p;
                }
                pos = p.consumed;
            }
        }
    }
    loop {
        let start = skip_ws(data, pos);
        let at = if data.get(start) == Some(&b',') { skip_ws(data, start + 1) } else { start };
        match data.get(at) {
            None => return p,
            Some(b'{') => {}
            Some(b']') if is_tail(&data[at..]) => return p,
            Some(_) => {
                if !garbage(blob, data, base, pos, is_final, visitor, &mut p) {
                    return p;
                }
                pos = p.consumed;
                continue;
            }
        }
        let mut stream = Deserializer::from_slice(&data[at..]).into_iter::<RawRecord<'_>>();
        match stream.next() {
            Some(Ok(raw)) => {
                let end = at + stream.byte_offset();
                let offset = base + at as u64;
                match flatten_record(blob, offset, (end - at) as u64, &raw, visitor) {
                    Ok(rows) => {
                        p.rows += rows;
                        p.records += 1;
                    }
                    Err(mut e) => {
                        e.raw = excerpt(data, at, end);
                        visitor.record_error(e);
                        p.record_errors += 1;
                    }
                }
                pos = end;
                p.consumed = end;
            }
            Some(Err(e)) if e.is_eof() => return p,
            None => return p,
            Some(Err(e)) => match balanced_end(data, at) {
                Some(end) => {
                    visitor.record_error(RecordError {
                        blob: blob.name.clone(),
                        offset: base + at as u64,
                        len: (end - at) as u64,
                        reason: RecordErrorReason::Json(json_error_at(&e, &data[at..], base + at as u64)),
                        raw: excerpt(data, at, end),
                    });
                    p.record_errors += 1;
                    pos = end;
                    p.consumed = end;
                }
                None if !is_final => return p,
                None => {
                    if !garbage(blob, data, base, pos, is_final, visitor, &mut p) {
                        return p;
                    }
                    pos = p.consumed;
                }
            },
        }
    }
}

/// Reports the bytes from `from` up to the next plausible record start (or the end of a final
/// range) as one framing error. Returns false when the extent is not known yet.
fn garbage<V: RowVisitor + ?Sized>(
    blob: &RowIds,
    data: &[u8],
    base: u64,
    from: usize,
    is_final: bool,
    visitor: &mut V,
    p: &mut Progress,
) -> bool {
    let to = match resync(data, from + 1) {
        Some(next) => next,
        None if is_final => data.len(),
        None => return false,
    };
    let shown = &data[from..to.min(from + 40)];
    visitor.record_error(RecordError {
        blob: blob.name.clone(),
        offset: base + from as u64,
        len: (to - from) as u64,
        reason: RecordErrorReason::Framing(format!("unexpected bytes starting {:?}", String::from_utf8_lossy(shown))),
        raw: excerpt(data, from, to),
    });
    p.record_errors += 1;
    p.consumed = to;
    true
}

/// The next position after `from` where a record separator `,` (or the head's `[`) is followed
/// by an object that parses as a flow-log record. Nested objects of a record never qualify:
/// they lack a flow-log version.
fn resync(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < data.len() {
        let sep = data[i..].iter().position(|&b| b == b',' || b == b'[')? + i;
        let at = skip_ws(data, sep + 1);
        if data.get(at) == Some(&b'{') {
            let mut stream = Deserializer::from_slice(&data[at..]).into_iter::<RawRecord<'_>>();
            if let Some(Ok(raw)) = stream.next()
                && detect_layout(&raw).is_ok()
            {
                return Some(at);
            }
        }
        i = sep + 1;
    }
    None
}

enum Head {
    Complete(usize),
    Incomplete,
    Mismatch,
}

/// Recognises `{"records":[` with any whitespace between tokens.
fn head_len(data: &[u8]) -> Head {
    // Editors and some tools write a UTF-8 byte order mark; Azure does not, but it is not garbage.
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    if data.len() < BOM.len() && !data.is_empty() && BOM.starts_with(data) {
        return Head::Incomplete;
    }
    let mut i = skip_ws(data, if data.starts_with(BOM) { BOM.len() } else { 0 });
    for token in [&b"{"[..], HEAD_KEY, b":", b"["] {
        let avail = &data[i.min(data.len())..];
        if avail.len() < token.len() {
            return if token.starts_with(avail) { Head::Incomplete } else { Head::Mismatch };
        }
        if !avail.starts_with(token) {
            return Head::Mismatch;
        }
        i = skip_ws(data, i + token.len());
    }
    Head::Complete(i)
}

/// True when `rest` holds nothing but whitespace and the `]}` that closes a blob: what is left
/// after the last record of a complete file.
pub fn is_blank_or_tail(rest: &[u8]) -> bool {
    let i = skip_ws(rest, 0);
    i == rest.len() || is_tail(&rest[i..])
}

/// The end of the `records` array: `]`, then only `}` and whitespace.
fn is_tail(rest: &[u8]) -> bool {
    rest.first() == Some(&b']') && rest[1..].iter().all(|b| *b == b'}' || b.is_ascii_whitespace())
}

/// serde_json's message with its position, which counts lines and columns from the record's
/// start, replaced by the byte offset in the blob (what `dd`, editors and dead letters use).
fn json_error_at(e: &serde_json::Error, record: &[u8], record_offset: u64) -> String {
    let text = e.to_string();
    let msg = text.rfind(" at line ").map_or(text.as_str(), |i| &text[..i]);
    if e.line() == 0 {
        return msg.to_string();
    }
    let mut line_start = 0;
    for _ in 1..e.line() {
        match memchr::memchr(b'\n', &record[line_start.min(record.len())..]) {
            Some(i) => line_start += i + 1,
            None => break,
        }
    }
    // serde_json counts columns in bytes, the first being 1 (0 when the error is at a newline).
    let at = line_start + e.column().saturating_sub(1);
    format!("{msg} at byte {}", record_offset + at as u64)
}

fn excerpt(data: &[u8], from: usize, to: usize) -> Vec<u8> {
    data[from..to.min(from + RAW_EXCERPT)].to_vec()
}

fn skip_ws(data: &[u8], mut i: usize) -> usize {
    while i < data.len() && data[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// End (exclusive) of the JSON object starting at `start`, by brace counting outside strings.
fn balanced_end(data: &[u8], start: usize) -> Option<usize> {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for (i, &b) in data.iter().enumerate().skip(start) {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
