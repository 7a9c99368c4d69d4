//! The engine's row visitor: encodes rows as NDJSON, in segments the sink sends as they are,
//! and turns bad records and tuples into dead letters.
use bytes::Bytes;

use super::bad_records::BadRecords;
use super::bad_tuples::BadTuples;
use crate::domain::enrich::writer::EnrichWriter;
use crate::domain::format::tuple::FlowState;
use crate::domain::format::{GroupCtx, RecordCtx, RecordError, RowVisitor, Tuple, TupleError};
use crate::domain::row::ndjson::NdjsonEncoder;
use crate::pipeline::dead_letter::DeadLetter;

/// Where the part of the buffer that belongs to complete records ends.
#[derive(Clone, Copy, Debug, Default)]
struct Mark {
    segments: usize,
    bytes: usize,
    rows: u64,
}

/// Rows take up to about this many bytes per byte of flow-log JSON they come from (a 60-byte
/// tuple becomes a row of about 1.1 KB; measured 19 on the NSG v2 sample).
pub const ROWS_PER_INPUT_BYTE: usize = 24;

/// Input bytes fed to the parser at once: the buffer is checked against `flush_bytes` between
/// slices, so a slice's rows (at most about half a flush) are what a buffer can overshoot by.
/// Larger slices made each reading blob's buffer double past the flush size (8 MiB and more).
pub fn feed_slice(flush_bytes: usize) -> usize {
    (flush_bytes / (2 * ROWS_PER_INPUT_BYTE)).clamp(4 * 1024, 256 * 1024)
}

pub struct Collector {
    pub enc: NdjsonEncoder,
    /// Bad records (each reported with its end, so always of complete records).
    bad_records: BadRecords,
    /// Bad tuples of complete records, and of the record still being parsed (dropped with its
    /// rows if the record is incomplete, since a later read produces them again).
    bad_tuples: BadTuples,
    bad_tuples_open: BadTuples,
    /// Rows kept with a value this build does not know: [encryption, flow state].
    unknown: [u64; 2],
    /// Full segments cut from `enc.out`, each whole lines of at most `segment_limit` bytes (or
    /// one row, if a row is larger).
    segments: Vec<Bytes>,
    segmented: usize,
    segment_limit: Option<usize>,
    /// Capacity of a fresh encoding buffer: a segment, or a flush.
    capacity: usize,
    /// What follows the mark comes from a record still being parsed.
    complete: Mark,
    raw_limit: usize,
    now: String,
}

impl Collector {
    /// `segment_limit`: the sink's event size (`RowSink::segment_bytes`); `flush_bytes`: how much
    /// the engine buffers before sending. Rows carry the enrichments of `enrich`, one version
    /// for the whole blob read.
    pub fn new(
        raw_limit: usize,
        now: String,
        segment_limit: Option<usize>,
        flush_bytes: usize,
        enrich: EnrichWriter,
    ) -> Self {
        let capacity = match segment_limit {
            // Cut into segments as it fills: never much over the limit.
            Some(limit) => limit.min(flush_bytes) + 64 * 1024,
            // Flushed after the slice that reached `flush_bytes`, with that slice's rows.
            None => flush_bytes + feed_slice(flush_bytes) * ROWS_PER_INPUT_BYTE,
        };
        // The buffer is sized on first use (`reserve`), from what is left to read.
        let enc = NdjsonEncoder::with_writer(enrich);
        Collector {
            enc,
            bad_records: BadRecords::default(),
            bad_tuples: BadTuples::default(),
            bad_tuples_open: BadTuples::default(),
            unknown: [0; 2],
            segments: Vec::new(),
            segmented: 0,
            segment_limit,
            capacity,
            complete: Mark::default(),
            raw_limit,
            now,
        }
    }

    /// The enrichment writer, warm, for the next blob read.
    pub fn take_writer(&mut self) -> EnrichWriter {
        self.enc.take_writer()
    }

    /// Rows since the last take that carry an unknown encryption status and flow state.
    pub fn take_unknown(&mut self) -> [u64; 2] {
        std::mem::take(&mut self.unknown)
    }

    pub fn has_letters(&self) -> bool {
        !self.bad_records.is_empty() || !self.bad_tuples.is_empty()
    }

    /// The dead letters collected since the last take: bad records as one, bad tuples as one.
    pub fn take_letters(&mut self) -> Vec<DeadLetter> {
        let records = self.bad_records.take(self.raw_limit, &self.now);
        records.into_iter().chain(self.bad_tuples.take(self.raw_limit, &self.now)).collect()
    }

    /// Gzip-compressed blobs found since the last take.
    pub fn take_gzip(&mut self) -> u64 {
        self.bad_records.take_gzip()
    }

