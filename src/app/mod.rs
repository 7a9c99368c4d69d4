//! The application: command line, configuration, ops server, daemon wiring and `simulate`.
#[cfg(feature = "azure")]
pub mod azure_wiring;
pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod enrich;
pub mod ops;
pub mod simulate;
