//! Bad tuples of one blob read, aggregated into one dead letter: their count, the distinct
//! reasons with counts, and the first tuples up to the raw-bytes cap. Memory stays bounded
//! whatever the number of bad tuples (a new value Azure adds can make every tuple bad).
use super::reasons::ReasonTally;
use crate::domain::format::TupleError;
use crate::pipeline::dead_letter::{DeadLetter, DeadLetterKind};

#[derive(Default)]
pub struct BadTuples {
    blob: Option<String>,
    /// Record offsets of the first and last bad tuple.
    span: Option<(u64, u64)>,
    count: u64,
    /// Reasons are a closed set of messages, so the tally stays small uncapped.
    reasons: ReasonTally,
    raw: Vec<u8>,
    raw_len: u64,
}

impl BadTuples {
    pub fn add(&mut self, e: TupleError, raw_limit: usize) {
        self.blob.get_or_insert(e.blob);
        let (first, last) = self.span.get_or_insert((e.record_offset, e.record_offset));
        *first = (*first).min(e.record_offset);
        *last = (*last).max(e.record_offset);
        self.count += 1;
        self.reasons.add(e.reason.to_string(), 1, usize::MAX);
        // One tuple per line, whole tuples only, until the cap.
        let line = e.tuple.len() + 1;
        if self.raw.len() + line <= raw_limit {
            self.raw.extend_from_slice(e.tuple.as_bytes());
            self.raw.push(b'\n');
        }
        self.raw_len += line as u64;
    }

    /// Adds everything `other` holds (the bad tuples of one more complete record).
    pub fn absorb(&mut self, other: BadTuples, raw_limit: usize) {
        let Some((first, last)) = other.span else { return };
        self.blob = self.blob.take().or(other.blob);
        let span = self.span.get_or_insert((first, last));
        *span = (span.0.min(first), span.1.max(last));
        self.count += other.count;
        self.reasons.merge(other.reasons, usize::MAX);
        let room = raw_limit.saturating_sub(self.raw.len());
        // Whole lines only, as `add` keeps them.
        let cut = other.raw[..other.raw.len().min(room)].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.raw.extend_from_slice(&other.raw[..cut]);
        self.raw_len += other.raw_len;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The dead letter for everything added since the last take, if anything was.
    pub fn take(&mut self, raw_limit: usize, at: &str) -> Option<DeadLetter> {
        let this = std::mem::take(self);
        let (first, last) = this.span?;
        let error = this.reasons.text();
        tracing::warn!(blob = this.blob.as_deref().unwrap_or("-"), bad_tuples = this.count, first_record = first, last_record = last, reasons = %error, "bad flow tuples dead-lettered (their records' other tuples were delivered)");
        Some(DeadLetter {
            raw_len: this.raw_len,
            ..DeadLetter::new(DeadLetterKind::Tuple, error, at.to_string())
                .about(
                    this.blob,
                    Some((first, last)),
                    format!("{} bad tuples in records from byte {first} to byte {last}", this.count),
                )
                .with_raw(&this.raw, raw_limit)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::format::TupleErrorReason;

    fn bad(offset: u64, reason: TupleErrorReason, tuple: &str) -> TupleError {
        TupleError { blob: "b".into(), record_offset: offset, ordinal: 0, tuple: tuple.into(), reason }
    }

    #[test]
    fn many_bad_tuples_make_one_bounded_document() {
        let mut agg = BadTuples::default();
        for i in 0..100_000u64 {
            let reason = if i % 4 == 0 { TupleErrorReason::Direction } else { TupleErrorReason::Encryption };
            agg.add(bad(1_000 + i % 50, reason, "1,2,3,4,5,6,7,8,9,10,11,12,13"), 1024);
        }
        assert!(!agg.is_empty());
        let letter = agg.take(1024, "t").unwrap();
        assert!(agg.is_empty() && agg.take(1024, "t").is_none(), "taking resets");
        assert_eq!(letter.kind, DeadLetterKind::Tuple);
        assert_eq!(letter.range, Some((1_000, 1_049)));
        assert_eq!(letter.error, "unknown encryption status (75000); direction is not I or O (25000)");
        assert!(letter.context.starts_with("100000 bad tuples"));
        assert!(letter.raw.len() <= 1024 && letter.raw.ends_with('\n'), "whole tuples up to the cap");
        assert_eq!(letter.raw_len, 100_000 * 30, "the length of every bad tuple, with its newline");
    }
}
