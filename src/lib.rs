//! flowlog: streams Azure NSG and VNet flow logs into analytics in near real time.
pub mod azure;
pub mod blob_name;
pub mod blob_store;
pub mod change_feed;
pub mod dead_letter;
pub mod error;
pub mod offset;
pub mod offset_store;
pub mod row;
pub mod row_sink;
