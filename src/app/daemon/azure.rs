//! The Azure daemon: Event Grid events from the input hub (load-balanced, checkpointed), blobs
//! from the allowed storage accounts, offsets in Table storage, rows to the output hub for Data
//! Explorer, dead letters in a blob container.
use std::sync::Arc;
use std::time::Duration;

use azure_messaging_eventhubs::{ProcessorStrategy, StartLocation};

use super::output::OutputSink;
use super::session::Session;
use crate::app::azure_wiring::{Credentials, endpoint, source_accounts};
use crate::app::config::{AzureConfig, Config, ContainerRef, OutputTarget};
use crate::azure::AccountEndpoint;
use crate::azure::blob_store::{AzureBlobStore, AzureBlobStoreOptions};
use crate::azure::dead_letter::AzureDeadLetters;
use crate::azure::feed::{EventHubsFeed, EventHubsFeedHandle, EventHubsFeedOptions, blob_checkpoint_store};
use crate::azure::logs_ingestion::LogsIngestionSink;
use crate::azure::reconnecting::Probing;
use crate::azure::sink::{AdxRouting, EventHubsSink};
use crate::azure::sources::AllowedSources;
use crate::azure::storage_counter::{StorageCounter, StorageRole};
use crate::azure::table::TableOffsetStore;
use crate::pipeline::engine::{Engine, RetryPolicy};
use crate::pipeline::error::{ServiceError, ServiceResult};
use crate::pipeline::metrics::{Metrics, RetryOp};

/// Bound on each Event Hubs call (the SDK has none of its own for send and close).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

type AzureEngine = Engine<AzureBlobStore, TableOffsetStore, OutputSink, AzureDeadLetters>;

fn container_parts(
    setting: &str,
    c: &ContainerRef,
    creds: &Credentials,
) -> anyhow::Result<(AccountEndpoint, crate::azure::StorageAuth)> {
    let ep = endpoint(&format!("{setting}.account_url"), &c.account_url)?;
    let auth = creds.storage(setting, &ep, &c.secret)?;
    Ok((ep, auth))
}

/// Builds the stores and the sink; every connection is tried here, so bad settings fail at start.
async fn engine(
    cfg: &Config,
    az: &AzureConfig,
    creds: &Credentials,
    metrics: Arc<Metrics>,
) -> anyhow::Result<AzureEngine> {
    // Data files first: a missing database should fail before any connection is attempted.
    let enrichment = crate::app::enrich::start(&cfg.enrich)?;
    let counter = |role| Some(StorageCounter::new(&metrics.storage, role));
    let options = AzureBlobStoreOptions {
        counter: counter(StorageRole::Sources),
        transport: Some(creds.blob_transport().clone()),
        ..Default::default()
    };
    let blobs =
        AzureBlobStore::new(source_accounts(az, creds)?, options).map_err(|e| anyhow::anyhow!("sources: {e}"))?;
    let table_endpoint = endpoint("offsets.account_url", &az.offsets_account_url)?;
    let auth = creds.storage("offsets", &table_endpoint, &az.offsets_secret)?;
    let offsets = TableOffsetStore::counted(&table_endpoint, &az.offsets_table, &auth, counter(StorageRole::Offsets))
        .map_err(|e| anyhow::anyhow!("offsets: {e}"))?;
    offsets.ensure_table().await.map_err(|e| anyhow::anyhow!("offsets: table {}: {e}", az.offsets_table))?;
    let (dl_endpoint, dl_auth) = container_parts("dead_letter", &az.dead_letter, creds)?;
    let dead = AzureDeadLetters::new(&dl_endpoint, &az.dead_letter.container, &dl_auth, creds.blob_transport())
        .map_err(|e| anyhow::anyhow!("dead_letter: {e}"))?;
    dead.ensure_container()
        .await
        .map_err(|e| anyhow::anyhow!("dead_letter: container {}: {e}", az.dead_letter.container))?;
    let sink = match &az.output {
        OutputTarget::EventHubs(hub) => {
            let routing = AdxRouting { table: az.adx_table.clone(), mapping: az.adx_mapping.clone() };
            let target = creds.hub_target(hub, CALL_TIMEOUT)?;
            let sink = until_connected("output hub", &cfg.engine.retry, &metrics, || {
                EventHubsSink::open_with(
                    target.clone(),
                    az.batch,
                    routing.clone(),
                    Some(metrics.clone()),
                    Probing::for_sends(),
                )
            })
            .await
            .map_err(|e| anyhow::anyhow!("output: hub {}/{}: {e}", hub.namespace, hub.hub))?;
            OutputSink::EventHubs(sink)
        }
        OutputTarget::LogAnalytics(la) => {
            let target = creds.logs_ingestion_target(la)?;
            let sink = LogsIngestionSink::new(target, az.batch.gzip, cfg.engine.retry.clone(), metrics.clone())
                .map_err(|e| anyhow::anyhow!("output: {e}"))?;
            OutputSink::LogAnalytics(sink)
        }
    };
    Ok(Engine::new(Arc::new(blobs), Arc::new(offsets), Arc::new(sink), Arc::new(dead), cfg.engine.clone())
        .with_metrics(metrics)
        .with_enrichment(enrichment))
}