    /// Rows encoded since the last take.
    pub fn buffered_rows(&self) -> u64 {
        self.enc.rows
    }

    /// Encoded bytes waiting to be sent.
    pub fn buffered_bytes(&self) -> usize {
        self.segmented + self.enc.len()
    }

    /// Sizes an empty encoding buffer before rows are encoded: `input_left` bytes of the blob
    /// are still to be parsed, and rows take up to `ROWS_PER_INPUT_BYTE` times that. A full
    /// flush's buffer for every read would be kept alive (and resident) by a quiet blob's few
    /// rows until their output event is acknowledged, hundreds of them at once in a drain.
    pub fn reserve(&mut self, input_left: u64) {
        if self.enc.capacity() == 0 {
            let estimate = usize::try_from(input_left.saturating_mul(ROWS_PER_INPUT_BYTE as u64)).unwrap_or(usize::MAX);
            self.enc.out().reserve(estimate.saturating_add(64 * 1024).min(self.capacity));
        }
    }

    /// The encoded rows, handed over to the sink without a copy; the buffer starts afresh
    /// (sized by the next `reserve`).
    pub fn take_segments(&mut self) -> Vec<Bytes> {
        let mut segments = std::mem::take(&mut self.segments);
        if !self.enc.is_empty() {
            segments.push(Bytes::from(std::mem::take(self.enc.out())));
        }
        self.segmented = 0;
        self.complete.segments = 0;
        self.complete.bytes = 0;
        segments
    }

    /// Empties the buffer once its rows and letters are delivered.
    pub fn delivered(&mut self) {
        self.take_segments();
        self.enc.out().clear();
        self.enc.rows = 0;
        self.complete = Mark::default();
    }

    /// Forgets what an incomplete record produced since the last delivery: it is produced again
    /// when the record is read from its start, so sending it now would only add duplicates.
    pub fn drop_incomplete(&mut self) {
        let m = self.complete;
        if self.segments.len() > m.segments {
            // The mark lies in a segment cut since: that segment's complete part becomes the buffer.
            let segment = self.segments[m.segments].clone();
            self.segments.truncate(m.segments);
            self.segmented = self.segments.iter().map(Bytes::len).sum();
            self.enc.out().clear();
            self.enc.out().extend_from_slice(&segment[..m.bytes]);
        } else {
            self.enc.out().truncate(m.bytes);
        }
        self.enc.rows = m.rows;
        self.bad_tuples_open = BadTuples::default();
    }

    fn count_unknown(&mut self, t: &Tuple<'_>) {
        self.unknown[0] += u64::from(t.unknown_encryption);
        self.unknown[1] += u64::from(t.state == Some(FlowState::Unknown));
    }

    /// After the row at `row_start..row_end` of the buffer: once the buffer passes the segment
    /// size there, it becomes a segment (the row that passed it starts the next one, unless it
    /// is alone). Returns how many bytes left the buffer (0 when none).
    fn cut_segment(&mut self, row_start: usize, row_end: usize) -> usize {
        let Some(limit) = self.segment_limit else { return 0 };
        if row_end <= limit {
            return 0;
        }
        let at = if row_start == 0 { row_end } else { row_start };
        let mut next = Vec::with_capacity(self.capacity);
        let out = self.enc.out();
        next.extend_from_slice(&out[at..]);
        let mut full = std::mem::replace(out, next);
        full.truncate(at);
        self.segmented += full.len();
        self.segments.push(Bytes::from(full));
        at
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
        self.count_unknown(t);
        let start = self.enc.len();
        self.enc.row(r, g, t);
        self.cut_segment(start, self.enc.len());
    }

    fn row_pair(&mut self, _: &RecordCtx<'_>, _: &GroupCtx<'_>, a: &Tuple<'_>, b: &Tuple<'_>) {
        self.count_unknown(a);
        self.count_unknown(b);
        let start = self.enc.len();
        let mid = self.enc.render_pair(a, b);
        // Cut as two `row` calls would have: after the first row, then after the second.
        let moved = self.cut_segment(start, mid);
        self.cut_segment(mid - moved, self.enc.len());
    }

    fn record_end(&mut self) {
        self.complete = Mark { segments: self.segments.len(), bytes: self.enc.len(), rows: self.enc.rows };
        let open = std::mem::take(&mut self.bad_tuples_open);
        self.bad_tuples.absorb(open, self.raw_limit);
    }

    fn tuple_error(&mut self, e: TupleError) {
        self.bad_tuples_open.add(e, self.raw_limit);
    }

    fn record_error(&mut self, e: RecordError) {
        self.bad_records.add(e, self.raw_limit);
    }
}

#[cfg(test)]
#[path = "collector_tests.rs"]
mod tests;
