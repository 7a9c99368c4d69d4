//! The engine's row visitor: encodes rows as NDJSON and turns bad records and tuples into dead letters.
use std::sync::Arc;

use crate::domain::enrich::Enricher;
use crate::domain::format::{GroupCtx, RecordCtx, RecordError, RowVisitor, Tuple, TupleError};
use crate::domain::row::ndjson::NdjsonEncoder;
use crate::pipeline::dead_letter::{DeadLetter, DeadLetterKind};

pub struct Collector {
    pub enc: NdjsonEncoder,
    pub letters: Vec<DeadLetter>,
    raw_limit: usize,
    now: String,
}

impl Collector {
    /// Rows carry the enrichments of `enricher`, one version for the whole blob read.
    pub fn new(raw_limit: usize, now: String, enricher: Arc<Enricher>) -> Self {
        Collector { enc: NdjsonEncoder::with_enricher(enricher), letters: Vec::new(), raw_limit, now }
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
        tracing::warn!(blob = %e.blob, record_offset = e.record_offset, ordinal = e.ordinal, reason = %e.reason, "bad flow tuple dead-lettered");
        self.letters.push(DeadLetter::new(
            DeadLetterKind::Tuple,
            Some(e.blob.clone()),
            None,
            format!("record at byte {} tuple #{}", e.record_offset, e.ordinal),
            e.reason.to_string(),
            e.tuple.as_bytes(),
            self.raw_limit,
            self.now.clone(),
        ));
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
