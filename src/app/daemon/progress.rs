//! The periodic progress line of a running pipeline (`log.progress_interval_secs`): what it did
//! since the previous line, so a long `run --once` or an idle-looking daemon visibly works.
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::pipeline::dead_letter::DeadLetterKind;
use crate::pipeline::metrics::{BlobResult, Metrics};

/// Counter totals the line reports the growth of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Blob reads that delivered (or found nothing new to deliver past the offset).
    pub blobs: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Failed blob reads and dead letters written.
    pub errors: u64,
}

impl Totals {
    pub fn of(m: &Metrics) -> Totals {
        let dead: u64 = DeadLetterKind::ALL.iter().map(|k| m.dead_letters_count(*k)).sum();
        Totals {
            blobs: m.blobs_count(BlobResult::Processed),
            rows: m.rows_sent.get(),
            bytes: m.bytes_read.get(),
            errors: m.blobs_count(BlobResult::Failed) + dead,
        }
    }

    fn since(self, before: Totals) -> Totals {
        Totals {
            blobs: self.blobs.saturating_sub(before.blobs),
            rows: self.rows.saturating_sub(before.rows),
            bytes: self.bytes.saturating_sub(before.bytes),
            errors: self.errors.saturating_sub(before.errors),
        }
    }
}

/// Logs one INFO line every `every` until `stop`: the growth of [`Totals`] since the last line.
pub async fn log_progress(metrics: Arc<Metrics>, every: Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Totals::of(&metrics);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = Totals::of(&metrics);
        let d = now.since(last);
        last = now;
        // Text logs show `progress in the last 60 s blobs=3 rows=150 bytes=40000 errors=0`.
        let secs = every.as_secs();
        tracing::info!(
            blobs = d.blobs,
            rows = d.rows,
            bytes = d.bytes,
            errors = d.errors,
            "progress in the last {secs} s"
        );
    }
}
