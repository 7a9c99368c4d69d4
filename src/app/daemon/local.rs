//! The embedded local default: a watched directory in, file-backed offsets, NDJSON out.
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::{start_ops, summary, with_deadline};
use crate::app::config::{Config, LocalConfig, Output};
use crate::app::ops::server::Readiness;
use crate::app::ops::signals::cancel_on_signal;
use crate::local::blob_store::LocalBlobStore;
use crate::local::dead_letter::LocalDeadLetters;
use crate::local::feed::{LocalFeed, LocalFeedMode};
use crate::local::ndjson_sink::NdjsonFileSink;
use crate::local::offset_store::LocalOffsetStore;
use crate::pipeline::engine::Engine;
use crate::pipeline::metrics::Metrics;

type LocalEngine = Engine<LocalBlobStore, LocalOffsetStore, NdjsonFileSink, LocalDeadLetters>;

async fn engine(cfg: &Config, local: &LocalConfig, metrics: Arc<Metrics>) -> anyhow::Result<LocalEngine> {
    if !local.watch.is_dir() {
        anyhow::bail!("local.watch: {} is not a directory (create it, or pass --watch DIR)", local.watch.display());
    }
    let offsets = LocalOffsetStore::open(local.state.join("offsets"))
        .await
        .with_context(|| format!("local.state: opening offsets under {}", local.state.display()))?;
    let dead = LocalDeadLetters::open(local.state.join("dead-letters")).await.context("local.state: dead letters")?;
    let sink = match &local.out {
        Output::Stdout => NdjsonFileSink::stdout(),
        Output::File(p) => NdjsonFileSink::open_file(p).await.with_context(|| format!("local.out: {}", p.display()))?,
    };
    Ok(Engine::new(
        Arc::new(LocalBlobStore::new(&local.watch)),
        Arc::new(offsets),
        Arc::new(sink),
        Arc::new(dead),
        cfg.engine.clone(),
    )
    .with_metrics(metrics)
    .with_enrichment(crate::app::enrich::start(&cfg.enrich)?))
}

/// `flowlog run` in local mode: everything under `watch`, then (unless `once`) every growth.
pub async fn run(cfg: &Config, local: &LocalConfig, once: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let metrics = Arc::new(Metrics::new());
    let engine = engine(cfg, local, metrics.clone()).await?;
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
    let ready = Readiness::default();
    start_ops(&cfg.server, metrics.clone(), ready.clone(), shutdown.clone()).await?;
    let mode = if once { LocalFeedMode::Once } else { LocalFeedMode::Watch };
    let feed = LocalFeed::new(&local.watch, mode)
        .with_shutdown(shutdown.clone())
        .with_polling(local.poll)
        .with_poll_interval(local.poll_interval);
    if !once {
        let sweeper = engine.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move { sweeper.sweep_loop(stop).await });
        let reload = crate::app::enrich::reload_loop(cfg.enrich.clone(), engine.enrichment.clone(), shutdown.clone());
        tokio::spawn(reload);
    }
    tracing::info!(watch = %local.watch.display(), state = %local.state.display(), once, "flowlog running in local mode");
    ready.set(true);
    let result = with_deadline(engine.run(feed, shutdown.clone()), &shutdown, cfg.server.shutdown_deadline).await;
    ready.set(false);
    shutdown.cancel();
    tracing::info!("{}", summary(&metrics, started));
    result.context("processing failed")
}

/// `flowlog backfill` in local mode: every blob under `watch/prefix`, from its stored offset.
pub async fn backfill(
    cfg: &Config,
    local: &LocalConfig,
    prefix: &str,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let engine = engine(cfg, local, Arc::new(Metrics::new())).await?;
    super::backfill(&engine, cfg, prefix, progress).await
}
