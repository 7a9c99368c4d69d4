//! Configuration: parsed once at the edge from (in increasing precedence) a TOML file,
//! `FLOWLOG_<SECTION>_<KEY>` environment variables and command-line flags, into typed values.
//! A bad setting fails at start with one message naming it.
pub mod file;
mod layers;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

pub use crate::domain::secret::Secret;
pub use file::RawConfig;
pub use layers::load;

use crate::domain::row::batch::{BatchConfig, DEFAULT_MAX_BATCH_BYTES, MAX_EVENT_BYTES};
use crate::pipeline::engine::{EngineConfig, RetryPolicy};

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub engine: EngineConfig,
    pub server: ServerConfig,
    pub log: LogStyle,
    /// How often a running pipeline logs a progress line (`log.progress_interval_secs`).
    pub progress: Option<Duration>,
    /// Settings given that the chosen mode does not read (Azure-only ones in local mode).
    pub ignored: Vec<String>,
    pub enrich: EnrichConfig,
}

/// Which enrichment files and options rows get; see `[enrich]` in deploy/config/*.example.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrichConfig {
    pub asn_db: Vec<PathBuf>,
    pub geo_db: Vec<PathBuf>,
    pub service_tags: Option<PathBuf>,
    pub community_id: bool,
    pub service_names: bool,
    pub reload_interval: Duration,
}

impl EnrichConfig {
    /// Every data file named, for change detection.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.asn_db.iter().chain(&self.geo_db).chain(&self.service_tags)
    }
}

#[derive(Debug, Clone)]
pub enum Mode {
    Local(LocalConfig),
    Azure(Box<AzureConfig>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub watch: PathBuf,
    pub state: PathBuf,
    pub out: Output,
    pub poll: bool,
    pub poll_interval: Duration,
}

/// How to authenticate to one storage account when not with Entra ID.
#[derive(Debug, Clone, Default)]
pub struct StorageSecret {
    pub sas: Option<Secret>,
    pub account_key: Option<Secret>,
}

/// Where a blob container lives and how to reach it.
#[derive(Debug, Clone)]
pub struct ContainerRef {
    pub account_url: String,
    pub container: String,
    pub secret: StorageSecret,
}

/// An Event Hub and how to reach it.
#[derive(Debug, Clone)]
pub struct HubRef {
    pub namespace: String,
    pub hub: String,
    /// Custom AMQP endpoint (emulator or private endpoint).
    pub endpoint: Option<String>,
    /// Fixed bearer token instead of Entra ID.
    pub token: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct AzureConfig {
    pub credential: CredentialKind,
    pub input: HubRef,
    pub consumer_group: String,
    pub checkpoints: ContainerRef,
    pub offsets_account_url: String,
    pub offsets_table: String,
    pub offsets_secret: StorageSecret,
    pub processor: ProcessorConfig,
    /// `https://account.blob.core.windows.net/container` prefixes events may name.
    pub allowed_sources: Vec<String>,
    pub sources_secret: StorageSecret,
    /// Where rows go: the output Event Hub (default) or the Logs Ingestion API.
    pub output: OutputTarget,
    pub batch: BatchConfig,
    pub adx_table: String,
    pub adx_mapping: String,
    pub dead_letter: ContainerRef,
}

/// The row sink of Azure mode (`output.kind`).
#[derive(Debug, Clone)]
pub enum OutputTarget {
    EventHubs(HubRef),
    LogAnalytics(LogAnalyticsConfig),
}

/// A data collection rule's stream on the Logs Ingestion API (`[log_analytics]`).
#[derive(Debug, Clone)]
pub struct LogAnalyticsConfig {
    /// `https://...` without a trailing `/` (http only on loopback, for the test endpoint).
    pub endpoint: String,
    pub dcr_immutable_id: String,
    pub stream: String,
    /// Fixed bearer token instead of Entra ID (the test endpoint).
    pub token: Option<Secret>,
    pub timeout: Duration,
}

/// The stream name the shipped data collection rule declares.
pub const DEFAULT_STREAM: &str = "Custom-FlowlogRows";

impl AzureConfig {
    /// The output Event Hub, when rows go to one.
    pub fn output_hub(&self) -> Option<&HubRef> {
        match &self.output {
            OutputTarget::EventHubs(hub) => Some(hub),
            OutputTarget::LogAnalytics(_) => None,
        }
    }
}

/// Load balancing of input partitions between replicas (the SDK's `EventProcessor`).
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// How often ownership is renewed and rebalanced.
    pub update_interval: Duration,
    /// Ownership not renewed for this long is taken over by another replica.
    pub partition_expiration: Duration,
    /// Where partitions without a checkpoint start: the earliest retained event, or the latest.
    pub start_earliest: bool,
    /// Claim all partitions balance allows at once instead of one per cycle.
    pub greedy: bool,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: Option<SocketAddr>,
    pub shutdown_deadline: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStyle {
    Auto,
    Text,
    Json,
}

/// Command-line overrides (the highest layer); `None` keeps the lower layers' value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub watch: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub out: Option<String>,
    pub poll: bool,
    pub listen: Option<String>,
}

impl Config {
    /// Loads and validates: file, then the process environment, then `overrides`.
    pub fn load(file: Option<&std::path::Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let raw = load(file, std::env::vars())?;
        Config::from_raw(raw, overrides)
    }

