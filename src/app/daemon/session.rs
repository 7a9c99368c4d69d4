//! The run skeleton both daemons share: signals, the ops server, readiness, the offset sweep,
//! the shutdown deadline and the end-of-run summary. Each daemon only builds its engine and feed.
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{start_ops, summary, with_deadline};
use crate::app::config::ServerConfig;
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
}

impl Session {
    /// Installs the signal handlers and starts the ops server first, so a slow start (token
    /// acquisition, table creation) is not taken for a dead process.
    pub async fn start(server: &ServerConfig) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new());
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        let ready = Readiness::default();
        start_ops(server, metrics.clone(), ready.clone(), shutdown.clone()).await?;
        let stop_requested = Arc::new(OnceLock::new());
        let (requested, signal) = (stop_requested.clone(), shutdown.clone());
        tokio::spawn(async move {
            signal.cancelled().await;
            let _ = requested.set(Instant::now());
        });
        Ok(Session {
            metrics,
            shutdown,
            ready,
            started: Instant::now(),
            deadline: server.shutdown_deadline,
            stop_requested,
        })
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
