//! Metrics of the Logs Ingestion sink: every HTTP try, by what answered it, and the rows and
//! bytes the service accepted. Only a `log_analytics` output moves them.
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::{Labels, label};
use crate::pipeline::labels::label_enum;

label_enum!(
    /// How one Logs Ingestion call (one HTTP try) ended.
    CallOutcome {
        Accepted => "accepted",
        TooLarge => "too_large",
        Throttled => "throttled",
        ServerError => "server_error",
        Unanswered => "unanswered",
        Failed => "failed",
        Refused => "refused",
    }
);

#[derive(Clone, Default)]
pub struct LogsIngestionMetrics {
    calls: Family<Labels, Counter>,
    /// Rows in calls answered 204.
    pub rows: Counter,
    /// Bytes on the wire (gzip when on) of calls answered 204.
    pub bytes: Counter,
    /// Uncompressed JSON bytes of calls answered 204.
    pub raw_bytes: Counter,
    /// Calls cut in two after a 413.
    pub splits: Counter,
    /// Tries made again (after a 429, 5xx, reset or an unanswered call).
    pub retries: Counter,
}

impl LogsIngestionMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        for o in CallOutcome::ALL {
            let _ = self.calls.get_or_create(&label("outcome", o.as_str()));
        }
        r.register(
            "logs_ingestion_calls",
            "Logs Ingestion API tries, by outcome (accepted, too_large, throttled, server_error, unanswered, failed, refused)",
            self.calls.clone(),
        );
        r.register("logs_ingestion_rows", "Rows the Logs Ingestion API accepted", self.rows.clone());
        r.register("logs_ingestion_bytes", "Request body bytes of accepted calls, as sent", self.bytes.clone());
        r.register("logs_ingestion_raw_bytes", "JSON bytes of accepted calls, before gzip", self.raw_bytes.clone());
        r.register("logs_ingestion_splits", "Calls cut in two after a 413", self.splits.clone());
        r.register("logs_ingestion_retries", "Logs Ingestion tries made again", self.retries.clone());
    }

    pub fn call(&self, outcome: CallOutcome) {
        self.calls.get_or_create(&label("outcome", outcome.as_str())).inc();
    }

    pub fn calls_count(&self, outcome: CallOutcome) -> u64 {
        self.calls.get_or_create(&label("outcome", outcome.as_str())).get()
    }
}
