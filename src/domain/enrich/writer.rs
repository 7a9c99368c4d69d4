//! The per-encoder side of enrichment: writes a row's enrichment fields after its flow-log
//! fields, in `schema::FIELDS` order.
//!
//! Flow logs repeat the same addresses row after row, so the writer keeps an address cache
//! (`addr_cache`) from the parsed address to its class and rendered JSON fragments: a repeated
//! address costs a hash, a compare and a memcpy, and after warm-up the hot path allocates
//! nothing. A field whose data has no answer is left out of the row (`fields`).
use std::sync::Arc;

use super::addr_cache::{AddrCache, Side};
use super::class::{AddrClass, classify};
use super::community_id::{LEN, community_id, message};
use super::flow_type::{End, FlowType, flow_type};
use super::id_batch::IdBatch;
use super::services::service_name;
use super::{Enricher, Settings};
use crate::domain::format::Tuple;

/// What [`EnrichWriter::prepare`] found for a row.
pub struct Prepared {
    si: usize,
    di: usize,
    /// The classes, when no database is on: computed from the parsed addresses, no cache.
    classes: Option<[AddrClass; 2]>,
    community_id: Id,
}

/// A row's Community ID.
#[derive(Clone, Copy)]
enum Id {
    Off,
    Ready([u8; LEN]),
    /// Hashed with other rows' (see `id_batch`).
    Later,
}

impl Prepared {
    fn direct(t: &Tuple<'_>, community_id: Id) -> Self {
        Prepared { si: 0, di: 0, classes: Some([classify(t.src_addr), classify(t.dst_addr)]), community_id }
    }
}

/// Enrichment for one encoder, over one version of the data.
pub struct EnrichWriter {
    enricher: Arc<Enricher>,
    settings: Settings,
    /// No database is on: a row's enrichment needs only the addresses' classes, a few
    /// comparisons each, cheaper than any cache (which misses on every new address).
    direct: bool,
    cache: AddrCache,
    ids: IdBatch,
}

impl Default for EnrichWriter {
    fn default() -> Self {
        EnrichWriter::new(Enricher::basic())
    }
}

impl EnrichWriter {
    pub fn new(enricher: Arc<Enricher>) -> Self {
        let settings = enricher.settings();
        let direct = !(settings.asn || settings.geo || settings.service_tags);
        EnrichWriter { enricher, settings, direct, cache: AddrCache::new(), ids: IdBatch::default() }
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
        debug_assert!(self.ids.is_empty(), "IDs wait in another buffer");
        let prepared = self.prepare(t);
        self.write_prepared(&prepared, t, out);
    }

    /// The lookups and the Community ID of a row, done before its flow-log fields are written:
    /// the SHA-1 is a chain of dependent rounds, and with the row's other work queued behind it
    /// the core runs that work while the rounds complete.
    pub fn prepare(&mut self, t: &Tuple<'_>) -> Prepared {
        let community_id = match self.settings.community_id {
            true => Id::Ready(community_id(t.src_addr, t.dst_addr, t.protocol.number, t.src_port, t.dst_port)),
            false => Id::Off,
        };
        if self.direct {
            return Prepared::direct(t, community_id);
        }
        let [si, di] = self.cache.indexes(&self.enricher, [(Side::Src, t.src_addr), (Side::Dst, t.dst_addr)]);
        Prepared { si, di, classes: None, community_id }
    }

    /// [`Self::prepare`] for two rows at once. Their Community IDs are left for later: they are
    /// hashed many rows at a time, into placeholders (see [`Self::fill_ids`]).
    pub fn prepare_pair(&mut self, a: &Tuple<'_>, b: &Tuple<'_>) -> (Prepared, Prepared) {
        let id = if self.settings.community_id { Id::Later } else { Id::Off };
        let (ca, cb) = (id, id);
        if self.direct {
            return (Prepared::direct(a, ca), Prepared::direct(b, cb));
        }
        let [sa, da, sb, db] = self.cache.indexes(
            &self.enricher,
            [(Side::Src, a.src_addr), (Side::Dst, a.dst_addr), (Side::Src, b.src_addr), (Side::Dst, b.dst_addr)],
        );
        (
            Prepared { si: sa, di: da, classes: None, community_id: ca },
            Prepared { si: sb, di: db, classes: None, community_id: cb },
        )
    }

