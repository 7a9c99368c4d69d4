//! The pure core: blob identity, offset arithmetic, framing, record and tuple parsing,
//! flattening, the row schema, ids, encoders and batching. No I/O, async, clocks or Azure types.
pub mod blob_name;
pub mod enrich;
pub mod flatten;
pub mod format;
pub mod ids;
pub mod json;
pub mod magic;
pub mod offset;
pub mod row;
pub mod secret;
