//! Azure mode's row sink (`output.kind`): the output Event Hub, or a data collection rule's
//! stream on the Logs Ingestion API.
use std::time::Duration;

use anyhow::bail;

use super::checks::{https_url, in_range, required, secret};
use super::resources::{HubRef, hub};
use super::{RawConfig, Secret, file};

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

/// `output.kind`, and the target's own settings.
pub(super) fn output_target(raw: &RawConfig, output: &file::OutputSection) -> anyhow::Result<OutputTarget> {
    Ok(match output.kind.as_deref().map(str::trim) {
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
