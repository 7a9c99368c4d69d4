//! flowlog: streams Azure NSG and VNet flow logs into analytics in near real time.
//!
//! # Architecture
//!
//! Azure appends one record per minute to each flow-log blob (`PT1H.json`) and announces each
//! append; flowlog reads only the new bytes, turns every flow tuple into one row, delivers the
//! rows, and only then records how far it got. Four seams, one trait each, with Azure, local and
//! in-memory implementations side by side:
//!
//! - [`change_feed`]: per-partition, ordered "blob grew to N bytes" events (Event Hubs with the
//!   SDK's load-balanced `EventProcessor`; a directory watcher; a listing for backfill).
//! - [`blob_store`]: range reads as bounded chunk streams (Azure Blob; the file system).
//! - [`offset_store`]: per-blob byte offsets with compare-and-swap (Table storage ETags; crash-safe files).
//! - [`row_sink`]: delivery that returns only once rows are durably accepted (Event Hubs; NDJSON).
//!
//! Pure domain code has no I/O, async, clocks or Azure types: [`format`](mod@format) (framing of any byte
//! range of a blob into complete records, record and tuple parsing, typed errors), [`row`]
//! (schema, ids, NDJSON/CSV encoders, size-bounded batches), [`offset`] (what to read next, how to
//! reconcile a lost race). The [`engine`] drives the seams; [`daemon`] wires them from
//! [`config`]; [`cli`] is the command line.
//!
//! # Invariants
//!
//! - **Commit order** (per blob): load offset `O` → read and parse `[O, L-2)` → write dead
//!   letters → send rows and wait for acceptance → compare-and-swap the offset to the end of the
//!   last complete record → acknowledge the event. The change-feed checkpoint advances only over
//!   events whose blobs committed (or were dead-lettered without moving their offset).
//! - **Offsets only move forward**, to record boundaries, and only past delivered or
//!   dead-lettered bytes. Bytes before `L-2` never change in Azure, so every read is derived
//!   from the stored offset and a missed, duplicated, stale or reordered event is harmless.
//! - **Row ids** depend only on (blob name, record offset, tuple ordinal): re-reading the same
//!   bytes yields identical rows, so at-least-once delivery is deduplicated downstream.
//! - **Nothing is dropped silently**: bad tuples, records, events and unreadable blobs are
//!   logged with their location, counted in [`metrics`] and written to the dead-letter store.
//! - **Memory is bounded by configuration** (chunk and flush sizes, batch size), not by blob or
//!   record size: records are parsed as a stream and their rows flushed mid-record if need be.
//! - **Events are untrusted**: only blobs in configured accounts and containers are read.
//!
//! Vocabulary: a *checkpoint* is only the Event Hubs consumer position; an *offset* is only a
//! byte position in a blob.
pub mod app;
pub mod azure;
pub mod domain;
pub mod local;
pub mod pipeline;
