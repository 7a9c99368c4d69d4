//! The service rules the emulator enforces beyond the protocol itself, each behind a switch so a
//! test can ask for the lenient behaviour. The README's rules table gives each rule's source.

/// Azure's receivers-per-partition quota: "Number of non-epoch receivers per consumer group: 5".
pub const AZURE_MAX_RECEIVERS: usize = 5;

/// Which service rules are enforced. [`Rules::default`] (the same as [`Rules::strict`])
/// enforces all of them; [`Rules::lenient`] none. The idle timers of the service are documented
/// in the README but not enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// At most this many receivers without an owner level per partition and consumer group; the
    /// next attach is refused with `amqp:resource-limit-exceeded`. `None`: unlimited.
    pub max_receivers_per_partition: Option<usize>,
    /// At most one link per direction to `$cbs` on a connection; another attach is refused with
    /// `amqp:not-allowed`. Links are counted in the order their frames arrive (see `cbs_links`).
    /// Published SDK 0.15 trips it when its token refresher renews while a new link is
    /// authorized; flowlog's vendored SDK runs a connection's authorizations in sequence.
    pub one_cbs_link_per_connection: bool,
    /// Publisher and consumer links need an unexpired `put-token` whose audience covers their
    /// address (refused with `amqp:unauthorized-access` otherwise), and are detached with
    /// `amqp:unauthorized-access` when that token expires without renewal.
    pub token_expiry: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            max_receivers_per_partition: Some(AZURE_MAX_RECEIVERS),
            one_cbs_link_per_connection: true,
            token_expiry: true,
        }
    }
}

impl Rules {
    /// Every rule on, with the service's limits and timers (what [`Rules::default`] is).
    pub fn strict() -> Self {
        Self::default()
    }

    /// Every rule off: the behaviour of the emulator before the rules existed.
    pub fn lenient() -> Self {
        Self { max_receivers_per_partition: None, one_cbs_link_per_connection: false, token_expiry: false }
    }

    /// Parses the binary's `--rules` value: `default`, `strict`, `lenient`, or `strict` /
    /// `default` followed by `,-RULE` / `,+RULE` to turn single rules off or on (`receivers`,
    /// `cbs`, `token`), e.g. `default,-cbs`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut parts = spec.split(',').map(str::trim);
        let mut rules = match parts.next().unwrap_or_default() {
            "default" | "" => Self::default(),
            "strict" => Self::strict(),
            "lenient" => Self::lenient(),
            other => return Err(format!("unknown rule set {other:?} (default, strict or lenient)")),
        };
        for part in parts {
            match part {
                "-receivers" => rules.max_receivers_per_partition = None,
                "-cbs" => rules.one_cbs_link_per_connection = false,
                "-token" => rules.token_expiry = false,
                "+cbs" => rules.one_cbs_link_per_connection = true,
                "+receivers" => rules.max_receivers_per_partition = Some(AZURE_MAX_RECEIVERS),
                "+token" => rules.token_expiry = true,
                other => return Err(format!("unknown rule switch {other:?}")),
            }
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rule_sets_and_switches() {
        assert_eq!(Rules::parse("default").unwrap(), Rules::default());
        assert_eq!(Rules::parse("strict").unwrap(), Rules::strict());
        assert!(Rules::default().token_expiry && Rules::default().one_cbs_link_per_connection);
        assert!(Rules::parse("strict").unwrap().one_cbs_link_per_connection);
        let rules = Rules::parse("strict,-cbs,-token").unwrap();
        assert_eq!((rules.one_cbs_link_per_connection, rules.token_expiry), (false, false));
        assert!(!Rules::parse("default,-cbs").unwrap().one_cbs_link_per_connection);
        assert!(Rules::parse("lenient,+cbs").unwrap().one_cbs_link_per_connection);
        assert!(Rules::parse("loose").is_err());
        assert!(Rules::parse("default,-everything").is_err());
    }
}
