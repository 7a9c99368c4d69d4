//! A chosen output encoding behind one type, for commands that take `--format`.
use std::sync::Arc;

use super::csv::CsvEncoder;
use super::ndjson::NdjsonEncoder;
use crate::domain::enrich::Enricher;
use crate::domain::format::{GroupCtx, RecordCtx, RowVisitor, Tuple};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RowFormat {
    Ndjson,
    Csv,
}

pub enum Encoder {
    Ndjson(NdjsonEncoder),
    Csv(CsvEncoder),
}

impl Encoder {
    /// A new encoder; CSV starts with its header line.
    pub fn new(format: RowFormat) -> Self {
        Self::with_enricher(format, Enricher::basic())
    }

    /// A new encoder whose rows carry the enrichments `enricher` has on.
    pub fn with_enricher(format: RowFormat, enricher: Arc<Enricher>) -> Self {
        match format {
            RowFormat::Ndjson => Encoder::Ndjson(NdjsonEncoder::with_enricher(enricher)),
            RowFormat::Csv => {
                let mut csv = CsvEncoder::with_enricher(enricher);
                csv.write_header();
                Encoder::Csv(csv)
            }
        }
    }

    /// Encoded bytes not yet taken by the caller.
    pub fn out(&mut self) -> &mut Vec<u8> {
        match self {
            Encoder::Ndjson(e) => e.out(),
            Encoder::Csv(e) => &mut e.out,
        }
    }

    pub fn rows(&self) -> u64 {
        match self {
            Encoder::Ndjson(e) => e.rows,
            Encoder::Csv(e) => e.rows,
        }
    }
}

impl RowVisitor for Encoder {
    fn record(&mut self, record: &RecordCtx<'_>) {
        match self {
            Encoder::Ndjson(e) => e.record(record),
            Encoder::Csv(e) => e.record(record),
        }
    }

    fn group(&mut self, record: &RecordCtx<'_>, group: &GroupCtx<'_>) {
        match self {
            Encoder::Ndjson(e) => e.group(record, group),
            Encoder::Csv(e) => e.group(record, group),
        }
    }

    fn row(&mut self, record: &RecordCtx<'_>, group: &GroupCtx<'_>, tuple: &Tuple<'_>) {
        match self {
            Encoder::Ndjson(e) => e.row(record, group, tuple),
            Encoder::Csv(e) => e.row(record, group, tuple),
        }
    }
}
