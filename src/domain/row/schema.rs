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
    /// JSON number with a fraction, Kusto `real`.
    Real,
}

impl FieldType {
    /// The Kusto column type name.
    pub fn kusto(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::DateTime => "datetime",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Real => "real",
        }
    }
}

/// One row field: its JSON name, its type, whether it may be `null`, and what produces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub nullable: bool,
    pub source: Source,
}

/// What makes a field appear in rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The flow log itself.
    Core,
    /// Enrichment that needs no data files: always written.
    Always,
    /// Written only when this `[enrich]` setting is on.
    Setting(Setting),
}

pub use crate::domain::enrich::Setting;

impl Source {
    /// How `flowlog schema` names it.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Core => "flow log",
            Source::Always => "always",
            Source::Setting(s) => s.name(),
        }
    }
}

const fn f(name: &'static str, ty: FieldType, nullable: bool) -> Field {
    Field { name, ty, nullable, source: Source::Core }
}

const fn e(name: &'static str, ty: FieldType, nullable: bool, source: Source) -> Field {
    Field { name, ty, nullable, source }
}

use FieldType::{DateTime, Int, Long, Real, String as Str};
use Setting::{AsnDb, CommunityId, GeoDb, ServiceNames, ServiceTags};
const ALWAYS: Source = Source::Always;
const ASN: Source = Source::Setting(AsnDb);
const GEO: Source = Source::Setting(GeoDb);
const TAGS: Source = Source::Setting(ServiceTags);

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
    // Enrichment, appended so the fields above keep their names and positions.
    e("src_class", Str, false, ALWAYS),
    e("dst_class", Str, false, ALWAYS),
    e("flow_type", Str, false, ALWAYS),
    e("src_asn", Long, true, ASN),
    e("src_as_org", Str, true, ASN),
    e("src_country", Str, true, GEO),
    e("src_city", Str, true, GEO),
    e("src_lat", Real, true, GEO),
    e("src_lon", Real, true, GEO),
    e("src_azure_service", Str, true, TAGS),
    e("src_azure_region", Str, true, TAGS),
    e("dst_asn", Long, true, ASN),
    e("dst_as_org", Str, true, ASN),
    e("dst_country", Str, true, GEO),
    e("dst_city", Str, true, GEO),
    e("dst_lat", Real, true, GEO),
    e("dst_lon", Real, true, GEO),
    e("dst_azure_service", Str, true, TAGS),
    e("dst_azure_region", Str, true, TAGS),
    e("community_id", Str, false, Source::Setting(CommunityId)),
    e("service", Str, true, Source::Setting(ServiceNames)),
];

/// The field names only, in encoder order.
pub fn field_names() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|f| f.name)
}

/// The fields rows carry when the settings `enabled` says are on, in encoder order.
pub fn fields_for(enabled: impl Fn(Setting) -> bool) -> impl Iterator<Item = &'static Field> {
    FIELDS.iter().filter(move |f| match f.source {
        Source::Core | Source::Always => true,
        Source::Setting(s) => enabled(s),
    })
}
