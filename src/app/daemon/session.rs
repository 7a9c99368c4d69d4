//! The run skeleton both daemons share: signals, the ops server, readiness, the offset sweep,
//! the shutdown deadline and the end-of-run summary. Each daemon only builds its engine and feed.
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::progress::log_progress;
use super::{start_ops, summary, with_deadline};
use crate::app::config::{Config, ServerConfig};
use crate::app::ops::server::Readiness;
use crate::app::ops::signals::cancel_on_signal;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::change_feed::ChangeFeed;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::Engine;
use crate::pipeline::metrics::Metrics;
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

pub struct Session {
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    ready: Readiness,
    started: Instant,
    deadline: Duration,
    /// When shutdown was requested: every later step gets what remains of the deadline.
    stop_requested: Arc<OnceLock<Instant>>,
    server: ServerConfig,
    progress: Option<Duration>,
}

impl Session {
    /// Installs the signal handlers and starts the ops server first, so a slow start (token
    /// acquisition, table creation) is not taken for a dead process.
    pub async fn start(cfg: &Config) -> anyhow::Result<Self> {
        let session = Session::new(cfg);
        session.serve_ops().await?;
        Ok(session)
    }

    /// Installs the signal handlers; the ops server waits for [`Session::serve_ops`], so a
    /// start that fails at once does not announce endpoints first.
    pub fn new(cfg: &Config) -> Self {
        let metrics = Arc::new(Metrics::new());
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        let stop_requested = Arc::new(OnceLock::new());
        let (requested, signal) = (stop_requested.clone(), shutdown.clone());
        tokio::spawn(async move {
            signal.cancelled().await;
            let _ = requested.set(Instant::now());
        });
        Session {
            metrics,
            shutdown,
            ready: Readiness::default(),
            started: Instant::now(),
            deadline: cfg.server.shutdown_deadline,
            stop_requested,
            server: cfg.server.clone(),
            progress: cfg.progress,
        }
    }

    /// Starts the ops server when configured; it stops with the session's shutdown.
    pub async fn serve_ops(&self) -> anyhow::Result<()> {
        start_ops(&self.server, self.metrics.clone(), self.ready.clone(), self.shutdown.clone()).await
    }

    /// The readiness `/readyz` reports.
    pub fn readiness(&self) -> &Readiness {
        &self.ready
    }

    /// What remains of the shutdown deadline (all of it while no shutdown was requested).
    pub fn remaining(&self) -> Duration {
        self.stop_requested.get().map_or(self.deadline, |at| self.deadline.saturating_sub(at.elapsed()))
    }

    /// Runs one shutdown step within what remains of the deadline; a step still running then
    /// is abandoned with a warning (`what` names it).
    pub async fn bounded<T>(&self, what: &str, step: impl Future<Output = T>) -> Option<T> {
        match tokio::time::timeout(self.remaining(), step).await {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!(
                    step = what,
                    deadline_secs = self.deadline.as_secs(),
                    "abandoned at the shutdown deadline"
                );
                None
            }
        }
    }

    /// Runs `engine` over `feed` until the feed ends or shutdown is requested, then gives
    /// in-flight work the shutdown deadline. A `daemon` also runs the retention and pending
    /// sweeps and retries a failed offset commit until it succeeds or the process stops.
    pub async fn drive<B, O, S, D, F>(&self, engine: &Engine<B, O, S, D>, feed: F, daemon: bool) -> anyhow::Result<()>
    where
        B: BlobStore,
        O: OffsetStore,
        S: RowSink,
        D: DeadLetterStore,
        F: ChangeFeed,
    {
        let engine = &engine.clone().with_patient_commits(daemon);
        if daemon {
            let sweeper = engine.clone();
            let stop = self.shutdown.clone();
            tokio::spawn(async move { sweeper.sweep_loop(stop).await });
            let retrier = engine.clone();
            let stop = self.shutdown.clone();
            tokio::spawn(async move { retrier.pending_loop(stop).await });
        }
        if let Some(every) = self.progress {
            tokio::spawn(log_progress(engine.metrics.clone(), every, self.shutdown.clone()));
        }
        self.ready.attach(engine.metrics.clone(), engine.state.clone(), engine.cfg.stall_after);
        self.ready.set(true);
        let result = with_deadline(engine.run(feed, self.shutdown.clone()), &self.shutdown, self.deadline).await;
        self.ready.set(false);
        self.shutdown.cancel();
        result.context("processing failed")
    }

    /// Logs the end-of-run summary.
    pub fn finish(&self) {
        tracing::info!("{}", summary(&self.metrics, self.started));
    }
}
