//! Emulator configuration: the hubs to serve, their partitions and consumer groups, storage and limits.

use crate::rules::Rules;
use std::path::PathBuf;

/// The largest event or batch an Event Hubs Standard namespace accepts (1 MiB).
pub const STANDARD_MAX_MESSAGE_SIZE: u64 = 1024 * 1024;

/// The consumer group every Event Hub has.
pub const DEFAULT_CONSUMER_GROUP: &str = "$Default";

/// One Event Hub (an "entity" in Azure terms) served by the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// Hub name, as passed to the SDK's `open(namespace, hub, credential)`.
    pub name: String,
    /// Number of partitions; partition ids are `"0"..partitions-1` as on Azure.
    pub partitions: u32,
    /// Consumer groups besides `$Default`, which always exists.
    pub consumer_groups: Vec<String>,
}

impl HubConfig {
    /// A hub with `partitions` partitions and only the `$Default` consumer group.
    pub fn new(name: impl Into<String>, partitions: u32) -> Self {
        Self { name: name.into(), partitions, consumer_groups: Vec::new() }
    }

    /// Adds a consumer group (builder style).
    pub fn with_consumer_group(mut self, name: impl Into<String>) -> Self {
        self.consumer_groups.push(name.into());
        self
    }

    /// Whether `name` is a consumer group of this hub (`$Default` is compared case-insensitively,
    /// like the service does for entity names).
    pub fn has_consumer_group(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(DEFAULT_CONSUMER_GROUP)
            || self.consumer_groups.iter().any(|g| g.eq_ignore_ascii_case(name))
    }

    /// Parses the CLI form `NAME:PARTITIONS`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (name, count) = spec.rsplit_once(':').ok_or_else(|| format!("expected NAME:PARTITIONS, got {spec:?}"))?;
        let partitions: u32 = count.parse().map_err(|_| format!("partition count {count:?} is not a number"))?;
        if name.is_empty() || !(1..=1024).contains(&partitions) {
            return Err(format!("invalid hub {spec:?} (need a name and 1..=1024 partitions)"));
        }
        Ok(Self::new(name, partitions))
    }
}

/// Everything [`crate::Emulator::start`] needs.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Hubs served by the emulator. Names are compared case-insensitively.
    pub hubs: Vec<HubConfig>,
    /// When set, every partition is persisted to an append-only file below this directory and
    /// reloaded on start, so a restarted emulator keeps events, sequence numbers and offsets.
    pub data_dir: Option<PathBuf>,
    /// When set, `$cbs` put-token requests must carry exactly this token; others get 401.
    pub required_token: Option<String>,
    /// Max message size advertised on publishing links and enforced (default 1 MiB, Standard tier).
    pub max_message_size: u64,
    /// Owner level (epoch) assumed for receivers that attach without one. `None` (default) is
    /// what the service does. `Some(0)` emulates what SDKs send when their link properties
    /// reach the wire: SDK 0.15 (fe2o3 0.14) drops all receiver link properties, so its
    /// `EventProcessor`'s owner level 0 never arrives and no receiver is ever stolen; this
    /// setting lets tests exercise stealing anyway (it then applies to every receiver).
    pub default_owner_level: Option<i64>,
    /// Which of the service's rules are enforced (see [`Rules`] and the README's rules table).
    pub rules: Rules,
}

impl EmulatorConfig {
    /// A configuration serving `hubs`, in memory, accepting any token.
    pub fn new(hubs: Vec<HubConfig>) -> Self {
        Self {
            hubs,
            data_dir: None,
            required_token: None,
            max_message_size: STANDARD_MAX_MESSAGE_SIZE,
            default_owner_level: None,
            rules: Rules::default(),
        }
    }

    /// Persists partitions below `dir` (builder style).
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Assumes this owner level for receivers that send none (builder style); see the field.
    pub fn with_default_owner_level(mut self, owner_level: i64) -> Self {
        self.default_owner_level = Some(owner_level);
        self
    }

    /// Enforces these service rules (builder style).
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = rules;
        self
    }

    /// Requires this token on `$cbs` (builder style).
    pub fn with_required_token(mut self, token: impl Into<String>) -> Self {
        self.required_token = Some(token.into());
        self
    }

    /// Finds a hub by name, case-insensitively as Azure does.
    pub fn hub(&self, name: &str) -> Option<&HubConfig> {
        self.hubs.iter().find(|h| h.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_specs() {
        assert_eq!(HubConfig::parse("input:4").unwrap(), HubConfig::new("input", 4));
        assert!(HubConfig::parse("input").is_err());
        assert!(HubConfig::parse("input:0").is_err());
        assert!(HubConfig::parse(":2").is_err());
    }

    #[test]
    fn default_consumer_group_always_exists() {
        let hub = HubConfig::new("h", 1).with_consumer_group("adx");
        assert!(hub.has_consumer_group("$Default"));
        assert!(hub.has_consumer_group("ADX"));
        assert!(!hub.has_consumer_group("other"));
    }
}
