//! The raw configuration document: TOML sections as written by users, every key optional.
//!
//! Unknown keys are errors (a typo must not silently fall back to a default).
use serde::Deserialize;

use crate::domain::secret::Secret;

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub local: LocalSection,
    pub input: Option<InputSection>,
    pub checkpoints: Option<ContainerSection>,
    pub offsets: Option<OffsetsSection>,
    pub sources: Option<SourcesSection>,
    pub output: Option<OutputSection>,
    pub dead_letter: Option<ContainerSection>,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub enrich: EnrichSection,
}

/// Row enrichment (address class and flow type are always on and have no setting).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct EnrichSection {
    /// ASN databases: `.mmdb` files with ASNs or `start,end,asn,org` CSV range files; one path,
    /// a comma-separated list, or a TOML list (IPv4 and IPv6 files of one source).
    pub asn_db: Option<Paths>,
    /// Geography databases: `.mmdb` files with countries (and cities) or `start,end,country` CSV files.
    pub geo_db: Option<Paths>,
    /// Microsoft's `ServiceTags_Public_*.json`.
    pub service_tags: Option<String>,
    /// Write the Community ID v1 of each flow.
    pub community_id: Option<bool>,
    /// Write the IANA service name of the destination port.
    pub service_names: Option<bool>,
    /// How often the files are checked for changes (default 60 s); changed files are reloaded.
    pub reload_interval_secs: Option<u64>,
}

/// One path, a comma-separated list in one string, or a list.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum Paths {
    One(String),
    Many(Vec<String>),
}

impl Paths {
    pub fn to_vec(&self) -> Vec<String> {
        let all = match self {
            Paths::One(s) => vec![s.clone()],
            Paths::Many(v) => v.clone(),
        };
        all.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Entra ID credential: `auto` (workload identity when AKS injected it, else managed
    /// identity), `managed_identity`, `workload_identity`, `azure_cli`, `developer_tools`.
    pub credential: Option<String>,
    /// Client id of a user-assigned managed identity.
    pub client_id: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct LocalSection {
    pub watch: Option<String>,
    pub state: Option<String>,
    pub out: Option<String>,
    pub poll: Option<bool>,
    pub poll_interval_ms: Option<u64>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    pub namespace: Option<String>,
    pub hub: Option<String>,
    pub consumer_group: Option<String>,
    /// Custom AMQP endpoint (an emulator, or a private endpoint's address): `amqp(s)://host:port`.
    pub endpoint: Option<String>,
    /// A fixed bearer token instead of Entra ID (emulators; never in the file).
    pub token: Option<Secret>,
    pub token_file: Option<String>,
    /// Load-balancing cycle of the event processor (default 10 s).
    pub update_interval_ms: Option<u64>,
    /// Ownership not renewed for this long moves to another replica (default 60 s).
    pub partition_expiration_ms: Option<u64>,
    /// Where partitions without a checkpoint start: `earliest` (default) or `latest`.
    pub start_position: Option<String>,
    /// Partition claiming: `balanced` (one partition per cycle, default) or `greedy` (all
    /// that balance allows at once: faster takeover, more contention at start).
    pub strategy: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ContainerSection {
    pub account_url: Option<String>,
    pub container: Option<String>,
    /// A SAS token for the account (never in the file: `FLOWLOG_<SECTION>_SAS` or `sas_file`).
    pub sas: Option<Secret>,
    pub sas_file: Option<String>,
    /// The account's shared key (never in the file: `FLOWLOG_<SECTION>_ACCOUNT_KEY` or `account_key_file`).
    pub account_key: Option<Secret>,
    pub account_key_file: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct OffsetsSection {
    pub account_url: Option<String>,
    pub table: Option<String>,
    pub retention_days: Option<u64>,
    /// Shared key (never in the file: FLOWLOG_OFFSETS_ACCOUNT_KEY or `account_key_file`).
    pub account_key: Option<Secret>,
    pub account_key_file: Option<String>,
    pub sas: Option<Secret>,
    pub sas_file: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct SourcesSection {
    pub allowed: Option<Vec<String>>,
    pub sas: Option<Secret>,
    pub sas_file: Option<String>,
    pub account_key: Option<Secret>,
    pub account_key_file: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    pub namespace: Option<String>,
    pub hub: Option<String>,
    pub endpoint: Option<String>,
    pub token: Option<Secret>,
    pub token_file: Option<String>,
    pub max_batch_bytes: Option<usize>,
    pub gzip: Option<bool>,
    pub adx_table: Option<String>,
    pub adx_mapping: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub shutdown_deadline_secs: Option<u64>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub flush_bytes: Option<usize>,
    pub max_batch_events: Option<usize>,
    pub blob_concurrency: Option<usize>,
    pub dead_letter_raw_limit: Option<usize>,
    pub retry_max_attempts: Option<usize>,
    pub retry_min_delay_ms: Option<u64>,
    pub retry_max_delay_ms: Option<u64>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `auto` (text on a terminal, JSON otherwise), `text` or `json`.
    pub format: Option<String>,
}

/// Sections whose keys `FLOWLOG_<SECTION>_<KEY>` may set, longest first so `dead_letter`
/// wins over a hypothetical `dead`.
pub const SECTIONS: &[&str] = &[
    "dead_letter",
    "checkpoints",
    "offsets",
    "sources",
    "output",
    "engine",
    "server",
    "local",
    "input",
    "enrich",
    "auth",
    "log",
];

/// Keys that hold secrets: refused in the file, accepted from the environment.
pub const SECRET_KEYS: &[&str] = &["account_key", "sas", "token"];
