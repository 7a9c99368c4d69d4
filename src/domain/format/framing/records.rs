//! The bytes of a well-formed blob: its `{"records":[` head, the separators between records,
//! and each record streamed through the record parser until it ends, fails or must be read again.
use super::bad_stretch::Scan;
use super::{Framer, Progress, Reread, State};
use crate::domain::format::error::RecordErrorReason;
use crate::domain::format::record::RowVisitor;
use crate::domain::format::stream::{Step, is_ws};
use crate::domain::ids::RowIds;
use crate::domain::magic::GZIP_MAGIC;

/// `{"records":[`, token by token; whitespace may separate them.
const HEAD: [&[u8]; 4] = [b"{", b"\"records\"", b":", b"["];

impl Framer {
    pub(super) fn head<V: RowVisitor + ?Sized>(&mut self, data: &[u8], mut i: usize, v: &mut V) -> usize {
        // Editors and some tools write a UTF-8 byte order mark; Azure does not, but it is not garbage.
        const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
        while let (State::Head { mut token, mut at }, Some(&b)) = (self.state, data.get(i)) {
            let pos = self.at(i);
            if token == 0 && at == 0 && pos < 3 && b == BOM[pos as usize] {
                self.keep(&[b]);
                i += 1;
                continue;
            }
            if at == 0 && is_ws(b) {
                self.keep(&[b]);
                i += 1;
                continue;
            }
            // gzip's magic is never the start of JSON text. Its second byte decides, and may come
            // in the next chunk: a blob that only starts with 0x1f is garbage, scanned for records
            // like any other, however its bytes arrive.
            if pos == 0 && b == GZIP_MAGIC[0] {
                match data.get(i + 1) {
                    Some(&next) if next != GZIP_MAGIC[1] => {}
                    Some(_) => {
                        self.state = State::Gzip { reported: false };
                        return i;
                    }
                    None => {
                        self.keep(&[b]);
                        self.state = State::MaybeGzip;
                        return i + 1;
                    }
                }
            }
            if HEAD[token][at] != b {
                self.start_garbage();
                return i;
            }
            self.keep(&[b]);
            i += 1;
            at += 1;
            if at == HEAD[token].len() {
                (token, at) = (token + 1, 0);
            }
            if token == HEAD.len() {
                self.boundary(self.at(i));
                v.record_end();
                self.state = State::Between { comma: false };
            } else {
                self.state = State::Head { token, at };
            }
        }
        i
    }

    pub(super) fn between(&mut self, data: &[u8], mut i: usize, comma: bool) -> usize {
        let start = i;
        while i < data.len() && is_ws(data[i]) {
            i += 1;
        }
        self.keep(&data[start..i]);
        match data.get(i) {
            None => {}
            Some(b',') if !comma => {
                self.keep(b",");
                self.state = State::Between { comma: true };
                i += 1;
            }
            Some(b'{') => self.start_record(self.at(i)),
            Some(b']') => {
                self.keep(b"]");
                self.state = State::Tail;
                i += 1;
            }
            Some(_) => self.start_garbage(),
        }
        i
    }

    pub(super) fn start_record(&mut self, at: u64) {
        self.record_start = at;
        self.raw.clear();
        self.raw_base = at;
        self.parser.start(at);
        self.state = State::Record;
    }

    pub(super) fn record<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        data: &[u8],
        i: usize,
        v: &mut V,
        p: &mut Progress,
    ) -> usize {
        match self.parser.feed(blob, &data[i..], v) {
            Step::More => {
                self.keep(&data[i..]);
                data.len()
            }
            Step::Done(n, result) => {
                self.keep(&data[i..i + n]);
                let end = self.at(i + n);
                match result {
                    Ok(()) if let Some(primed) = self.parser.take_primed() => {
                        // Its rows are in its bytes, which the caller reads again: keep neither.
                        let rows = primed.rows();
                        self.parser.start_primed(self.record_start, primed);
                        self.reread = Some(Reread { start: self.record_start, end, fed: 0, rows });
                        self.state = State::Reread;
                        return i + n;
                    }
                    Ok(()) => {
                        p.records += 1;
                        p.rows += self.parser.rows();
                        self.boundary(end);
                        v.record_end();
                    }
                    Err(reason) => self.report(blob, self.record_start, end, Some(reason), v, p),
                }
                self.state = State::Between { comma: false };
                i + n
            }
            Step::Failed { at, reason, depth, in_string } => {
                // Positions in the blob, as `dd`, editors and dead letters count them.
                let reason = match reason {
                    RecordErrorReason::Json(m) => RecordErrorReason::Json(format!("{m} at byte {}", self.at(i + at))),
                    other => other,
                };
                self.keep(&data[i..i + at]);
                self.scan =
                    Scan { start: self.record_start, reason: Some(reason), depth, in_string, ..Scan::default() };
                self.state = State::Scan;
                i + at
            }
        }
    }
}
