//! Running as a service: logging, the ops HTTP endpoints, signals.
pub mod server;
pub mod signals;
pub mod telemetry;