    /// [`Self::write_ndjson`] with the row's [`Self::prepare`] (of the same tuple; no other row
    /// prepared in between, except as the pair of [`Self::prepare_pair`]). After a pair's rows,
    /// `out` holds Community ID placeholders until [`Self::fill_ids`]: it may grow, and must
    /// be filled before it is read, cut or written to by anything else.
    pub fn write_prepared(&mut self, p: &Prepared, t: &Tuple<'_>, out: &mut Vec<u8>) {
        let (si, di) = (p.si, p.di);
        let (s, d) = match p.classes {
            Some([s, d]) => (End { class: s, azure: false }, End { class: d, azure: false }),
            None => {
                let (s, d) = (self.cache.entry(si), self.cache.entry(di));
                (End { class: s.class, azure: s.azure }, End { class: d.class, azure: d.azure })
            }
        };
        let ft = flow_type(s, d, t.direction, self.settings.service_tags);
        out.extend_from_slice(b",\"src_class\":\"");
        out.extend_from_slice(s.class.as_str().as_bytes());
        out.extend_from_slice(b"\",\"dst_class\":\"");
        out.extend_from_slice(d.class.as_str().as_bytes());
        out.extend_from_slice(b"\",\"flow_type\":\"");
        out.extend_from_slice(ft.as_str().as_bytes());
        out.push(b'"');
        if p.classes.is_none() {
            // With no database on, the fragments are empty.
            self.cache.write_fragment(&self.enricher, Side::Src, si, out);
            self.cache.write_fragment(&self.enricher, Side::Dst, di, out);
        }
        if !matches!(p.community_id, Id::Off) {
            out.extend_from_slice(b",\"community_id\":\"");
            match p.community_id {
                Id::Ready(id) => out.extend_from_slice(&id),
                _ => {
                    let msg = message(t.src_addr, t.dst_addr, t.protocol.number, t.src_port, t.dst_port);
                    self.ids.push(msg, out);
                }
            }
            out.push(b'"');
        }
        if self.settings.service_names
            && let Some(name) = service_name(t.protocol.number, t.dst_port)
        {
            // IANA service names are letters, digits and `-`: nothing to escape.
            out.extend_from_slice(b",\"service\":\"");
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
        }
    }

    /// Writes the Community IDs still waiting into their placeholders in `out`, the buffer
    /// [`Self::write_prepared`] wrote them to.
    pub fn fill_ids(&mut self, out: &mut [u8]) {
        self.ids.fill(out);
    }

    /// The enrichment fields as CSV, each followed by a `,`; `field` writes one value (`None`
    /// for null) escaped. With no database on, the values (classes, flow type, Community ID,
    /// service name) are written as they are: none of them holds a character CSV escapes.
    pub fn write_csv(&mut self, t: &Tuple<'_>, out: &mut Vec<u8>, field: fn(&mut Vec<u8>, Option<&str>)) {
        if !self.direct {
            for v in self.values(t) {
                field(out, v.as_deref());
            }
            return;
        }
        let p = self.prepare(t);
        let [s, d] = p.classes.expect("direct");
        let ft = flow_type(End { class: s, azure: false }, End { class: d, azure: false }, t.direction, false);
        for v in [s.as_str(), d.as_str(), ft.as_str()] {
            out.extend_from_slice(v.as_bytes());
            out.push(b',');
        }
        if let Id::Ready(id) = &p.community_id {
            out.extend_from_slice(id);
            out.push(b',');
        }
        if self.settings.service_names {
            out.extend_from_slice(service_name(t.protocol.number, t.dst_port).unwrap_or("").as_bytes());
            out.push(b',');
        }
    }

    /// The enrichment fields' values as text (`None` for null), in schema order: for the CSV
    /// encoder when a database is on.
    pub fn values(&self, t: &Tuple<'_>) -> Vec<Option<String>> {
        let (sip, dip) = (t.src_addr, t.dst_addr);
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