/// Retries a connection attempt that hangs or drops: an SDK 0.15 client's first connection
/// sometimes never answers, or loses its session while it opens (both seen against the emulator
/// under load), and a fresh attempt succeeds. Only transient errors are retried, within the
/// retry policy: a wrong name fails at start with its message.
async fn until_connected<T, F, Fut>(
    what: &str,
    policy: &RetryPolicy,
    metrics: &Metrics,
    mut connect: F,
) -> ServiceResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ServiceResult<T>>,
{
    const ATTEMPT: Duration = Duration::from_secs(15);
    let mut backoff = policy.backoff();
    loop {
        let failure = match tokio::time::timeout(ATTEMPT, connect()).await {
            Ok(Err(e)) if e.is_transient() => e.to_string(),
            Ok(result) => return result,
            Err(_) => format!("no answer within {ATTEMPT:?}"),
        };
        let Some(delay) = backoff.next() else {
            return Err(ServiceError::transient(format!(
                "connecting to the {what} failed {} times, last: {failure}",
                policy.max_attempts
            )));
        };
        metrics.retry(RetryOp::Connect);
        tracing::warn!(what, failure, "connecting failed; trying a new connection");
        tokio::time::sleep(delay).await;
    }
}

/// Creates the checkpoint container when missing: the SDK's store fails on a missing one.
async fn ensure_container(
    setting: &str,
    endpoint: &AccountEndpoint,
    container: &str,
    auth: &crate::azure::StorageAuth,
    transport: &crate::azure::blob_clients::BlobTransport,
) -> anyhow::Result<()> {
    let client =
        crate::azure::blob_clients::counted_container_client(endpoint, container, auth, "rcwl", None, transport)
            .map_err(|e| anyhow::anyhow!("{setting}: {e}"))?;
    let exists = client.exists().await.map_err(|e| {
        anyhow::anyhow!(
            "{setting}: checking container {container}: {}",
            crate::azure::errors::from_azure(container, &e)
        )
    })?;
    if !exists {
        match client.create(None).await {
            Ok(_) => tracing::info!(container, "created the checkpoint container"),
            // Replicas starting together: another one created it since the check.
            Err(e) if crate::azure::errors::error_code(&e) == Some("ContainerAlreadyExists") => {}
            Err(e) => anyhow::bail!(
                "{setting}: creating container {container}: {}",
                crate::azure::errors::from_azure(container, &e)
            ),
        }
    }
    Ok(())
}

