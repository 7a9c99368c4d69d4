//! The processing engine shared by the local default and the Azure daemon: it drives the four
//! seams through the commit order, one task per change-feed partition.
mod bad_records;
mod bad_tuples;
mod collector;
pub mod config;
mod gather;
pub mod heavy;
mod lane;
mod offset_cache;
mod packer;
mod partition;
mod pending;
mod read;
mod read_slot;
mod reasons;
pub mod retry;
mod send;
mod spare;
pub mod state;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::EngineConfig;
pub use offset_cache::OffsetCache;
pub use read::BlobOutcome;
pub use retry::RetryPolicy;
use state::EngineState;

use crate::domain::format::timefmt::TimeFormatter;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::change_feed::ChangeFeed;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::enrichment::EnrichmentHandle;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::metrics::Metrics;
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;
use crate::pipeline::storage_metrics::CacheDrop;

/// The seams and settings one worker runs with; cheap to clone into partition tasks.
pub struct Engine<B, O, S, D> {
    pub blobs: Arc<B>,
    pub offsets: Arc<O>,
    pub sink: Arc<S>,
    pub dead_letters: Arc<D>,
    pub cfg: EngineConfig,
    pub metrics: Arc<Metrics>,
    pub state: Arc<EngineState>,
    /// Enrichment data, replaceable while running; each blob read uses the version current at its start.
    pub enrichment: EnrichmentHandle,
    /// The open output event shared by every partition (group commit).
    packer: Arc<packer::Packer>,
    /// Offsets this worker loaded or committed, with their versions (`offset_cache.rs`).
    pub offset_cache: Arc<OffsetCache>,
    /// `max_reading_blobs` read permits for all partitions (see `read_slot`).
    reads: Arc<tokio::sync::Semaphore>,
}

impl<B, O, S, D> Clone for Engine<B, O, S, D> {
    fn clone(&self) -> Self {
        Engine {
            blobs: self.blobs.clone(),
            offsets: self.offsets.clone(),
            sink: self.sink.clone(),
            dead_letters: self.dead_letters.clone(),
            cfg: self.cfg.clone(),
            metrics: self.metrics.clone(),
            state: self.state.clone(),
            enrichment: self.enrichment.clone(),
            packer: self.packer.clone(),
            offset_cache: self.offset_cache.clone(),
            reads: self.reads.clone(),
        }
    }
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    pub fn new(blobs: Arc<B>, offsets: Arc<O>, sink: Arc<S>, dead_letters: Arc<D>, cfg: EngineConfig) -> Self {
        let state = Arc::new(EngineState::default());
        let reads = Arc::new(tokio::sync::Semaphore::new(cfg.max_reading_blobs.max(1)));
        Engine {
            blobs,
            offsets,
            sink,
            dead_letters,
            cfg,
            metrics: Arc::new(Metrics::new()),
            state,
            enrichment: EnrichmentHandle::default(),
            packer: Arc::default(),
            offset_cache: Arc::default(),
            reads,
        }
    }

    pub fn with_enrichment(mut self, enrichment: EnrichmentHandle) -> Self {
        self.enrichment = enrichment;
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Daemons retry a failed offset commit of delivered rows until it succeeds or they stop;
    /// bounded runs stop after the retry policy (see [`EngineConfig::patient_commits`]).
    pub fn with_patient_commits(mut self, patient: bool) -> Self {
        self.cfg.patient_commits = patient;
        self
    }

    /// Processes every partition the feed hands out, concurrently, until the feed ends or
    /// `shutdown` fires; in-flight batches finish (or their partitions stop) before it returns.
    /// `ChangeFeed::next_partition` must be cancel-safe.
    pub async fn run<F: ChangeFeed>(&self, mut feed: F, shutdown: CancellationToken) -> ServiceResult<()> {
        let stopping = self.state.stopping.clone();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            signal.cancelled().await;
            stopping.cancel();
        });
        let mut tasks = JoinSet::new();
        let mut first_error = None;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => note_partition_end(done, &mut first_error),
                next = feed.next_partition() => match next {
                    Ok(Some(part)) => {
                        let engine = self.clone();
                        let stop = shutdown.clone();
                        tasks.spawn(async move { engine.run_partition(part, stop).await });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        first_error.get_or_insert(e);
                        break;
                    }
                },
            }
        }
        while let Some(done) = tasks.join_next().await {
            note_partition_end(done, &mut first_error);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Deletes offset entries older than the retention, periodically, until shutdown.
    pub async fn sweep_loop(&self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.cfg.sweep_interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let cutoff = self.now_ms() - self.cfg.retention.as_millis() as i64;
            match self.offsets.sweep(cutoff).await {
                Ok(n) => {
                    self.metrics.sweep_deleted.inc_by(n);
                    if n > 0 {
                        self.drop_cached_offsets(CacheDrop::Sweep);
                    }
                    if n > 0 {
                        tracing::info!(deleted = n, "retention sweep deleted old offset entries");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention sweep failed; will try again"),
            }
        }
    }

    /// Awaits one storage call for at most `cfg.call_timeout`: a store that accepts the
    /// connection and never answers must not hold a blob (or its partition) for good.
    pub(crate) async fn bounded<T>(
        &self,
        what: impl FnOnce() -> String,
        call: impl std::future::Future<Output = ServiceResult<T>>,
    ) -> ServiceResult<T> {
        match tokio::time::timeout(self.cfg.call_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(crate::pipeline::error::ServiceError::transient(format!(
                "{}: no answer within {:?}",
                what(),
                self.cfg.call_timeout
            ))),
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }

    pub(crate) fn now_rfc3339(&self) -> String {
        TimeFormatter::format(self.now_ms())
    }
}

fn note_partition_end(
    done: Result<ServiceResult<()>, tokio::task::JoinError>,
    first_error: &mut Option<crate::pipeline::error::ServiceError>,
) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "partition stopped with an error");
            first_error.get_or_insert(e);
        }
        Err(e) => {
            tracing::error!(error = %e, "partition task panicked or was cancelled");
            first_error
                .get_or_insert(crate::pipeline::error::ServiceError::permanent(format!("partition task failed: {e}")));
        }
    }
}

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod gather_tests;
#[cfg(test)]
mod group_commit_tests;
#[cfg(test)]
mod tests;
