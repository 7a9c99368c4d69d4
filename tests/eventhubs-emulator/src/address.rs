//! Parsing of what clients put on the wire: link addresses (entity paths) and the selector
//! filter expressions that carry a receiver's start position.

use crate::store::Partition;

/// The node a link attaches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    /// Claims-based security node `$cbs`.
    Cbs,
    /// Management node `$management`.
    Management,
    /// `<hub>`: publish with round robin or partition key.
    Hub { hub: String },
    /// `<hub>/Partitions/<id>`: publish to one partition.
    Partition { hub: String, partition: String },
    /// `<hub>/ConsumerGroups/<cg>/Partitions/<id>`: consume.
    Consumer { hub: String, consumer_group: String, partition: String },
}

/// Parses an address. The SDK uses its logical URL (`amqps://<namespace>/<hub>/...`) even when
/// the socket goes to a custom endpoint, so scheme and host are ignored; `Partitions` and
/// `ConsumerGroups` compare case-insensitively, as on the service.
pub fn parse_address(address: &str) -> Option<Entity> {
    let path = match address.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None => address,
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is = |s: &str, word: &str| s.eq_ignore_ascii_case(word);
    match segments.as_slice() {
        [.., last] if is(last, "$cbs") => Some(Entity::Cbs),
        [.., last] if is(last, "$management") => Some(Entity::Management),
        [hub] => Some(Entity::Hub { hub: hub.to_string() }),
        [hub, p, id] if is(p, "Partitions") => {
            Some(Entity::Partition { hub: hub.to_string(), partition: id.to_string() })
        }
        [hub, cgs, cg, p, id] if is(cgs, "ConsumerGroups") && is(p, "Partitions") => {
            Some(Entity::Consumer { hub: hub.to_string(), consumer_group: cg.to_string(), partition: id.to_string() })
        }
        _ => None,
    }
}

/// A receiver's start position, from `apache.org:selector-filter:string`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFilter {
    /// `amqp.annotation.x-opt-offset`; `-1` is the start, `@latest` the end of the partition.
    Offset { value: String, inclusive: bool },
    /// `amqp.annotation.x-opt-sequence-number`.
    Sequence { value: i64, inclusive: bool },
    /// `amqp.annotation.x-opt-enqueued-time`, Unix milliseconds.
    Enqueued { ms: i64, inclusive: bool },
}

impl Default for StartFilter {
    /// No filter means "latest", as the SDK's own default.
    fn default() -> Self {
        StartFilter::Offset { value: "@latest".into(), inclusive: false }
    }
}

/// Parses e.g. `amqp.annotation.x-opt-offset >='42'` or `... > '-1'`: inclusive when the
/// operator is `>=`, the value is between the first pair of single quotes.
pub fn parse_selector(expression: &str) -> Result<StartFilter, String> {
    let bad = || format!("unsupported selector expression {expression:?}");
    let inclusive = expression.contains(">=");
    let mut quoted = expression.split('\'');
    let value = quoted.nth(1).ok_or_else(bad)?.to_string();
    if expression.contains("x-opt-offset") {
        Ok(StartFilter::Offset { value, inclusive })
    } else if expression.contains("x-opt-sequence-number") {
        let value = value.parse().map_err(|_| bad())?;
        Ok(StartFilter::Sequence { value, inclusive })
    } else if expression.contains("x-opt-enqueued-time") {
        let ms = value.parse().map_err(|_| bad())?;
        Ok(StartFilter::Enqueued { ms, inclusive })
    } else {
        Err(bad())
    }
}

impl StartFilter {
    /// The sequence number of the first event to deliver (may be the next, not yet stored one).
    pub fn resolve(&self, partition: &Partition) -> Result<usize, String> {
        Ok(match self {
            StartFilter::Offset { value, .. } if value == "-1" => 0,
            StartFilter::Offset { value, .. } if value == "@latest" => partition.len(),
            StartFilter::Offset { value, inclusive } => {
                let offset: u64 = value.parse().map_err(|_| format!("offset {value:?} is not a valid offset"))?;
                partition.first_index(|e| e.offset > offset || (*inclusive && e.offset == offset))
            }
            StartFilter::Sequence { value, inclusive } => {
                partition.first_index(|e| e.sequence_number > *value || (*inclusive && e.sequence_number == *value))
            }
            StartFilter::Enqueued { ms, inclusive } => {
                partition.first_index(|e| e.enqueued_ms > *ms || (*inclusive && e.enqueued_ms == *ms))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entity_paths() {
        assert_eq!(parse_address("$cbs"), Some(Entity::Cbs));
        assert_eq!(parse_address("$management"), Some(Entity::Management));
        assert_eq!(parse_address("amqps://ns.example/hub"), Some(Entity::Hub { hub: "hub".into() }));
        assert_eq!(
            parse_address("amqps://ns/hub/partitions/3"),
            Some(Entity::Partition { hub: "hub".into(), partition: "3".into() })
        );
        assert_eq!(
            parse_address("amqps://ns/hub/ConsumerGroups/$Default/Partitions/0"),
            Some(Entity::Consumer { hub: "hub".into(), consumer_group: "$Default".into(), partition: "0".into() })
        );
        assert_eq!(parse_address("amqps://ns/hub/Other/0"), None);
    }

    #[test]
    fn parses_sdk_selectors() {
        assert_eq!(
            parse_selector("amqp.annotation.x-opt-offset > '-1'").unwrap(),
            StartFilter::Offset { value: "-1".into(), inclusive: false }
        );
        assert_eq!(
            parse_selector("amqp.annotation.x-opt-sequence-number >='12'").unwrap(),
            StartFilter::Sequence { value: 12, inclusive: true }
        );
        assert_eq!(
            parse_selector("amqp.annotation.x-opt-enqueued-time >'1700000000000'").unwrap(),
            StartFilter::Enqueued { ms: 1_700_000_000_000, inclusive: false }
        );
        assert!(parse_selector("amqp.annotation.x-opt-foo > '1'").is_err());
    }
}
