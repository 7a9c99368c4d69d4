//! The per-encoder side of enrichment: writes a row's enrichment fields after its flow-log
//! fields, in `schema::FIELDS` order.
//!
//! Flow logs repeat the same addresses row after row, so the writer keeps an address cache (`addr_cache`) from
//! the address text to its class, parsed address and rendered JSON fragments: a repeated address
//! costs a hash, a compare and a memcpy, and after warm-up the hot path allocates nothing.
use core::fmt::Write as _;
use core::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::addr_cache::{AddrCache, Side};
use super::community_id::{community_id, community_id_pair, message};
use super::flow_type::{End, FlowType, flow_type};
use super::services::service_name;
use super::{Enricher, IpInfo, Settings};
use crate::domain::format::Tuple;
use crate::domain::json::{write_int, write_opt_str};

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
pub(super) fn write_side(out: &mut Vec<u8>, prefix: &str, info: &IpInfo<'_>, s: Settings) {
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

/// What [`EnrichWriter::prepare`] found for a row.
pub struct Prepared {
    si: usize,
    di: usize,
    community_id: Option<[u8; super::community_id::LEN]>,
}

/// Enrichment for one encoder, over one version of the data.
pub struct EnrichWriter {
    enricher: Arc<Enricher>,
    settings: Settings,
    cache: AddrCache,
}

impl Default for EnrichWriter {
    fn default() -> Self {
        EnrichWriter::new(Enricher::basic())
    }
}

impl EnrichWriter {
    pub fn new(enricher: Arc<Enricher>) -> Self {
        let settings = enricher.settings();
        EnrichWriter { enricher, settings, cache: AddrCache::new(settings) }
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// The data version this writer enriches with.
    pub fn enricher(&self) -> &Arc<Enricher> {
        &self.enricher
    }

    /// Addresses whose fields are cached (looked up once, until the cache starts over).
    pub fn cached_addresses(&self) -> usize {
        self.cache.len()
    }

    /// Appends `,"src_class":…` through the last enabled field (no closing brace).
    pub fn write_ndjson(&mut self, t: &Tuple<'_>, out: &mut Vec<u8>) {
        let prepared = self.prepare(t);
        self.write_prepared(&prepared, t, out);
    }

    /// The lookups and the Community ID of a row, done before its flow-log fields are written:
    /// the SHA-1 is a chain of dependent rounds, and with the row's other work queued behind it
    /// the core runs that work while the rounds complete.
    pub fn prepare(&mut self, t: &Tuple<'_>) -> Prepared {
        let [si, di] =
            self.cache.indexes(&self.enricher, self.settings, [(Side::Src, t.src_ip), (Side::Dst, t.dst_ip)]);
        let community_id = self.settings.community_id.then(|| {
            let (s, d) = (self.cache.entry(Side::Src, si), self.cache.entry(Side::Dst, di));
            community_id(s.ip(), d.ip(), t.protocol.number, t.src_port, t.dst_port)
        });
        Prepared { si, di, community_id }
    }

    /// [`Self::prepare`] for two rows at once, or `None` when `a`'s entries would not survive
    /// `b`'s lookups (an address too long to cache). The two Community IDs are hashed side by
    /// side (see [`community_id_pair`]).
    pub fn prepare_pair(&mut self, a: &Tuple<'_>, b: &Tuple<'_>) -> Option<(Prepared, Prepared)> {
        if !AddrCache::cacheable(a.src_ip) || !AddrCache::cacheable(a.dst_ip) {
            return None;
        }
        let (enricher, settings) = (&self.enricher, self.settings);
        let [sa, da, sb, db] = self.cache.indexes(
            enricher,
            settings,
            [(Side::Src, a.src_ip), (Side::Dst, a.dst_ip), (Side::Src, b.src_ip), (Side::Dst, b.dst_ip)],
        );
        let (ia, ib) = ((sa, da), (sb, db));
        let (ca, cb) = if settings.community_id {
            let block = |t: &Tuple<'_>, (si, di): (usize, usize)| {
                let (s, d) = (self.cache.entry(Side::Src, si), self.cache.entry(Side::Dst, di));
                message(s.ip(), d.ip(), t.protocol.number, t.src_port, t.dst_port)
            };
            let (ca, cb) = community_id_pair(&block(a, ia), &block(b, ib));
            (Some(ca), Some(cb))
        } else {
            (None, None)
        };
        Some((Prepared { si: ia.0, di: ia.1, community_id: ca }, Prepared { si: ib.0, di: ib.1, community_id: cb }))
    }

    /// [`Self::write_ndjson`] with the row's [`Self::prepare`] (of the same tuple; no other row
    /// prepared in between, except as the pair of [`Self::prepare_pair`]).
    pub fn write_prepared(&self, p: &Prepared, t: &Tuple<'_>, out: &mut Vec<u8>) {
        let (si, di) = (p.si, p.di);
        let (s, d) = (self.cache.entry(Side::Src, si), self.cache.entry(Side::Dst, di));
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
        out.extend_from_slice(self.cache.fragment(Side::Src, si));
        out.extend_from_slice(self.cache.fragment(Side::Dst, di));
        if let Some(id) = &p.community_id {
            out.extend_from_slice(b",\"community_id\":\"");
            out.extend_from_slice(id);
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
