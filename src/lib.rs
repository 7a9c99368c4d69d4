//! flowlog: streams Azure NSG and VNet flow logs into analytics in near real time.
pub mod blob_name;
pub mod blob_store;
pub mod change_feed;
pub mod cli;
pub mod config;
pub mod dead_letter;
pub mod engine;
pub mod error;
pub mod flatten;
pub mod format;
pub mod metrics;
pub mod offset;
pub mod offset_store;
pub mod row;
pub mod row_sink;
pub mod simulate;
