//! Bad bytes: a stretch that is not a usable record is measured to its end (the record's
//! balanced closing brace, the next plausible record start, or the end of a final range), then
//! reported as one record error with its first bytes, and the offset moves past it.
use super::resync::Resync;
use super::{Framer, Progress, State};
use crate::domain::format::error::{RecordError, RecordErrorReason};
use crate::domain::format::record::RowVisitor;
use crate::domain::format::stream::Step;
use crate::domain::ids::RowIds;

/// A bad stretch being measured. It ends at the record's balanced closing brace (brace counting
/// outside strings, from the depth where parsing failed), at the next plausible record start (a
/// `,` or `[`, then an object whose first key is a record-level key: nested objects never start
/// that way), or at the end of a final range.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) start: u64,
    /// `None` for bytes between records that are not framing (reported as a framing error).
    pub(super) reason: Option<RecordErrorReason>,
    pub(super) depth: usize,
    pub(super) in_string: bool,
    pub(super) escaped: bool,
    pub(super) resync: Resync,
}

impl Framer {
    pub(super) fn start_garbage(&mut self) {
        self.scan = Scan { start: self.offset, ..Scan::default() };
        self.state = State::Scan;
    }

    pub(super) fn scan<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        data: &[u8],
        mut i: usize,
        v: &mut V,
        p: &mut Progress,
    ) -> usize {
        while let Some(&b) = data.get(i) {
            let at = self.at(i);
            if let Some(key) = self.scan.resync.step(b, at) {
                self.keep(&[b]);
                self.resync(blob, key, v, p);
                return i + 1;
            }
            self.keep(&[b]);
            i += 1;
            let s = &mut self.scan;
            if s.depth == 0 {
                continue;
            }
            if s.in_string {
                match (s.escaped, b) {
                    (true, _) => s.escaped = false,
                    (false, b'\\') => s.escaped = true,
                    (false, b'"') => s.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => s.in_string = true,
                b'{' | b'[' => s.depth += 1,
                b'}' | b']' => {
                    s.depth -= 1;
                    if s.depth == 0 {
                        let (start, reason) = (s.start, s.reason.take());
                        self.report(blob, start, at + 1, reason, v, p);
                        self.state = State::Between { comma: false };
                        return i;
                    }
                }
                _ => {}
            }
        }
        i
    }

    /// A record start found inside a bad stretch: the stretch ends at its `{`, and the record is
    /// parsed from there (its `{` and first key were consumed by the scan and are replayed).
    pub(super) fn resync<V: RowVisitor + ?Sized>(&mut self, blob: &RowIds, key: &[u8], v: &mut V, p: &mut Progress) {
        let brace = self.scan.resync.brace;
        let reason = self.scan.reason.take();
        let kept = brace.checked_sub(self.raw_base).and_then(|from| self.raw.get(from as usize..)).map(<[u8]>::to_vec);
        self.report(blob, self.scan.start, brace, reason, v, p);
        self.start_record(brace);
        let quoted = [&b"\""[..], key, b"\""].concat();
        self.raw = kept.unwrap_or_else(|| [&b"{"[..], &quoted].concat());
        for bytes in [&b"{"[..], &quoted] {
            let step = self.parser.feed(blob, bytes, v);
            debug_assert_eq!(step, Step::More);
        }
    }

    /// Reports `[start, end)` as one bad record or stretch and moves the offset past it.
    pub(super) fn report<V: RowVisitor + ?Sized>(
        &mut self,
        blob: &RowIds,
        start: u64,
        end: u64,
        reason: Option<RecordErrorReason>,
        v: &mut V,
        p: &mut Progress,
    ) {
        let raw = start.checked_sub(self.raw_base).and_then(|from| self.raw.get(from as usize..)).unwrap_or_default();
        let reason = reason.unwrap_or_else(|| {
            let shown = String::from_utf8_lossy(&raw[..raw.len().min(40)]).into_owned();
            // Only a blob whose head did not match has a bad stretch starting at byte 0.
            if start == 0 {
                RecordErrorReason::NotFlowLog(shown)
            } else {
                RecordErrorReason::Framing(format!("unexpected bytes starting {shown:?}"))
            }
        });
        v.record_error(RecordError {
            blob: blob.name.clone(),
            offset: start,
            len: end - start,
            reason,
            raw: raw.to_vec(),
        });
        p.record_errors += 1;
        self.boundary(end);
        v.record_end();
    }
}
