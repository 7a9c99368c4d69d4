//! Running the engine as a process: wiring the adapters chosen by configuration, the ops
//! server, graceful shutdown within a deadline, and the end-of-run summary.
#[cfg(feature = "azure")]
pub mod azure;
pub mod local;
mod local_hint;
#[cfg(feature = "azure")]
pub mod output;
#[cfg(feature = "azure")]
pub mod preflight;
pub mod progress;
pub mod session;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app::config::{Config, ServerConfig};
use crate::app::ops::server::{Readiness, serve};
use crate::app::ops::signals::cancel_on_signal;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::change_feed::listing::{ListingFeed, ProgressFn};
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::Engine;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::metrics::{BlobResult, Metrics};
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

/// Starts the ops server when configured; it stops with `shutdown`.
pub async fn start_ops(
    server: &ServerConfig,
    metrics: Arc<Metrics>,
    ready: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if let Some(addr) = server.listen {
        serve(addr, metrics, ready, shutdown).await?;
    }
    Ok(())
}

/// Drives `run` to completion; once `shutdown` fires it gets `deadline` to finish in-flight
/// work, after which that work is abandoned (its offsets were not committed, so it is redone
/// by whoever processes the blob next: at-least-once, never lost).
pub async fn with_deadline(
    run: impl Future<Output = ServiceResult<()>>,
    shutdown: &CancellationToken,
    deadline: Duration,
) -> ServiceResult<()> {
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => r,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(deadline).await } => {
            tracing::warn!(deadline_secs = deadline.as_secs(), "shutdown deadline passed; abandoning in-flight blobs");
            Ok(())
        }
    }
}

/// `flowlog backfill` on any seams: every blob listed under `prefix` goes through the engine
/// from its stored offset, reporting `(done, total)` as events are acknowledged.
pub async fn backfill<B, O, S, D>(
    engine: &Engine<B, O, S, D>,
    cfg: &Config,
    prefix: &str,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> anyhow::Result<()>
where
    B: BlobStore,
    O: OffsetStore,
    S: RowSink,
    D: DeadLetterStore,
{
    let started = Instant::now();
    let listing = engine.blobs.list(prefix).await.map_err(|e| anyhow::anyhow!("listing {prefix:?}: {e}"))?;
    let total = listing.len() as u64;
    tracing::info!(blobs = total, prefix, "backfill starting");
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    let report: ProgressFn = Box::new(move |done| progress(done, total));
    let run = engine.run(ListingFeed::new(listing, report), shutdown.clone());
    let result = with_deadline(run, &shutdown, cfg.server.shutdown_deadline).await;
    tracing::info!("{}", summary(&engine.metrics, started));
    if engine.sink.closed() {
        return Err(output_closed());
    }
    result.context("backfill failed")?;
    Incomplete::check(&engine.metrics, &engine.dead_letters.location())
}

/// How a run whose output's reader went away ends: one line, exit code 1 (nothing else it
/// logged afterwards is news; what it could not write is delivered by the next run).
pub fn output_closed() -> anyhow::Error {
    anyhow::anyhow!(
        "the output's reader went away (broken pipe), so flowlog stopped; rows it could not write were not committed and the next run delivers them"
    )
}

/// A run that went through everything but failed blobs or wrote dead letters: `run --once` and
/// `backfill` end with it, and the binary exits with [`Incomplete::EXIT_CODE`], so a scheduled
/// job can tell. Watch mode keeps running instead (the metrics say it).
#[derive(Debug)]
pub struct Incomplete {
    pub failed_blobs: u64,
    pub dead_letters: u64,
    /// Where the dead letters are (`DeadLetterStore::location`).
    pub dead_letters_at: String,
}

impl Incomplete {
    /// Distinct from 1 (could not run at all) and 2 (command-line usage errors).
    pub const EXIT_CODE: u8 = 3;

    pub fn check(metrics: &Metrics, dead_letters_at: &str) -> anyhow::Result<()> {
        let failed_blobs = metrics.blobs_count(BlobResult::Failed);
        let dead_letters =
            crate::pipeline::dead_letter::DeadLetterKind::ALL.iter().map(|k| metrics.dead_letters_count(*k)).sum();
        if failed_blobs == 0 && dead_letters == 0 {
            return Ok(());
        }
        Err(Incomplete { failed_blobs, dead_letters, dead_letters_at: dead_letters_at.to_string() }.into())
    }
}

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "finished with {} failed blob(s) and {} dead letter(s): the log says what and why; the details are in {}",
            self.failed_blobs, self.dead_letters, self.dead_letters_at
        )
    }
}

impl std::error::Error for Incomplete {}

/// One line for the operator at the end of a run. Bytes are counted as read, also those of a
/// record still being written (read again once it completes), so blobs that delivered nothing
/// new are counted with them: "0 blobs delivered" next to bytes read is then explained.
pub fn summary(metrics: &Metrics, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64();
    let rows = metrics.rows_sent.get();
    let dead: u64 =
        crate::pipeline::dead_letter::DeadLetterKind::ALL.iter().map(|k| metrics.dead_letters_count(*k)).sum();
    format!(
        "{rows} rows from {} records in {} bytes read; {} blob reads delivered, {} had nothing new to deliver \
         (up to date, or a record still being written), {} failed, {dead} dead letters; {secs:.2} s ({:.0} rows/s)",
        metrics.records.get(),
        metrics.bytes_read.get(),
        metrics.blobs_count(BlobResult::Processed),
        metrics.blobs_count(BlobResult::UpToDate),
        metrics.blobs_count(BlobResult::Failed),
        rows as f64 / secs.max(1e-9)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_where_bytes_went_when_no_blob_delivered() {
        let metrics = Metrics::new();
        // A blob holding only the start of a record: read, nothing complete to deliver.
        metrics.bytes_read.inc_by(6);
        metrics.blob(BlobResult::UpToDate);
        let line = summary(&metrics, Instant::now());
        assert!(
            line.starts_with("0 rows from 0 records in 6 bytes read; 0 blob reads delivered, 1 had nothing new"),
            "{line}"
        );
        assert!(line.contains("a record still being written"), "{line}");
    }
}
