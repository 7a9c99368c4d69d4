//! The normalized row: its schema, identity and encoders.
pub mod schema;
