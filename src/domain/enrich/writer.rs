//! The per-encoder side of enrichment: writes a row's enrichment fields after its flow-log
//! fields, in `schema::FIELDS` order.
//!
//! Flow logs repeat the same addresses row after row, so each side (source, destination) keeps
//! a small direct-mapped cache from the address text to its class, parsed address and rendered
//! JSON fragment. A hit costs a hash and a memcpy; a miss reuses the slot's buffer, so after
//! warm-up the hot path allocates nothing.
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::class::AddrClass;
use super::community_id::community_id;
use super::flow_type::{End, FlowType, flow_type};
use super::services::service_name;
use super::{Enricher, IpInfo, Settings};
use crate::domain::format::Tuple;
use crate::domain::row::json::{write_int, write_opt_str};

const SLOTS: usize = 1024;
/// Longer than any textual IP address (45 characters at most).
const MAX_KEY: usize = 48;

struct Slot {
    len: u8,
    key: [u8; MAX_KEY],
    ip: IpAddr,
    class: AddrClass,
    azure: bool,
    frag: Vec<u8>,
}

impl Slot {
    fn empty() -> Self {
        Slot {
            len: 0,
            key: [0; MAX_KEY],
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            class: AddrClass::Reserved,
            azure: false,
            frag: Vec::new(),
        }
    }
}

struct SideCache {
    prefix: &'static str,
    slots: Vec<Slot>,
}

impl SideCache {
    fn new(prefix: &'static str) -> Self {
        SideCache { prefix, slots: Vec::new() }
    }

    fn get(&mut self, enricher: &Enricher, settings: Settings, text: &str) -> &Slot {
        if self.slots.is_empty() {
            self.slots = (0..SLOTS).map(|_| Slot::empty()).collect();
        }
        let b = text.as_bytes();
        let i = hash(b) & (SLOTS - 1);
        let slot = &mut self.slots[i];
        if b.is_empty() || slot.len as usize != b.len() || slot.key[..b.len()] != *b {
            // Tuples are validated, so the text parses; an unparsable one gets a harmless default.
            let ip = text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let info = enricher.ip_info(ip);
            slot.ip = ip;
            slot.class = info.class;
            slot.azure = info.azure.is_some();
            slot.frag.clear();
            write_side(&mut slot.frag, self.prefix, &info, settings);
            if b.len() <= MAX_KEY {
                slot.key[..b.len()].copy_from_slice(b);
                slot.len = b.len() as u8;
            } else {
                slot.len = 0;
            }
        }
        &self.slots[i]
    }
}

/// FNV-1a: a few cycles per byte, and good enough spread for address text.
fn hash(b: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h = (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 29)) as usize
}

fn key(out: &mut Vec<u8>, prefix: &str, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(prefix.as_bytes());
    out.push(b'_');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn write_real(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() => {
            let _ = write!(out, "{v}");
        }
        _ => out.extend_from_slice(b"null"),
    }
}

/// The side's database fields (`src_asn` … `src_azure_region`) for the settings that are on.
fn write_side(out: &mut Vec<u8>, prefix: &str, info: &IpInfo<'_>, s: Settings) {
    if s.asn {
        key(out, prefix, "asn");
        match info.asn {
            Some(n) => write_int(out, n),
            None => out.extend_from_slice(b"null"),
        }
        key(out, prefix, "as_org");
        write_opt_str(out, info.as_org);
    }
    if s.geo {
        key(out, prefix, "country");
        write_opt_str(out, info.country);
        key(out, prefix, "city");
        write_opt_str(out, info.city);
        key(out, prefix, "lat");
        write_real(out, info.lat);
        key(out, prefix, "lon");
        write_real(out, info.lon);
    }
    if s.service_tags {
        key(out, prefix, "azure_service");
        write_opt_str(out, info.azure.map(|e| &*e.service));
        key(out, prefix, "azure_region");
        write_opt_str(out, info.azure.and_then(|e| e.region.as_deref()));
    }
}

/// Enrichment for one encoder, over one version of the data.
pub struct EnrichWriter {
    enricher: Arc<Enricher>,
    settings: Settings,
    src: SideCache,
    dst: SideCache,
}

impl Default for EnrichWriter {
    fn default() -> Self {
        EnrichWriter::new(Enricher::basic())
    }
}

impl EnrichWriter {
    pub fn new(enricher: Arc<Enricher>) -> Self {
        let settings = enricher.settings();
        EnrichWriter { enricher, settings, src: SideCache::new("src"), dst: SideCache::new("dst") }
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Appends `,"src_class":…` through the last enabled field (no closing brace).
    pub fn write_ndjson(&mut self, t: &Tuple<'_>, out: &mut Vec<u8>) {
        let s = self.src.get(&self.enricher, self.settings, t.src_ip);
        let d = self.dst.get(&self.enricher, self.settings, t.dst_ip);
        let ft = flow_type(
            End { class: s.class, azure: s.azure },
            End { class: d.class, azure: d.azure },
            t.direction,
            self.settings.service_tags,
        );
        out.extend_from_slice(b",\"src_class\":\"");
        out.extend_from_slice(s.class.as_str().as_bytes());
        out.extend_from_slice(b"\",\"dst_class\":\"");
        out.extend_from_slice(d.class.as_str().as_bytes());
        out.extend_from_slice(b"\",\"flow_type\":\"");
        out.extend_from_slice(ft.as_str().as_bytes());
        out.push(b'"');
        out.extend_from_slice(&s.frag);
        out.extend_from_slice(&d.frag);
        if self.settings.community_id {
            out.extend_from_slice(b",\"community_id\":\"");
            out.extend_from_slice(&community_id(s.ip, d.ip, t.protocol.number, t.src_port, t.dst_port));
            out.push(b'"');
        }
        if self.settings.service_names {
            out.extend_from_slice(b",\"service\":");
            write_opt_str(out, service_name(t.protocol.number, t.dst_port));
        }
    }

    /// The enrichment fields' values as text (`None` for null), in schema order: for the CSV
    /// encoder, which is not on the hot path.
    pub fn values(&self, t: &Tuple<'_>) -> Vec<Option<String>> {
        let parse = |s: &str| s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let (sip, dip) = (parse(t.src_ip), parse(t.dst_ip));
        let (si, di) = (self.enricher.ip_info(sip), self.enricher.ip_info(dip));
        let st = self.settings;
        let ft: FlowType = flow_type(
            End { class: si.class, azure: si.azure.is_some() },
            End { class: di.class, azure: di.azure.is_some() },
            t.direction,
            st.service_tags,
        );
        let mut v = vec![Some(si.class.as_str().into()), Some(di.class.as_str().into()), Some(ft.as_str().into())];
        let real = |x: Option<f64>| x.filter(|x| x.is_finite()).map(|x| x.to_string());
        for info in [&si, &di] {
            if st.asn {
                v.push(info.asn.map(|n| n.to_string()));
                v.push(info.as_org.map(str::to_string));
            }
            if st.geo {
                v.push(info.country.map(str::to_string));
                v.push(info.city.map(str::to_string));
                v.push(real(info.lat));
                v.push(real(info.lon));
            }
            if st.service_tags {
                v.push(info.azure.map(|e| e.service.to_string()));
                v.push(info.azure.and_then(|e| e.region.as_deref().map(str::to_string)));
            }
        }
        if st.community_id {
            let id = community_id(sip, dip, t.protocol.number, t.src_port, t.dst_port);
            v.push(Some(String::from_utf8_lossy(&id).into_owned()));
        }
        if st.service_names {
            v.push(service_name(t.protocol.number, t.dst_port).map(str::to_string));
        }
        v
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
