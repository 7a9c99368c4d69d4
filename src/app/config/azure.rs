//! Azure mode: the input hub and its load balancing, checkpoints, offsets, sources, the output
//! and dead letters, all required settings checked at start.
use std::time::Duration;

use anyhow::bail;

use super::RawConfig;
use super::checks::{https_url, in_range, required};
use super::file;
use super::output::{OutputTarget, output_target};
use super::resources::{ContainerRef, HubRef, StorageSecret, container, hub, storage_secret};
use crate::domain::row::batch::{BatchConfig, DEFAULT_MAX_BATCH_BYTES, MAX_EVENT_BYTES};

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

pub(super) fn azure_config(raw: &RawConfig) -> anyhow::Result<AzureConfig> {
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
        output: output_target(raw, &output)?,
        batch: BatchConfig { max_bytes: max_batch_bytes, gzip: output.gzip.unwrap_or(true) },
        adx_table: output.adx_table.clone().unwrap_or_else(|| "FlowLogs".into()),
        adx_mapping: output.adx_mapping.clone().unwrap_or_else(|| "FlowLogsMapping".into()),
        dead_letter: container("dead_letter", &raw.dead_letter)?,
    })
}
