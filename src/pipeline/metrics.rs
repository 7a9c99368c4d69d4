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

use crate::pipeline::dead_letter::DeadLetterKind;
use crate::pipeline::storage_metrics::StorageMetrics;

type Labels = Vec<(&'static str, String)>;

fn label(key: &'static str, value: impl Into<String>) -> Labels {
    vec![(key, value.into())]
}

use crate::pipeline::labels::label_enum;

mod logs_ingestion;
mod output;
pub use logs_ingestion::{CallOutcome, LogsIngestionMetrics};
pub use output::{FlushReason, OutputMetrics};

label_enum!(
    /// What a change-feed event turned out to be.
    EventOutcome { Changed => "changed", Ignored => "ignored", Invalid => "invalid" }
);
label_enum!(
    /// How processing one blob ended.
    BlobResult {
        UpToDate => "up_to_date",
        Processed => "processed",
        Superseded => "superseded",
        Gone => "gone",
        Failed => "failed",
    }
);
label_enum!(
    /// A field whose set of values Azure extends over time; an unknown value keeps its row.
    ValueField { Encryption => "encryption", FlowState => "flow_state" }
);
label_enum!(
    /// What was retried after a transient failure.
    RetryOp { Blob => "blob", DeadLetter => "dead_letter", Batch => "batch", Ack => "ack", Connect => "connect" }
);

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
    pub rewritten_blobs: Counter,
    pub unwritten_waits: Counter,
    pub unreadable_paths: Counter,
    /// Enrichment files that changed but failed to load (the previous data stays in use).
    pub enrichment_reload_failures: Counter,
    /// Blobs found gzip-compressed (dead-lettered: flow logs are read as plain JSON).
    pub gzip_blobs: Counter,
    unknown_values: Family<Labels, Counter>,
    /// Offset commits that failed after their rows were delivered (each is retried on its own).
    pub commit_failures: Counter,
    /// Delivered flushes whose offset commit is still being retried.
    pub commits_pending: Gauge,
    /// Blobs carrying a durable retry mark (failed reads waiting for the sweep to retry them).
    pub pending_blobs: Gauge,
    /// Retries of marked blobs by the sweep.
    pub pending_retries: Counter,
    /// Blobs whose committed offset has not moved for longer than the stall age while they grew.
    pub stalled_blobs: Gauge,
    /// 1 while the pipeline runs, 0 before and after.
    pub ready: Gauge,
    partition_lag: Family<Labels, Gauge>,
    pub owned_partitions: Gauge,
    pub blob_lag_bytes: Histogram,
    pub latency_seconds: Histogram,
    /// Shared output events (group commit).
    pub output: OutputMetrics,
    /// The Logs Ingestion sink's calls (a `log_analytics` output only).
    pub logs_ingestion: LogsIngestionMetrics,
    /// Storage requests and the offset cache (a clone goes into the storage adapters' pipelines).
    pub storage: StorageMetrics,
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
            rewritten_blobs: Counter::default(),
            unwritten_waits: Counter::default(),
            unreadable_paths: Counter::default(),
            enrichment_reload_failures: Counter::default(),
            gzip_blobs: Counter::default(),
            unknown_values: Family::default(),
            commit_failures: Counter::default(),
            commits_pending: Gauge::default(),
            pending_blobs: Gauge::default(),
            pending_retries: Counter::default(),
            stalled_blobs: Gauge::default(),
            ready: Gauge::default(),
            partition_lag: Family::default(),
            owned_partitions: Gauge::default(),
            blob_lag_bytes: Histogram::new(exponential_buckets(1024.0, 4.0, 10)),
            latency_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            output: OutputMetrics::new(),
            logs_ingestion: LogsIngestionMetrics::default(),
            storage: StorageMetrics::default(),
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
            "rewritten_blobs",
            "Blobs whose content differed from what was delivered, read again from the start",
            m.rewritten_blobs.clone(),
        );
        r.register(
            "unwritten_waits",
            "Reads that stopped at NUL bytes not yet written (a preallocated file filled out of order)",
            m.unwritten_waits.clone(),
        );
        r.register(
            "unreadable_paths",
            "Files or directories of the watched tree that could not be read (skipped, retried later)",
            m.unreadable_paths.clone(),
        );
        r.register(
            "enrichment_reload_failures",
            "Enrichment files that changed on disk but failed to load or verify (the previous data stays in use)",
            m.enrichment_reload_failures.clone(),
        );
        r.register(
            "gzip_blobs",
            "Blobs found gzip-compressed and dead-lettered (decompress them first; flow logs are read as plain JSON)",
            m.gzip_blobs.clone(),
        );
        r.register(
            "unknown_values",
            "Tuples with a value Azure added after this build (kept, raw value in the row), by field",
            m.unknown_values.clone(),
        );
        r.register(
            "offset_commit_failures",
            "Offset commits that failed after their rows were delivered (retried without re-sending)",
            m.commit_failures.clone(),
        );
        r.register(
            "commits_pending",
            "Delivered flushes whose offset commit is being retried",
            m.commits_pending.clone(),
        );
        r.register("pending_blobs", "Blobs marked for a durable retry of a failed read", m.pending_blobs.clone());
        r.register("pending_retries", "Retries of marked blobs by the pending sweep", m.pending_retries.clone());
        r.register("ready", "1 while the pipeline runs (see /readyz for degraded states), else 0", m.ready.clone());
        r.register(
            "stalled_blobs",
            "Blobs whose offset has not moved for longer than engine.stall_after_secs while they grew",
            m.stalled_blobs.clone(),
        );
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
        m.output.register(r);
        m.logs_ingestion.register(r);
        m.storage.register(r);
        // Every labelled series exists from the start at zero, so dashboards and alerts see
        // "none yet" rather than "no data".
        for o in EventOutcome::ALL {
            let _ = m.events.get_or_create(&label("outcome", o.as_str()));
        }
        for o in BlobResult::ALL {
            let _ = m.blobs.get_or_create(&label("outcome", o.as_str()));
        }
        for k in DeadLetterKind::ALL {
            let _ = m.dead_letters.get_or_create(&label("kind", k.as_str()));
        }
        for f in ValueField::ALL {
            let _ = m.unknown_values.get_or_create(&label("field", f.as_str()));
        }
        for o in RetryOp::ALL {
            let _ = m.retries.get_or_create(&label("operation", o.as_str()));
        }
        Metrics { registry, ..m }
    }

    pub fn event(&self, outcome: EventOutcome) {
        self.events.get_or_create(&label("outcome", outcome.as_str())).inc();
    }

    pub fn blob(&self, result: BlobResult) {
        self.blobs.get_or_create(&label("outcome", result.as_str())).inc();
    }

    pub fn dead_letter(&self, kind: DeadLetterKind) {
        self.dead_letters.get_or_create(&label("kind", kind.as_str())).inc();
    }

    pub fn retry(&self, operation: RetryOp) {
        self.retries.get_or_create(&label("operation", operation.as_str())).inc();
    }

    /// Counts rows kept with a value of `field` this build does not know.
    pub fn unknown_values(&self, field: ValueField, rows: u64) {
        if rows > 0 {
            self.unknown_values.get_or_create(&label("field", field.as_str())).inc_by(rows);
        }
    }

    pub fn set_partition_lag(&self, partition: &str, lag: i64) {
        self.partition_lag.get_or_create(&label("partition", partition)).set(lag);
    }

    /// Counters read back (tests and the end-of-run summary).
    pub fn events_count(&self, outcome: EventOutcome) -> u64 {
        self.events.get_or_create(&label("outcome", outcome.as_str())).get()
    }

    pub fn blobs_count(&self, result: BlobResult) -> u64 {
        self.blobs.get_or_create(&label("outcome", result.as_str())).get()
    }

    pub fn dead_letters_count(&self, kind: DeadLetterKind) -> u64 {
        self.dead_letters.get_or_create(&label("kind", kind.as_str())).get()
    }

    pub fn retries_count(&self, operation: RetryOp) -> u64 {
        self.retries.get_or_create(&label("operation", operation.as_str())).get()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
