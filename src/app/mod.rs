//! The application: command line, configuration, ops server, daemon wiring and `simulate`.
pub mod cli;
pub mod config;
pub mod daemon;
pub mod enrich;
pub mod ops;
pub mod simulate;
