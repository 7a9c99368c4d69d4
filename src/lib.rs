//! flowlog: streams Azure NSG and VNet flow logs into analytics in near real time.
//!
//! # Architecture
//!
//! Azure appends one record per minute to each flow-log blob (`PT1H.json`) and announces each
//! append; flowlog reads only the new bytes, turns every flow tuple into one row, delivers the
//! rows, and only then records how far it got. `docs/ARCHITECTURE.md` tells the whole story.
//!
//! Five layers, each importing only those to its left (checked by `tests/tidy.rs`):
//!
//! ```text
//! domain  <-  pipeline  <-  { local, azure }  <-  app
//! ```
//!
//! - [`domain`]: pure and synchronous, no I/O, async, clocks or Azure types: blob identity,
//!   offset arithmetic (what to read next, how to reconcile a lost race), framing of any byte
//!   range of a blob into complete records, record and tuple parsing, flattening, the row schema,
//!   ids, encoders and size-bounded batches.
//! - [`pipeline`]: one trait per seam ([`change_feed`](pipeline::change_feed),
//!   [`blob_store`](pipeline::blob_store), [`offset_store`](pipeline::offset_store),
//!   [`row_sink`](pipeline::row_sink), [`dead_letter`](pipeline::dead_letter)), the
//!   [`engine`](pipeline::engine) that drives them through the commit order, metrics, and
//!   in-memory implementations of every seam.
//! - [`local`]: the local-mode adapters (directory feed, files, offset files, NDJSON sink).
//! - `azure` (cargo feature `azure`, on by default): Event Hubs feed and sink, Blob, Table,
//!   dead-letter blobs, credentials.
//! - [`app`]: command line, configuration (parsed once into typed values), ops server, daemon
//!   wiring for both modes, `simulate`.
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
//! - **Row ids** depend only on (blob name, generation, record offset, tuple ordinal): re-reading
//!   the same bytes yields identical rows, so at-least-once delivery is deduplicated downstream,
//!   and a recreated blob (a new generation) never reuses an old row's id.
//! - **Nothing is dropped silently**: bad tuples, records, events and unreadable blobs are
//!   logged with their location, counted in [`metrics`](pipeline::metrics) and written to the
//!   dead-letter store.
//! - **Memory is bounded by configuration** (chunk and flush sizes, batch size), not by blob or
//!   record size: records are parsed as a stream and their rows flushed mid-record if need be.
//! - **Events are untrusted**: only blobs in configured accounts and containers are read.
//! - **Rows leave the encoder whole**: Community IDs hashed many rows at a time wait as
//!   fixed-length placeholders in the NDJSON encoder's private buffer, filled before any caller
//!   reads, cuts or truncates it.
//!
//! # Vocabulary
//!
//! - *offset*: only a byte position in a blob. The Event Hubs position of an event is its
//!   *sequence number* (and the service's `event_offset` string inside a
//!   [`FeedPosition`](pipeline::change_feed::FeedPosition)).
//! - *checkpoint*: only the Event Hubs consumer position of a partition.
//! - *blob name* ([`BlobName`](domain::blob_name::BlobName)): the blob's path in its account,
//!   which is its identity for offsets and ids.
//! - *record*: one element of a blob's `records` array (one minute of one resource); *tuple*: one
//!   flow in a record; *row*: one flattened tuple.
//! - *flatten*: records to rows (the pure [`domain::flatten`] and the `flowlog flatten` command).
pub mod app;
#[cfg(feature = "azure")]
pub mod azure;
pub mod domain;
pub mod local;
pub mod pipeline;
