//! The pipeline: one trait per seam, the engine that drives them through the commit order,
//! metrics, and in-memory implementations of every seam for tests.
pub mod blob_store;
pub mod change_feed;
pub mod dead_letter;
pub mod engine;
pub mod enrichment;
pub mod error;
mod labels;
pub mod metrics;
pub mod offset_store;
pub mod probe;
pub mod row_sink;
pub mod storage_metrics;
