//! Structured logging: human-readable text on a terminal, JSON lines otherwise; `RUST_LOG`
//! filters; secret values redacted from every line (see `redact.rs`).
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::app::config::LogStyle;

pub const DEFAULT_FILTER: &str =
    "info,azure_messaging_eventhubs=warn,azure_core_amqp=warn,azure_core=warn,fe2o3_amqp=warn,azure_storage_blob=warn";

/// Installs the global subscriber, logging to stderr (stdout may carry rows). Idempotent.
pub fn init(format: LogStyle) {
    // The SDKs log every retried failure at info/error with full Debug output; their own
    // failures reach flowlog's logs with context anyway, so only their warnings pass by default.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = match format {
        LogStyle::Json => true,
        LogStyle::Text => false,
        LogStyle::Auto => !std::io::stderr().is_terminal(),
    };
    // Every line passes the redactor: secrets never reach stderr, whoever logs them. A stderr
    // nobody reads any more is no reason to stop: without `log_internal_errors(false)` the
    // subscriber reports the failed write with `eprintln!`, which panics.
    let writer = || super::redact::Redacting(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).log_internal_errors(false);
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}
