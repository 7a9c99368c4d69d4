//! The engine's row visitor: encodes rows as NDJSON and turns bad records and tuples into dead letters.
use super::bad_tuples::BadTuples;
use crate::domain::format::{GroupCtx, RecordCtx, RecordError, RowVisitor, Tuple, TupleError};
use crate::domain::row::ndjson::NdjsonEncoder;
use crate::pipeline::dead_letter::{DeadLetter, DeadLetterKind};

pub struct Collector {
    pub enc: NdjsonEncoder,
    letters: Vec<DeadLetter>,
    bad_tuples: BadTuples,
    raw_limit: usize,
    now: String,
}

impl Collector {
    pub fn new(raw_limit: usize, now: String) -> Self {
        Collector { enc: NdjsonEncoder::new(), letters: Vec::new(), bad_tuples: BadTuples::default(), raw_limit, now }
    }

    pub fn has_letters(&self) -> bool {
        !self.letters.is_empty() || !self.bad_tuples.is_empty()
    }

    /// The dead letters collected since the last take: bad records one each, bad tuples as one.
    pub fn take_letters(&mut self) -> Vec<DeadLetter> {
        let mut letters = std::mem::take(&mut self.letters);
        letters.extend(self.bad_tuples.take(self.raw_limit, &self.now));
        letters
    }

    /// Rows encoded since the last take.
    pub fn buffered_rows(&self) -> u64 {
        self.enc.rows
    }
}

impl RowVisitor for Collector {
    fn record(&mut self, r: &RecordCtx<'_>) {
        self.enc.record(r);
    }

    fn group(&mut self, r: &RecordCtx<'_>, g: &GroupCtx<'_>) {
        self.enc.group(r, g);
    }

    fn row(&mut self, r: &RecordCtx<'_>, g: &GroupCtx<'_>, t: &Tuple<'_>) {
        self.enc.row(r, g, t);
    }

    fn tuple_error(&mut self, e: TupleError) {
        self.bad_tuples.add(e, self.raw_limit);
    }

    fn record_error(&mut self, e: RecordError) {
        tracing::warn!(blob = %e.blob, start = e.offset, end = e.offset + e.len, reason = %e.reason, "bad record dead-lettered");
        self.letters.push(DeadLetter {
            raw_len: e.len,
            ..DeadLetter::new(
                DeadLetterKind::Record,
                Some(e.blob.clone()),
                Some((e.offset, e.offset + e.len)),
                "record".into(),
                e.reason.to_string(),
                &e.raw,
                self.raw_limit,
                self.now.clone(),
            )
        });
    }
}
