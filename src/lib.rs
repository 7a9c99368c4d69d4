//! flowlog: streams Azure NSG and VNet flow logs into analytics in near real time.
pub mod row;
