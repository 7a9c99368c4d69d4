//! Bad records of one blob read, aggregated into one dead letter as bad tuples are: their count,
//! the reasons with counts, and the first records' bytes up to the raw-bytes cap. A blob of a
//! hundred thousand bad records costs one document and one log line, not one of each per record.
use super::reasons::ReasonTally;
use crate::domain::format::{RecordError, RecordErrorReason};
use crate::pipeline::dead_letter::{DeadLetter, DeadLetterKind};

/// Distinct reasons listed; JSON errors name their byte, so every record can have its own.
const MAX_REASONS: usize = 16;

#[derive(Default)]
pub struct BadRecords {
    blob: Option<String>,
    /// `[start, end)` from the first bad record's start to the last one's end.
    span: Option<(u64, u64)>,
    count: u64,
    reasons: ReasonTally,
    /// Blobs found to be gzip-compressed (for their metric).
    gzip: u64,
    raw: Vec<u8>,
    raw_len: u64,
}

impl BadRecords {
    pub fn add(&mut self, e: RecordError, raw_limit: usize) {
        tracing::debug!(blob = %e.blob, start = e.offset, end = e.offset + e.len, reason = %e.reason, "bad record");
        self.blob.get_or_insert(e.blob);
        let end = e.offset + e.len;
        let span = self.span.get_or_insert((e.offset, end));
        *span = (span.0.min(e.offset), span.1.max(end));
        self.count += 1;
        self.gzip += u64::from(e.reason == RecordErrorReason::Gzip);
        self.reasons.add(e.reason.to_string(), 1, MAX_REASONS);
        // Whole records (or their excerpts), one per line, until the cap.
        if self.raw.len() + e.raw.len() < raw_limit {
            self.raw.extend_from_slice(&e.raw);
            self.raw.push(b'\n');
        }
        self.raw_len += e.len;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many gzip-compressed blobs were found since the last call.
    pub fn take_gzip(&mut self) -> u64 {
        std::mem::take(&mut self.gzip)
    }

    /// The dead letter for everything added since the last take, if anything was.
    pub fn take(&mut self, raw_limit: usize, at: &str) -> Option<DeadLetter> {
        let gzip = self.gzip;
        let this = std::mem::replace(self, BadRecords { gzip, ..BadRecords::default() });
        let (first, end) = this.span?;
        let error = this.reasons.text();
        let blob = this.blob.as_deref().unwrap_or("-");
        tracing::warn!(blob, bad_records = this.count, start = first, end, reasons = %error, "bad records dead-lettered (the records around them were delivered)");
        Some(DeadLetter {
            raw_len: this.raw_len,
            ..DeadLetter::new(DeadLetterKind::Record, error, at.to_string())
                .about(
                    this.blob,
                    Some((first, end)),
                    format!("{} bad records from byte {first} to byte {end}", this.count),
                )
                .with_raw(&this.raw, raw_limit)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(offset: u64, reason: RecordErrorReason) -> RecordError {
        RecordError { blob: "b".into(), offset, len: 3, reason, raw: b"{}\n".to_vec() }
    }

    #[test]
    fn many_bad_records_make_one_bounded_document() {
        let mut agg = BadRecords::default();
        for i in 0..100_000u64 {
            let reason = match i % 4 {
                0 => RecordErrorReason::Json(format!("expected value at byte {i}")),
                _ => RecordErrorReason::UnknownFormat,
            };
            agg.add(bad(100 + 3 * i, reason), 1024);
        }
        let letter = agg.take(1024, "t").unwrap();
        assert!(agg.is_empty() && agg.take(1024, "t").is_none(), "taking resets");
        assert_eq!(letter.kind, DeadLetterKind::Record);
        assert_eq!(letter.range, Some((100, 100 + 300_000)));
        assert!(letter.context.starts_with("100000 bad records"), "{}", letter.context);
        assert!(
            letter.error.starts_with(&format!("{} (75000); ", RecordErrorReason::UnknownFormat)),
            "{}",
            letter.error
        );
        assert!(letter.error.ends_with(&format!("other reasons ({})", 25_000 - MAX_REASONS + 1)), "{}", letter.error);
        assert!(letter.raw.len() <= 1024, "raw bytes capped");
        assert_eq!(letter.raw_len, 300_000);
    }
}
