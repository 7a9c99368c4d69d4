//! Local-mode adapters for every seam: a directory feed and watcher, the file system as the
//! blob store, crash-safe offset files, an NDJSON sink and dead-letter files.
pub mod atomic;
pub mod blob_store;
pub mod dead_letter;
pub mod feed;
pub mod ndjson_sink;
pub mod offset_store;
