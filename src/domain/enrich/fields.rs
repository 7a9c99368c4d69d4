//! A row's database fields (`src_asn` … `dst_azure_region`) rendered as JSON: a field whose data
//! has no answer is left out rather than written as `null`, which every consumer reads as null
//! (Data Explorer's mapping, a Log Analytics stream, `jq`), and most lookups have no answer for
//! most of a row's fields (private addresses, a country database's missing cities).
use core::fmt::Write as _;

use super::service_tags::Entry;
use super::{IpInfo, Settings};
use crate::domain::json::{write_int, write_str};

fn key(out: &mut Vec<u8>, prefix: &str, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(prefix.as_bytes());
    out.push(b'_');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `fmt::Write` into the output bytes, so numbers format without a temporary string.
struct Bytes<'a>(&'a mut Vec<u8>);

impl core::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `,"PREFIX_NAME":` then the value `write` renders, or nothing when there is no value.
pub(super) fn field<T>(out: &mut Vec<u8>, prefix: &str, name: &str, v: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    if let Some(v) = v {
        key(out, prefix, name);
        write(out, v);
    }
}

/// A string field ([`field`]).
pub(super) fn str_field(out: &mut Vec<u8>, prefix: &str, name: &str, v: Option<&str>) {
    field(out, prefix, name, v, write_str);
}

/// A coordinate ([`field`]); one that is no finite number has no JSON form and is left out too.
pub(super) fn real_field(out: &mut Vec<u8>, prefix: &str, name: &str, v: Option<f64>) {
    field(out, prefix, name, v.filter(|v| v.is_finite()), |out, v| {
        let _ = write!(Bytes(out), "{v}");
    });
}

/// The side's database fields (`src_asn` … `src_azure_region`) for the settings that are on,
/// those with an answer.
pub(super) fn write_side(out: &mut Vec<u8>, prefix: &str, info: &IpInfo<'_>, s: Settings) {
    if s.asn {
        field(out, prefix, "asn", info.asn, write_int);
        str_field(out, prefix, "as_org", info.as_org);
    }
    if s.geo {
        str_field(out, prefix, "country", info.country);
        str_field(out, prefix, "city", info.city);
        real_field(out, prefix, "lat", info.lat);
        real_field(out, prefix, "lon", info.lon);
    }
    if s.service_tags {
        write_tag(out, prefix, info.azure);
    }
}

/// `src_azure_service`, `src_azure_region` (with `prefix`), those with an answer.
pub(super) fn write_tag(out: &mut Vec<u8>, prefix: &str, tag: Option<&Entry>) {
    str_field(out, prefix, "azure_service", tag.map(|e| &*e.service));
    str_field(out, prefix, "azure_region", tag.and_then(|e| e.region.as_deref()));
}
