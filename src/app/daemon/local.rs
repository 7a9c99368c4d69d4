//! The embedded local default: a watched directory in, file-backed offsets, NDJSON out.
use std::sync::Arc;

use anyhow::Context;

use tokio_util::sync::CancellationToken;

use super::Incomplete;
use super::session::Session;
use crate::app::config::{Config, LocalConfig, Output};
use crate::local::blob_store::LocalBlobStore;
use crate::local::dead_letter::LocalDeadLetters;
use crate::local::feed::{LocalFeed, LocalFeedMode};
use crate::local::ndjson_sink::NdjsonFileSink;
use crate::local::offset_store::LocalOffsetStore;
use crate::pipeline::dead_letter::DeadLetterStore as _;
use crate::pipeline::engine::Engine;
use crate::pipeline::metrics::Metrics;

type LocalEngine = Engine<LocalBlobStore, LocalOffsetStore, NdjsonFileSink, LocalDeadLetters>;

async fn engine(
    cfg: &Config,
    local: &LocalConfig,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<LocalEngine> {
    if local.watch.is_file() {
        anyhow::bail!(
            "local.watch: {} is a file; run watches a directory tree of PT1H.json blobs. To read one file once: flowlog flatten {}",
            local.watch.display(),
            local.watch.display()
        );
    }
    if !local.watch.is_dir() {
        anyhow::bail!("local.watch: {} is not a directory (create it, or pass --watch DIR)", local.watch.display());
    }
    let offsets = LocalOffsetStore::open(local.state.join("offsets"))
        .await
        .with_context(|| format!("local.state: opening offsets under {}", local.state.display()))?
        .sweeping_only_gone(&local.watch);
    let dead = LocalDeadLetters::open(local.state.join("dead-letters")).await.context("local.state: dead letters")?;
    let sink = match &local.out {
        Output::Stdout => NdjsonFileSink::stdout(),
        Output::File(p) => NdjsonFileSink::open_file(p).await.with_context(|| format!("local.out: {}", p.display()))?,
    }
    .with_stop_on_close(shutdown);
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
///
/// With `once`, a run that failed a blob or wrote a dead letter ends with [`Incomplete`].
pub async fn run(cfg: &Config, local: &LocalConfig, once: bool) -> anyhow::Result<()> {
    let session = Session::new(cfg);
    // Opening a FIFO given as `local.out` waits for its reader: a stop ends that wait (the
    // binary leaves the blocked open behind when it exits).
    let engine = tokio::select! {
        biased;
        _ = session.shutdown.cancelled() => {
            tracing::info!("stopped while starting");
            return Ok(());
        }
        engine = engine(cfg, local, session.metrics.clone(), session.shutdown.clone()) => engine?,
    };
    // After the checks of the settings: a bad one stops the start before endpoints are announced.
    session.serve_ops().await?;
    let mode = if once { LocalFeedMode::Once } else { LocalFeedMode::Watch };
    let feed = LocalFeed::new(&local.watch, mode)
        .with_shutdown(session.shutdown.clone())
        .with_polling(local.poll)
        .with_poll_interval(local.poll_interval)
        .with_paths(engine.blobs.paths())
        .with_metrics(session.metrics.clone());
    tracing::info!(watch = %local.watch.display(), state = %local.state.display(), once, "flowlog running in local mode");
    match super::local_hint::no_blobs(&local.watch, once) {
        Some(hint) if once => tracing::warn!("{hint}"),
        // An empty tree is how a new setup starts: worth saying, not worth a warning.
        Some(hint) => tracing::info!("{hint}"),
        None => {}
    }
    if !once {
        // Weekly database updates are picked up without a restart.
        let shutdown = session.shutdown.clone();
        tokio::spawn(crate::app::enrich::reload_loop(
            cfg.enrich.clone(),
            engine.enrichment.clone(),
            engine.metrics.clone(),
            shutdown,
        ));
    }
    let result = session.drive(&engine, feed, !once).await;
    session.finish();
    if engine.sink.output_closed() {
        // Whatever else failed after that failed for that reason: one line says it.
        return Err(super::output_closed());
    }
    result?;
    if once {
        Incomplete::check(&session.metrics, &engine.dead_letters.location())?;
    }
    Ok(())
}

/// `flowlog backfill` in local mode: every blob under `watch/prefix`, from its stored offset.
pub async fn backfill(
    cfg: &Config,
    local: &LocalConfig,
    prefix: &str,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let engine = engine(cfg, local, Arc::new(Metrics::new()), CancellationToken::new()).await?;
    super::backfill(&engine, cfg, prefix, progress).await
}
