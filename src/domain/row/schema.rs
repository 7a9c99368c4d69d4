//! The normalized row's field list: the contract with Data Explorer and downstream users.
//!
//! Everything that names row fields (the NDJSON/CSV encoders' tests, the ADX mapping check,
//! `flowlog schema`) reads this one list, so a renamed or added field cannot drift silently.

/// How a field is typed in Data Explorer; also documents the JSON value it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// JSON string (or null).
    String,
    /// RFC 3339 UTC timestamp string, Kusto `datetime`.
    DateTime,
    /// JSON integer that fits in 32 bits, Kusto `int`.
    Int,
    /// JSON integer up to 64 bits, Kusto `long`.
    Long,
}

impl FieldType {
    /// The Kusto column type name.
    pub fn kusto(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::DateTime => "datetime",
            FieldType::Int => "int",
            FieldType::Long => "long",
        }
    }
}

/// One row field: its JSON name, its type, and whether it may be `null`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub nullable: bool,
}

const fn f(name: &'static str, ty: FieldType, nullable: bool) -> Field {
    Field { name, ty, nullable }
}

use FieldType::{DateTime, Int, Long, String as Str};

/// Every row field, in the order the encoders write them.
pub const FIELDS: &[Field] = &[
    f("id", Str, false),
    f("flow_time", DateTime, false),
    f("record_time", DateTime, true),
    f("format", Str, false),
    f("version", Int, false),
    f("resource_id", Str, true),
    f("target_resource_id", Str, true),
    f("subscription_id", Str, true),
    f("resource_group", Str, true),
    f("rule", Str, true),
    f("acl_id", Str, true),
    f("mac", Str, true),
    f("src_ip", Str, false),
    f("dst_ip", Str, false),
    f("src_port", Int, true),
    f("dst_port", Int, true),
    f("protocol", Str, false),
    f("protocol_number", Int, false),
    f("direction", Str, false),
    f("decision", Str, false),
    f("flow_state", Str, true),
    f("encryption", Str, true),
    f("packets_src_to_dst", Long, true),
    f("bytes_src_to_dst", Long, true),
    f("packets_dst_to_src", Long, true),
    f("bytes_dst_to_src", Long, true),
    f("blob", Str, false),
    f("record_offset", Long, false),
];

/// The field names only, in encoder order.
pub fn field_names() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|f| f.name)
}
