//! Prometheus metrics of the pipeline, shared by the engine and the adapters.
//!
//! Label values are small fixed sets (outcomes, kinds, partition ids) so cardinality stays
//! bounded; per-blob figures are histograms, not labels.
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn label(key: &'static str, value: impl Into<String>) -> Labels {
    vec![(key, value.into())]
}

pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    blobs: Family<Labels, Counter>,
    dead_letters: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
    pub bytes_read: Counter,
    pub records: Counter,
    pub rows_sent: Counter,
    pub sink_batches: Counter,
    pub offset_conflicts: Counter,
    pub duplicate_rows: Counter,
    pub sweep_deleted: Counter,
    partition_lag: Family<Labels, Gauge>,
    pub owned_partitions: Gauge,
    pub blob_lag_bytes: Histogram,
    pub latency_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("flowlog");
        let m = Metrics {
            events: Family::default(),
            blobs: Family::default(),
            dead_letters: Family::default(),
            retries: Family::default(),
            bytes_read: Counter::default(),
            records: Counter::default(),
            rows_sent: Counter::default(),
            sink_batches: Counter::default(),
            offset_conflicts: Counter::default(),
            duplicate_rows: Counter::default(),
            sweep_deleted: Counter::default(),
            partition_lag: Family::default(),
            owned_partitions: Gauge::default(),
            blob_lag_bytes: Histogram::new(exponential_buckets(1024.0, 4.0, 10)),
            latency_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("events", "Change-feed events by outcome (changed, ignored, invalid)", m.events.clone());
        r.register("blobs", "Blob processing attempts by outcome", m.blobs.clone());
        r.register("dead_letters", "Dead letters written, by kind", m.dead_letters.clone());
        r.register("retries", "Retries of transient failures, by operation", m.retries.clone());
        r.register("bytes_read", "Blob bytes read", m.bytes_read.clone());
        r.register("records", "Flow-log records flattened", m.records.clone());
        r.register("rows_sent", "Rows accepted by the row sink", m.rows_sent.clone());
        r.register("sink_batches", "Batches accepted by the row sink", m.sink_batches.clone());
        r.register("offset_conflicts", "Offset compare-and-swap conflicts", m.offset_conflicts.clone());
        r.register("duplicate_rows", "Rows sent that another worker had already committed", m.duplicate_rows.clone());
        r.register("sweep_deleted", "Offset entries deleted by the retention sweep", m.sweep_deleted.clone());
        r.register(
            "partition_lag_events",
            "Events behind the partition's last enqueued event",
            m.partition_lag.clone(),
        );
        r.register("owned_partitions", "Change-feed partitions this worker processes", m.owned_partitions.clone());
        r.register("blob_lag_bytes", "Unread bytes of a blob when an event is processed", m.blob_lag_bytes.clone());
        r.register(
            "latency_seconds",
            "Time from event enqueue to its rows being delivered and the offset committed",
            m.latency_seconds.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn event(&self, outcome: &'static str) {
        self.events.get_or_create(&label("outcome", outcome)).inc();
    }

    pub fn blob(&self, outcome: &'static str) {
        self.blobs.get_or_create(&label("outcome", outcome)).inc();
    }

    pub fn dead_letter(&self, kind: &'static str) {
        self.dead_letters.get_or_create(&label("kind", kind)).inc();
    }

    pub fn retry(&self, operation: &'static str) {
        self.retries.get_or_create(&label("operation", operation)).inc();
    }

    pub fn set_partition_lag(&self, partition: &str, lag: i64) {
        self.partition_lag.get_or_create(&label("partition", partition)).set(lag);
    }

    /// Reads a labelled counter (tests and the end-of-run summary).
    pub fn count(&self, family: &str, value: &str) -> u64 {
        let fam = match family {
            "events" => &self.events,
            "blobs" => &self.blobs,
            "dead_letters" => &self.dead_letters,
            "retries" => &self.retries,
            _ => return 0,
        };
        let key = match family {
            "events" | "blobs" => "outcome",
            "dead_letters" => "kind",
            _ => "operation",
        };
        fam.get_or_create(&label(key, value)).get()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