/// `flowlog run` on Azure, until SIGTERM/SIGINT.
pub async fn run(cfg: &Config, az: &AzureConfig) -> anyhow::Result<()> {
    let session = Session::start(cfg).await?;
    // One set of credentials and one Blob transport for the start's probes and the daemon.
    let creds = Credentials::new(&az.credential);
    // Every dependency answers before anything is started; what does not is named (see preflight).
    if !super::preflight::until_ready(az, &creds, session.readiness(), &session.shutdown).await? {
        tracing::info!("stopped while starting");
        session.finish();
        return Ok(());
    }
    session.readiness().set_failing(Vec::new());
    // A stop requested while connecting ends the start at once: nothing was taken yet.
    let started = tokio::select! {
        biased;
        _ = session.shutdown.cancelled() => None,
        started = start(cfg, az, &creds, &session) => Some(started?),
    };
    let Some((engine, feed, handle)) = started else {
        tracing::info!("stopped while starting");
        session.finish();
        return Ok(());
    };
    let output = match &az.output {
        OutputTarget::EventHubs(hub) => hub.hub.clone(),
        OutputTarget::LogAnalytics(la) => format!("{} stream {}", la.dcr_immutable_id, la.stream),
    };
    tracing::info!(input = %az.input.hub, %output, owner = handle.owner_id(), "flowlog running on Azure");
    // Weekly database updates are picked up without a restart.
    let reload = crate::app::enrich::reload_loop(
        cfg.enrich.clone(),
        engine.enrichment.clone(),
        engine.metrics.clone(),
        session.shutdown.clone(),
    );
    tokio::spawn(reload);
    let result = session.drive(&engine, feed, true).await;
    // Acknowledgements are written; now release ownership so other replicas take over at once.
    // Unanswered releases are abandoned at the deadline: ownership then expires by itself.
    if let Some(Err(e)) = session.bounded("releasing partition ownership", handle.close()).await {
        tracing::warn!(error = %e, "closing the event processor");
    }
    session.finish();
    result
}

/// Connects every service the daemon uses; bad settings fail here, at start.
async fn start(
    cfg: &Config,
    az: &AzureConfig,
    creds: &Credentials,
    session: &Session,
) -> anyhow::Result<(AzureEngine, EventHubsFeed, EventHubsFeedHandle)> {
    let (metrics, shutdown) = (session.metrics.clone(), session.shutdown.clone());
    let engine = engine(cfg, az, creds, metrics.clone()).await?;
    let (cp_endpoint, cp_auth) = container_parts("checkpoints", &az.checkpoints, creds)?;
    ensure_container("checkpoints", &cp_endpoint, &az.checkpoints.container, &cp_auth, creds.blob_transport()).await?;
    let checkpoints = StorageCounter::new(&metrics.storage, StorageRole::Checkpoints);
    let store = blob_checkpoint_store(
        &cp_endpoint,
        &az.checkpoints.container,
        &cp_auth,
        Some(&checkpoints),
        creds.blob_transport(),
    )
    .map_err(|e| anyhow::anyhow!("checkpoints: {e}"))?;
    let allowed = AllowedSources::parse(&az.allowed_sources).map_err(|e| anyhow::anyhow!("sources.allowed: {e}"))?;
    let options = EventHubsFeedOptions {
        consumer_group: az.consumer_group.clone(),
        update_interval: az.processor.update_interval,
        partition_expiration: az.processor.partition_expiration,
        start: if az.processor.start_earliest { StartLocation::Earliest } else { StartLocation::Latest },
        strategy: if az.processor.greedy { ProcessorStrategy::Greedy } else { ProcessorStrategy::Balanced },
        call_timeout: CALL_TIMEOUT,
        ..EventHubsFeedOptions::default()
    };
    let target = creds.hub_target(&az.input, CALL_TIMEOUT)?;
    let (feed, handle) = until_connected("input hub", &cfg.engine.retry, &metrics, || {
        EventHubsFeed::start(
            target.clone(),
            store.clone(),
            allowed.clone(),
            options.clone(),
            metrics.clone(),
            shutdown.clone(),
        )
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!("input: hub {}/{} consumer group {}: {e}", az.input.namespace, az.input.hub, az.consumer_group)
    })?;
    Ok((engine, feed, handle))
}

/// `flowlog backfill` on Azure: every blob of the allowed containers under `prefix`
/// (`account/container/path-prefix`, or empty for all), from its stored offset.
pub async fn backfill(
    cfg: &Config,
    az: &AzureConfig,
    prefix: &str,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let creds = Credentials::new(&az.credential);
    let engine = engine(cfg, az, &creds, Arc::new(Metrics::new())).await?;
    super::backfill(&engine, cfg, prefix, progress).await
}