    pub fn from_raw(mut raw: RawConfig, o: &Overrides) -> anyhow::Result<Config> {
        if let Some(w) = &o.watch {
            raw.local.watch = Some(w.display().to_string());
        }
        if let Some(s) = &o.state {
            raw.local.state = Some(s.display().to_string());
        }
        if let Some(out) = &o.out {
            raw.local.out = Some(out.clone());
        }
        if o.poll {
            raw.local.poll = Some(true);
        }
        if let Some(l) = &o.listen {
            raw.server.listen = Some(l.clone());
        }
        let engine = engine_config(&raw)?;
        let server = ServerConfig {
            listen: match raw.server.listen.as_deref() {
                None | Some("") | Some("off") => None,
                Some(a) => Some(
                    a.parse().with_context(|| format!("server.listen: {a:?} is not an address like 127.0.0.1:9090"))?,
                ),
            },
            shutdown_deadline: Duration::from_secs(raw.server.shutdown_deadline_secs.unwrap_or(25)),
        };
        in_range("server.shutdown_deadline_secs", server.shutdown_deadline.as_secs(), 1, 3600)?;
        let log = match raw.log.format.as_deref() {
            None | Some("auto") => LogStyle::Auto,
            Some("text") => LogStyle::Text,
            Some("json") => LogStyle::Json,
            Some(other) => bail!("log.format: {other:?} is not one of auto, text, json"),
        };
        let progress_secs = raw.log.progress_interval_secs.unwrap_or(60);
        in_range("log.progress_interval_secs", progress_secs, 0, 86_400)?;
        let progress = (progress_secs > 0).then(|| Duration::from_secs(progress_secs));
        let mut ignored = Vec::new();
        let mode = if raw.input.is_some() {
            Mode::Azure(Box::new(azure_config(&raw)?))
        } else {
            let local = local_config(&raw);
            in_range("local.poll_interval_ms", local.poll_interval.as_millis() as u64, 10, 3_600_000)?;
            let read = file::local_mode_keys();
            ignored = raw.set.iter().filter(|k| !read.contains(k)).cloned().collect();
            Mode::Local(local)
        };
        let enrich = enrich_config(&raw.enrich)?;
        Ok(Config { mode, engine, server, log, progress, ignored, enrich })
    }
}

pub fn enrich_config(e: &file::EnrichSection) -> anyhow::Result<EnrichConfig> {
    let paths = |p: &Option<file::Paths>| {
        p.as_ref().map_or(Vec::new(), |p| p.to_vec().into_iter().map(PathBuf::from).collect())
    };
    let cfg = EnrichConfig {
        asn_db: paths(&e.asn_db),
        geo_db: paths(&e.geo_db),
        service_tags: e.service_tags.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from),
        community_id: e.community_id.unwrap_or(false),
        service_names: e.service_names.unwrap_or(false),
        reload_interval: Duration::from_secs(e.reload_interval_secs.unwrap_or(60)),
    };
    if cfg.reload_interval.is_zero() {
        bail!("enrich.reload_interval_secs must be at least 1");
    }
    Ok(cfg)
}

