//! The normalized row: its schema, identity and encoders.
pub mod batch;
pub mod csv;
pub mod encoder;
pub mod ndjson;
pub mod schema;
