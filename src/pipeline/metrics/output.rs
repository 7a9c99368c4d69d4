//! Metrics of the shared output events (group commit): how full they are and how long they
//! waited to fill.
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::{Labels, label};
use crate::pipeline::labels::label_enum;

label_enum!(
    /// Why an output event was closed and sent.
    FlushReason {
        Full => "full",
        Linger => "linger",
        Idle => "idle",
    }
);

pub struct OutputMetrics {
    /// Output events accepted by the row sink (a gzip sink may split one into several hub events).
    pub events: Counter,
    /// NDJSON bytes of the accepted events, before compression.
    pub bytes: Counter,
    pub rows_per_event: Histogram,
    pub blobs_per_event: Histogram,
    /// Time from an event's first rows to its being closed.
    pub linger_seconds: Histogram,
    pub in_flight: Gauge,
    flushes: Family<Labels, Counter>,
}

impl OutputMetrics {
    pub(super) fn new() -> Self {
        let m = OutputMetrics {
            events: Counter::default(),
            bytes: Counter::default(),
            rows_per_event: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            blobs_per_event: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            linger_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            in_flight: Gauge::default(),
            flushes: Family::default(),
        };
        for r in FlushReason::ALL {
            let _ = m.flushes.get_or_create(&label("reason", r.as_str()));
        }
        m
    }

    pub(super) fn register(&self, r: &mut Registry) {
        r.register("output_events", "Shared output events accepted by the row sink", self.events.clone());
        r.register("output_bytes", "NDJSON bytes of accepted output events, before compression", self.bytes.clone());
        r.register("output_rows_per_event", "Rows in one output event", self.rows_per_event.clone());
        r.register("output_blobs_per_event", "Blobs whose rows share one output event", self.blobs_per_event.clone());
        r.register(
            "output_linger_seconds",
            "Time an output event stayed open for more rows before it was sent",
            self.linger_seconds.clone(),
        );
        r.register("output_events_in_flight", "Output events being sent", self.in_flight.clone());
        r.register(
            "output_flushes",
            "Output events closed, by reason (full, linger bound passed, nobody left to add rows)",
            self.flushes.clone(),
        );
    }

    pub fn flushed(&self, reason: FlushReason) {
        self.flushes.get_or_create(&label("reason", reason.as_str())).inc();
    }

    pub fn flushes_count(&self, reason: FlushReason) -> u64 {
        self.flushes.get_or_create(&label("reason", reason.as_str())).get()
    }

    /// Counts an event the sink accepted.
    pub fn accepted(&self, bytes: usize, rows: usize, blobs: usize) {
        self.events.inc();
        self.bytes.inc_by(bytes as u64);
        self.rows_per_event.observe(rows as f64);
        self.blobs_per_event.observe(blobs as f64);
    }
}