fn local_config(raw: &RawConfig) -> LocalConfig {
    let l = &raw.local;
    LocalConfig {
        watch: PathBuf::from(l.watch.as_deref().unwrap_or("./flowlogs")),
        state: PathBuf::from(l.state.as_deref().unwrap_or("./.flowlog")),
        out: match l.out.as_deref() {
            None | Some("-") => Output::Stdout,
            Some(p) => Output::File(PathBuf::from(p)),
        },
        poll: l.poll.unwrap_or(false),
        poll_interval: Duration::from_millis(l.poll_interval_ms.unwrap_or(2000)),
    }
}

fn engine_config(raw: &RawConfig) -> anyhow::Result<EngineConfig> {
    let e = &raw.engine;
    let d = EngineConfig::default();
    let r = RetryPolicy::default();
    let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
    let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
    let retention_days = raw.offsets.as_ref().and_then(|o| o.retention_days);
    let output = raw.output.as_ref();
    let cfg = EngineConfig {
        flush_bytes: e.flush_bytes.unwrap_or(d.flush_bytes),
        max_batch_events: e.max_batch_events.unwrap_or(d.max_batch_events),
        blob_concurrency: e.blob_concurrency.unwrap_or(d.blob_concurrency),
        max_reading_blobs: e.max_reading_blobs.unwrap_or(d.max_reading_blobs),
        linger: ms(output.and_then(|o| o.linger_ms), d.linger),
        backlog_linger: ms(output.and_then(|o| o.backlog_linger_ms), d.backlog_linger),
        max_events_in_flight: output.and_then(|o| o.max_events_in_flight).unwrap_or(d.max_events_in_flight),
        dead_letter_raw_limit: e.dead_letter_raw_limit.unwrap_or(d.dead_letter_raw_limit),
        retry: RetryPolicy {
            min_delay: ms(e.retry_min_delay_ms, r.min_delay),
            max_delay: ms(e.retry_max_delay_ms, r.max_delay),
            max_attempts: e.retry_max_attempts.unwrap_or(r.max_attempts),
        },
        retention: retention_days.map_or(d.retention, |days| Duration::from_secs(days * 86_400)),
        sweep_interval: d.sweep_interval,
        patient_commits: d.patient_commits,
        call_timeout: secs(e.call_timeout_secs, d.call_timeout),
        pending_interval: secs(e.pending_interval_secs, d.pending_interval),
        pending_delays: (
            secs(e.pending_min_delay_secs, d.pending_delays.0),
            secs(e.pending_max_delay_secs, d.pending_delays.1),
        ),
        stall_after: secs(e.stall_after_secs, d.stall_after),
    };
    // Every number is range-checked here, once, so nothing downstream meets a zero interval,
    // an overflowing product or a backwards range.
    in_range("engine.flush_bytes", cfg.flush_bytes as u64, 1, 1 << 30)?;
    in_range("engine.max_batch_events", cfg.max_batch_events as u64, 1, 100_000)?;
    in_range("engine.blob_concurrency", cfg.blob_concurrency as u64, 1, 1024)?;
    in_range("engine.max_reading_blobs", cfg.max_reading_blobs as u64, 1, 4096)?;
    in_range("output.linger_ms", cfg.linger.as_millis() as u64, 0, 60_000)?;
    in_range("output.backlog_linger_ms", cfg.backlog_linger.as_millis() as u64, 0, 60_000)?;
    in_range("output.max_events_in_flight", cfg.max_events_in_flight as u64, 1, 256)?;
    in_range("engine.dead_letter_raw_limit", cfg.dead_letter_raw_limit as u64, 0, 16 << 20)?;
    in_range("engine.retry_max_attempts", cfg.retry.max_attempts as u64, 1, 1000)?;
    in_range("engine.retry_min_delay_ms", cfg.retry.min_delay.as_millis() as u64, 1, 3_600_000)?;
    in_range("engine.retry_max_delay_ms", cfg.retry.max_delay.as_millis() as u64, 1, 3_600_000)?;
    ordered("engine.retry_min_delay_ms", cfg.retry.min_delay, "engine.retry_max_delay_ms", cfg.retry.max_delay)?;
    in_range("engine.call_timeout_secs", cfg.call_timeout.as_secs(), 1, 3600)?;
    in_range("engine.pending_interval_secs", cfg.pending_interval.as_secs(), 1, 86_400)?;
    in_range("engine.pending_min_delay_secs", cfg.pending_delays.0.as_secs(), 1, 86_400)?;
    in_range("engine.pending_max_delay_secs", cfg.pending_delays.1.as_secs(), 1, 7 * 86_400)?;
    ordered(
        "engine.pending_min_delay_secs",
        cfg.pending_delays.0,
        "engine.pending_max_delay_secs",
        cfg.pending_delays.1,
    )?;
    in_range("engine.stall_after_secs", cfg.stall_after.as_secs(), 1, 30 * 86_400)?;
    if let Some(days) = retention_days {
        // Offsets must outlive the hour a blob is written in, plus Event Grid's 24 h of retries.
        in_range("offsets.retention_days", days, 2, 36_500)?;
    }
    Ok(cfg)
}

