//! The raw configuration document: TOML sections as written by users, every key optional.
//!
//! Each section is declared once, with `section!`: the struct serde reads, the list of its
//! keys (environment variables and `--help` are generated from it), and the shared credential
//! keys of sections that reach a storage account or a hub. Unknown keys are errors (a typo must
//! not silently fall back to a default).
use serde::Deserialize;

use crate::domain::secret::Secret;

/// Declares a section: `section!(Name "name" [storage|token] { key: Type, ... })`. `storage`
/// adds `sas`, `sas_file`, `account_key`, `account_key_file`; `token` adds `token`, `token_file`.
macro_rules! section {
    (@emit $(#[$meta:meta])* $name:ident $section:literal { $($(#[$fm:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Deserialize, Debug, Default, Clone)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl $name {
            pub const SECTION: SectionKeys = SectionKeys { name: $section, keys: &[$(stringify!($field)),*] };
        }
    };
    ($(#[$meta:meta])* $name:ident $section:literal storage { $($(#[$fm:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        section!(@emit $(#[$meta])* $name $section {
            $($(#[$fm])* $field: $ty,)*
            /// A SAS token for the account (never in the file: `FLOWLOG_<SECTION>_SAS` or `sas_file`).
            sas: Option<Secret>,
            sas_file: Option<String>,
            /// The account's shared key (never in the file: `FLOWLOG_<SECTION>_ACCOUNT_KEY` or `account_key_file`).
            account_key: Option<Secret>,
            account_key_file: Option<String>,
        });
    };
    ($(#[$meta:meta])* $name:ident $section:literal token { $($(#[$fm:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        section!(@emit $(#[$meta])* $name $section {
            $($(#[$fm])* $field: $ty,)*
            /// A fixed bearer token instead of Entra ID (emulators; never in the file).
            token: Option<Secret>,
            token_file: Option<String>,
        });
    };
    ($(#[$meta:meta])* $name:ident $section:literal { $($(#[$fm:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        section!(@emit $(#[$meta])* $name $section { $($(#[$fm])* $field: $ty,)* });
    };
}

/// A section's name and every key it accepts.
#[derive(Debug, Clone, Copy)]
pub struct SectionKeys {
    pub name: &'static str,
    pub keys: &'static [&'static str],
}

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
    pub log_analytics: Option<LogAnalyticsSection>,
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
    /// Every `section.key` set by the file or the environment, filled in by [`super::load`].
    #[serde(skip)]
    pub set: Vec<String>,
}

/// Every section with its keys, in the order of the documentation. `checkpoints` and
/// `dead_letter` share one shape.
pub const SECTIONS: &[SectionKeys] = &[
    LocalSection::SECTION,
    InputSection::SECTION,
    SectionKeys { name: "checkpoints", keys: ContainerSection::SECTION.keys },
    OffsetsSection::SECTION,
    SourcesSection::SECTION,
    OutputSection::SECTION,
    LogAnalyticsSection::SECTION,
    SectionKeys { name: "dead_letter", keys: ContainerSection::SECTION.keys },
    AuthSection::SECTION,
    EngineSection::SECTION,
    ServerSection::SECTION,
    LogSection::SECTION,
    EnrichSection::SECTION,
];

/// The sections local mode reads whole; of the others it reads only [`LOCAL_KEYS_ELSEWHERE`].
pub const LOCAL_SECTIONS: &[SectionKeys] = &[
    LocalSection::SECTION,
    EngineSection::SECTION,
    ServerSection::SECTION,
    LogSection::SECTION,
    EnrichSection::SECTION,
];

/// Keys of Azure sections that apply in local mode too: offset retention and group commit.
pub const LOCAL_KEYS_ELSEWHERE: &[(&str, &str)] = &[
    ("offsets", "retention_days"),
    ("output", "linger_ms"),
    ("output", "backlog_linger_ms"),
    ("output", "max_events_in_flight"),
];

/// Every `section.key` local mode reads; any other setting is for Azure mode and is ignored
/// (with a warning) without `[input]`.
pub fn local_mode_keys() -> Vec<String> {
    let whole = LOCAL_SECTIONS.iter().flat_map(|s| s.keys.iter().map(|k| format!("{}.{k}", s.name)));
    whole.chain(LOCAL_KEYS_ELSEWHERE.iter().map(|(s, k)| format!("{s}.{k}"))).collect()
}

/// Keys that hold secrets: refused in the file, accepted from the environment.
pub const SECRET_KEYS: &[&str] = &["account_key", "sas", "token"];

section!(
    /// Row enrichment (address class and flow type are always on and have no setting).
    EnrichSection "enrich" {
    /// ASN databases: `.mmdb` files with ASNs or `start,end,asn,org` CSV range files; one path,
    /// a comma-separated list, or a TOML list (IPv4 and IPv6 files of one source).
    asn_db: Option<Paths>,
    /// Geography databases: `.mmdb` files with countries (and cities) or `start,end,country` CSV files.
    geo_db: Option<Paths>,
    /// Microsoft's `ServiceTags_Public_*.json`.
    service_tags: Option<String>,
    /// Write the Community ID v1 of each flow.
    community_id: Option<bool>,
    /// Write the IANA service name of the destination port.
    service_names: Option<bool>,
    /// How often the files are checked for changes (default 60 s); changed files are reloaded.
    reload_interval_secs: Option<u64>,
});

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

section!(AuthSection "auth" {
    /// Entra ID credential: `auto` (workload identity when AKS injected it, else managed
    /// identity), `managed_identity`, `workload_identity`, `azure_cli`, `developer_tools`.
    credential: Option<String>,
    /// Client id of a user-assigned managed identity.
    client_id: Option<String>,
});

section!(LocalSection "local" {
    watch: Option<String>,
    state: Option<String>,
    out: Option<String>,
    poll: Option<bool>,
    poll_interval_ms: Option<u64>,
});

section!(InputSection "input" token {
    namespace: Option<String>,
    hub: Option<String>,
    consumer_group: Option<String>,
    /// Custom AMQP endpoint (an emulator, or a private endpoint's address): `amqp(s)://host:port`.
    endpoint: Option<String>,
    /// Load-balancing cycle of the event processor (default 10 s).
    update_interval_ms: Option<u64>,
    /// Ownership not renewed for this long moves to another replica (default 60 s).
    partition_expiration_ms: Option<u64>,
    /// Where partitions without a checkpoint start: `earliest` (default) or `latest`.
    start_position: Option<String>,
    /// Partition claiming: `balanced` (one partition per cycle, default) or `greedy` (all
    /// that balance allows at once: faster takeover, more contention at start).
    strategy: Option<String>,
});

section!(ContainerSection "container" storage {
    account_url: Option<String>,
    container: Option<String>,
});

section!(OffsetsSection "offsets" storage {
    account_url: Option<String>,
    table: Option<String>,
    retention_days: Option<u64>,
});

section!(SourcesSection "sources" storage {
    allowed: Option<Vec<String>>,
});

section!(OutputSection "output" token {
    /// Where rows go: `eventhubs` (default: an Event Hub read by Data Explorer) or
    /// `log_analytics` (the Logs Ingestion API, see `[log_analytics]`).
    kind: Option<String>,
    namespace: Option<String>,
    hub: Option<String>,
    endpoint: Option<String>,
    max_batch_bytes: Option<usize>,
    /// Gzip each output event (default true: rows shrink about 17x, and Event Hubs bills by
    /// the byte); false sends plain MULTIJSON.
    gzip: Option<bool>,
    adx_table: Option<String>,
    adx_mapping: Option<String>,
    /// Longest wait for rows of more blobs before an output event is sent (group commit;
    /// default 100 ms). Applies to local NDJSON output too (fewer fsyncs).
    linger_ms: Option<u64>,
    /// Linger for rows that were already this late (enqueued this long ago) when packed: a
    /// backlog packs into fuller events at no cost to fresh rows (default 1000 ms, 0: off).
    backlog_linger_ms: Option<u64>,
    /// Output events being sent at once (default 4): bounds memory and the rows sent again
    /// after a crash.
    max_events_in_flight: Option<usize>,
});

section!(
    /// The Logs Ingestion API target of `output.kind = "log_analytics"`.
    LogAnalyticsSection "log_analytics" token {
    /// Data collection endpoint, or the rule's own logs ingestion endpoint (https).
    endpoint: Option<String>,
    /// The data collection rule's immutable id (`dcr-` and 32 hex digits).
    dcr_immutable_id: Option<String>,
    /// The stream the rule declares (default `Custom-FlowlogRows`).
    stream: Option<String>,
    /// Longest wait for one call's answer (default 30 s); unanswered, it is sent once more.
    timeout_secs: Option<u64>,
});

section!(ServerSection "server" {
    listen: Option<String>,
    shutdown_deadline_secs: Option<u64>,
});

section!(EngineSection "engine" {
    flush_bytes: Option<usize>,
    max_batch_events: Option<usize>,
    blob_concurrency: Option<usize>,
    /// Blobs reading at once across all partitions of a worker (default 16): with
    /// `flush_bytes` this bounds read buffers however many partitions a replica owns.
    max_reading_blobs: Option<usize>,
    dead_letter_raw_limit: Option<usize>,
    retry_max_attempts: Option<usize>,
    retry_min_delay_ms: Option<u64>,
    retry_max_delay_ms: Option<u64>,
    /// Longest wait for one storage call before it counts as a transient failure (default 30 s).
    call_timeout_secs: Option<u64>,
    /// How often blobs marked for retry after a failed read are retried (default 30 s).
    pending_interval_secs: Option<u64>,
    /// First and longest delay between retries of one marked blob (default 30 s and 1 h).
    pending_min_delay_secs: Option<u64>,
    pending_max_delay_secs: Option<u64>,
    /// A blob whose offset has not reached its committed length for this long is reported
    /// as stalled (default 900 s).
    stall_after_secs: Option<u64>,
});

section!(LogSection "log" {
    /// `auto` (text on a terminal, JSON otherwise), `text` or `json`.
    format: Option<String>,
    /// Seconds between progress lines while running (blobs, rows, bytes and errors since the
    /// previous line; default 60, 0: none).
    progress_interval_secs: Option<u64>,
});

/// The settings part of `flowlog run --help`, generated from the section declarations.
pub fn settings_help() -> String {
    let mut out = String::from(
        "Every setting can also come from the configuration file or the environment\n\
         (FLOWLOG_<SECTION>_<KEY>, e.g. FLOWLOG_LOCAL_OUT=rows.ndjson); flags win over both.\nSettings:\n",
    );
    for s in SECTIONS {
        let keys: Vec<&str> = s.keys.iter().copied().filter(|k| !SECRET_KEYS.contains(k)).collect();
        out.push_str(&format!("  [{}] {}\n", s.name, keys.join(" ")));
    }
    out.push_str(
        "Secrets (account_key, sas, token) only from FLOWLOG_* variables or *_file settings.\n\
         Documented examples: deploy/config/local.example.toml, deploy/config/azure.example.toml.",
    );
    out
}
