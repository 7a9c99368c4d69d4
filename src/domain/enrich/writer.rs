//! The per-encoder side of enrichment: writes a row's enrichment fields after its flow-log
//! fields, in `schema::FIELDS` order.
//!
//! Flow logs repeat the same addresses row after row, so each side (source, destination) keeps
//! a small direct-mapped cache from the address text to its class, parsed address and rendered
//! JSON fragment. A hit costs a hash and a memcpy; a miss reuses the slot's buffer, so after
//! warm-up the hot path allocates nothing.
use core::fmt::Write as _;
use core::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::class::AddrClass;
use super::community_id::community_id;
use super::flow_type::{End, FlowType, flow_type};
use super::services::service_name;
use super::{Enricher, IpInfo, Settings};
use crate::domain::format::Tuple;
use crate::domain::json::{write_int, write_opt_str};

/// Slots per side, in pairs (two-way set associative): a few thousand distinct addresses per
/// blob stay cached without the thrashing of a direct-mapped table. About 0.8 MiB per side,
/// allocated on first use.
const SLOTS: usize = 8192;
/// Longer than any textual IP address without an embedded IPv4 part (39 characters).
const MAX_KEY: usize = 40;
const WORDS: usize = MAX_KEY / 8;

/// Address text as zero-padded little-endian words: hashed and compared a word at a time.
#[derive(Clone, Copy)]
struct Key {
    len: u8,
    words: [u64; WORDS],
}

impl Key {
    fn new(b: &[u8]) -> Option<Key> {
        if b.is_empty() || b.len() > MAX_KEY {
            return None;
        }
        let mut buf = [0u8; MAX_KEY];
        buf[..b.len()].copy_from_slice(b);
        let mut words = [0u64; WORDS];
        for (w, c) in words.iter_mut().zip(buf.chunks_exact(8)) {
            *w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        }
        Some(Key { len: b.len() as u8, words })
    }

    /// Equality without a `memcmp` call: the hot path compares twice per address.
    fn same(&self, other: &Key) -> bool {
        let diff = self.words.iter().zip(&other.words).fold(0, |acc, (a, b)| acc | (a ^ b));
        self.len == other.len && diff == 0
    }

    fn hash(&self) -> usize {
        let mut h = u64::from(self.len).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for &w in &self.words[..(self.len as usize).div_ceil(8)] {
            h = (h ^ w).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h ^= h >> 31;
        }
        h as usize
    }
}

struct Slot {
    /// Length 0 while empty (no address text is empty).
    key: Key,
    /// In the first slot of a pair: which of the two was used last (the other is replaced).
    recent: u8,
    ip: IpAddr,
    class: AddrClass,
    azure: bool,
    frag: Vec<u8>,
}

impl Slot {
    fn empty() -> Self {
        Slot {
            key: Key { len: 0, words: [0; WORDS] },
            recent: 0,
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
    /// The fragment of every non-public address (no lookups, all null): one copy, kept hot,
    /// instead of one per slot.
    nulls: Vec<u8>,
}

impl SideCache {
    fn new(prefix: &'static str, settings: Settings) -> Self {
        let mut nulls = Vec::new();
        write_side(&mut nulls, prefix, &IpInfo::bare(AddrClass::Private), settings);
        SideCache { prefix, slots: Vec::new(), nulls }
    }

    /// The slot's database fields, rendered.
    fn fragment<'a>(&'a self, slot: &'a Slot) -> &'a [u8] {
        if slot.class.is_public() { &slot.frag } else { &self.nulls }
    }

    fn index(&mut self, enricher: &Enricher, settings: Settings, text: &str) -> usize {
        if self.slots.is_empty() {
            self.slots = (0..SLOTS).map(|_| Slot::empty()).collect();
        }
        let Some(key) = Key::new(text.as_bytes()) else {
            // Not an address a tuple can hold; computed each time in a scratch slot.
            self.fill(0, enricher, settings, text, None);
            return 0;
        };
        let pair = key.hash() & (SLOTS - 2);
        let way = if self.slots[pair].key.same(&key) {
            0
        } else if self.slots[pair + 1].key.same(&key) {
            1
        } else {
            let w = 1 - self.slots[pair].recent as usize;
            self.fill(pair + w, enricher, settings, text, Some(key));
            w
        };
        self.slots[pair].recent = way as u8;
        pair + way
    }

    fn fill(&mut self, i: usize, enricher: &Enricher, settings: Settings, text: &str, key: Option<Key>) {
        let slot = &mut self.slots[i];
        // Tuples are validated, so the text parses; an unparsable one gets a harmless default.
        let ip = text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let info = enricher.ip_info(ip);
        slot.ip = ip;
        slot.class = info.class;
        slot.azure = info.azure.is_some();
        slot.frag.clear();
        if info.class.is_public() {
            write_side(&mut slot.frag, self.prefix, &info, settings);
        }
        slot.key = key.unwrap_or(Key { len: 0, words: [0; WORDS] });
    }
}

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

fn write_real(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() => {
            let _ = write!(Bytes(out), "{v}");
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
        EnrichWriter { enricher, settings, src: SideCache::new("src", settings), dst: SideCache::new("dst", settings) }
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Appends `,"src_class":…` through the last enabled field (no closing brace).
    pub fn write_ndjson(&mut self, t: &Tuple<'_>, out: &mut Vec<u8>) {
        let si = self.src.index(&self.enricher, self.settings, t.src_ip);
        let di = self.dst.index(&self.enricher, self.settings, t.dst_ip);
        let (s, d) = (&self.src.slots[si], &self.dst.slots[di]);
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
        out.extend_from_slice(self.src.fragment(s));
        out.extend_from_slice(self.dst.fragment(d));
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