/// Fails with the setting's name unless `min <= v <= max`.
fn in_range(name: &str, v: u64, min: u64, max: u64) -> anyhow::Result<()> {
    if v < min || v > max {
        bail!("{name}: {v} is out of range ({min} to {max})");
    }
    Ok(())
}

fn ordered(low_name: &str, low: Duration, high_name: &str, high: Duration) -> anyhow::Result<()> {
    if low > high {
        bail!("{low_name} ({low:?}) must not exceed {high_name} ({high:?})");
    }
    Ok(())
}

fn required(section: &str, key: &str, v: &Option<String>) -> anyhow::Result<String> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => bail!(
            "{section}.{key} is required in Azure mode (set it in the file or FLOWLOG_{}_{})",
            section.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        ),
    }
}

fn secret(value: &Option<Secret>, file: &Option<String>) -> anyhow::Result<Option<Secret>> {
    match (value, file) {
        (Some(v), _) => Ok(Some(v.clone())),
        (None, Some(path)) => Ok(Some(secret_from_file(path)?)),
        (None, None) => Ok(None),
    }
}

fn https_url(name: &str, url: String) -> anyhow::Result<String> {
    // Plain http is allowed only for a local emulator (Azurite) on loopback.
    let local =
        url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") || url.starts_with("http://[::1]");
    if !url.starts_with("https://") && !local {
        bail!("{name}: {url:?} must be an https:// URL (http:// only for a local emulator on loopback)");
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn container(section: &str, c: &Option<file::ContainerSection>) -> anyhow::Result<ContainerRef> {
    let c = c.clone().unwrap_or_default();
    Ok(ContainerRef {
        account_url: https_url(&format!("{section}.account_url"), required(section, "account_url", &c.account_url)?)?,
        container: required(section, "container", &c.container)?,
        secret: storage_secret(section, &c.sas, &c.sas_file, &c.account_key, &c.account_key_file)?,
    })
}

fn storage_secret(
    section: &str,
    sas: &Option<Secret>,
    sas_file: &Option<String>,
    key: &Option<Secret>,
    key_file: &Option<String>,
) -> anyhow::Result<StorageSecret> {
    let s = StorageSecret { sas: secret(sas, sas_file)?, account_key: secret(key, key_file)? };
    if s.sas.is_some() && s.account_key.is_some() {
        bail!("{section}: set either an account key or a SAS, not both");
    }
    Ok(s)
}

fn hub(
    section: &str,
    namespace: &Option<String>,
    hub: &Option<String>,
    endpoint: &Option<String>,
    token: &Option<Secret>,
    token_file: &Option<String>,
) -> anyhow::Result<HubRef> {
    if let Some(e) = endpoint
        && !(e.starts_with("amqp://") || e.starts_with("amqps://"))
    {
        bail!("{section}.endpoint: {e:?} must be an amqp:// or amqps:// URL");
    }
    Ok(HubRef {
        namespace: required(section, "namespace", namespace)?,
        hub: required(section, "hub", hub)?,
        endpoint: endpoint.clone(),
        token: secret(token, token_file)?,
    })
}

/// Which Entra ID credential authenticates to Azure (`auth.credential`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    ManagedIdentity { client_id: Option<String> },
    WorkloadIdentity,
    AzureCli,
    DeveloperTools,
}

fn credential(auth: &file::AuthSection) -> anyhow::Result<CredentialKind> {
    use CredentialKind as K;
    Ok(match auth.credential.as_deref().unwrap_or("auto") {
        "auto" if std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").is_some() => K::WorkloadIdentity,
        "auto" | "managed_identity" => K::ManagedIdentity { client_id: auth.client_id.clone() },
        "workload_identity" => K::WorkloadIdentity,
        "azure_cli" => K::AzureCli,
        "developer_tools" => K::DeveloperTools,
        other => bail!(
            "auth.credential: {other:?} is not one of auto, managed_identity, workload_identity, azure_cli, developer_tools"
        ),
    })
}

fn azure_config(raw: &RawConfig) -> anyhow::Result<AzureConfig> {
    let input = raw.input.clone().unwrap_or_default();
    let offsets = raw.offsets.clone().unwrap_or_default();
    let sources = raw.sources.clone().unwrap_or_default();
    let output = raw.output.clone().unwrap_or_default();
    let allowed = sources.allowed.clone().unwrap_or_default();
    if allowed.is_empty() {
        bail!("sources.allowed is required in Azure mode: the storage account/container URLs whose blobs may be read");
    }
    let allowed = allowed.into_iter().map(|u| https_url("sources.allowed", u)).collect::<anyhow::Result<Vec<_>>>()?;
    let offsets_secret =
        storage_secret("offsets", &offsets.sas, &offsets.sas_file, &offsets.account_key, &offsets.account_key_file)?;
    let processor = ProcessorConfig {
        update_interval: Duration::from_millis(input.update_interval_ms.unwrap_or(10_000)),
        partition_expiration: Duration::from_millis(input.partition_expiration_ms.unwrap_or(60_000)),
        start_earliest: match input.start_position.as_deref() {
            None | Some("earliest") => true,
            Some("latest") => false,
            Some(other) => bail!("input.start_position: {other:?} is not earliest or latest"),
        },
        greedy: match input.strategy.as_deref() {
            None | Some("balanced") => false,
            Some("greedy") => true,
            Some(other) => bail!("input.strategy: {other:?} is not balanced or greedy"),
        },
    };
    in_range("input.update_interval_ms", processor.update_interval.as_millis() as u64, 10, 3_600_000)?;
    in_range("input.partition_expiration_ms", processor.partition_expiration.as_millis() as u64, 20, 86_400_000)?;
    if processor.partition_expiration <= processor.update_interval {
        bail!("input.partition_expiration_ms must exceed input.update_interval_ms");
    }
    let max_batch_bytes = output.max_batch_bytes.unwrap_or(DEFAULT_MAX_BATCH_BYTES);
    // The hub's own limit is measured on its link and applied too; this bounds memory per event.
    if !(1024..=MAX_EVENT_BYTES).contains(&max_batch_bytes) {
        bail!(
            "output.max_batch_bytes: {max_batch_bytes} is outside 1024..={MAX_EVENT_BYTES} (Event Hubs accepts 1 MB per event on Standard and Premium, 20 MB on Dedicated)"
        );
    }
    Ok(AzureConfig {
        credential: credential(&raw.auth)?,
        input: hub("input", &input.namespace, &input.hub, &input.endpoint, &input.token, &input.token_file)?,
        consumer_group: input.consumer_group.clone().unwrap_or_else(|| "$Default".into()),
        checkpoints: container("checkpoints", &raw.checkpoints)?,
        offsets_account_url: https_url(
            "offsets.account_url",
            required("offsets", "account_url", &offsets.account_url)?,
        )?,
        offsets_table: required("offsets", "table", &offsets.table)?,
        offsets_secret,
        processor,
        allowed_sources: allowed,
        sources_secret: storage_secret(
            "sources",
            &sources.sas,
            &sources.sas_file,
            &sources.account_key,
            &sources.account_key_file,
        )?,
        output: match output.kind.as_deref().map(str::trim) {
            None | Some("eventhubs") => OutputTarget::EventHubs(hub(
                "output",
                &output.namespace,
                &output.hub,
                &output.endpoint,
                &output.token,
                &output.token_file,
            )?),
            Some("log_analytics") => OutputTarget::LogAnalytics(log_analytics(raw.log_analytics.as_ref())?),
            Some(other) => bail!("output.kind: {other:?} is not eventhubs or log_analytics"),
        },
        batch: BatchConfig { max_bytes: max_batch_bytes, gzip: output.gzip.unwrap_or(true) },
        adx_table: output.adx_table.clone().unwrap_or_else(|| "FlowLogs".into()),
        adx_mapping: output.adx_mapping.clone().unwrap_or_else(|| "FlowLogsMapping".into()),
        dead_letter: container("dead_letter", &raw.dead_letter)?,
    })
}

/// `[log_analytics]`: every value checked here, since the id and stream become URL path segments.
fn log_analytics(section: Option<&file::LogAnalyticsSection>) -> anyhow::Result<LogAnalyticsConfig> {
    let s = section.cloned().unwrap_or_default();
    let endpoint = https_url("log_analytics.endpoint", required("log_analytics", "endpoint", &s.endpoint)?)?;
    let id = required("log_analytics", "dcr_immutable_id", &s.dcr_immutable_id)?;
    let hex = id.strip_prefix("dcr-").filter(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex.is_none() {
        bail!(
            "log_analytics.dcr_immutable_id: {id:?} is not a rule's immutable id (dcr- and 32 hex digits, the rule's immutableId property)"
        );
    }
    let stream = s.stream.as_deref().map(str::trim).filter(|v| !v.is_empty()).unwrap_or(DEFAULT_STREAM).to_string();
    let valid = stream.len() <= 256 && stream.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid || !(stream.starts_with("Custom-") || stream.starts_with("Microsoft-")) {
        bail!(
            "log_analytics.stream: {stream:?} is not a stream name (Custom-<name> as declared in the rule; letters, digits, _ and -)"
        );
    }
    let timeout = Duration::from_secs(s.timeout_secs.unwrap_or(30));
    in_range("log_analytics.timeout_secs", timeout.as_secs(), 1, 600)?;
    Ok(LogAnalyticsConfig { endpoint, dcr_immutable_id: id, stream, token: secret(&s.token, &s.token_file)?, timeout })
}

/// Reads a secret from a file (a mounted Kubernetes secret, for instance).
fn secret_from_file(path: &str) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading secret file {path}: {e}"))?;
    Ok(Secret::new(text))
}
