//! Running as a service: logging (secrets redacted), the ops HTTP endpoints, signals.
pub mod redact;
pub mod server;
pub mod signals;
pub mod telemetry;
