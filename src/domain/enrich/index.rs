//! Every ASN, geography and service-tag database merged into one index per address family,
//! built when the data loads: a new address costs one search (a first-level slot, a short run of
//! starts and values side by side) and a copy of up to three rendered pieces.
//!
//! Each database's ranges name one of its distinct records; the databases of a kind are laid
//! over one another (the first that knows an address answers, as the settings document), and
//! the three kinds are cut into runs that each hold one [`Combo`]. Records are decoded and
//! rendered once ([`Catalog`]); the databases' own bytes are not kept.
use core::net::IpAddr;

use super::DataFile;
use super::IpInfo;
use super::catalog::{Catalog, NULL};
use super::partition::{NONE, Partition, first_hit, zip};
use super::records::{AsnRec, GeoRec, Lists, asn_lists, geo_lists, render_asn, render_geo};
use super::service_tags::ServiceTags;

/// What the databases say about a run of addresses: the pieces of each kind ([`NULL`] when
/// the kind's databases have nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Combo {
    pub asn: u32,
    pub geo: u32,
    pub tags: u32,
}

impl Combo {
    /// Nothing known.
    pub const NONE: Combo = Combo { asn: NULL, geo: NULL, tags: NULL };
}

#[derive(Debug)]
pub(super) struct Index {
    v4: Partition<u32, Combo>,
    /// IPv4-mapped IPv6 addresses, when some database answers them otherwise than their IPv4
    /// address (a `.mmdb` of IPv6 only); else they use `v4`.
    mapped: Option<Partition<u32, Combo>>,
    v6: V6,
    pub asn: Catalog<AsnRec>,
    pub geo: Catalog<GeoRec>,
    /// Service-tag entries by number.
    pub tags: Catalog<u32>,
}

impl Index {
    pub(super) fn new(
        asn: Vec<DataFile>,
        geo: Vec<DataFile>,
        tags: Option<&ServiceTags>,
        on: (bool, bool, bool),
    ) -> Self {
        let (asn_records, mut asn) = asn_lists(asn);
        let (geo_records, mut geo) = geo_lists(geo);
        let (asn_cat, asn_pieces) = Catalog::new(asn_records, |r, p, out| render_asn(on.0, r, p, out), |_| true);
        // Most geography records are read back from their pieces (half a million for a city
        // database); the few a piece cannot give back exactly are kept.
        let (geo_cat, geo_pieces) =
            Catalog::new(geo_records, |r, p, out| render_geo(on.1, r, p, out), GeoRec::keep_whole);
        let tag_count = tags.map_or(0, ServiceTags::entry_count) as u32;
        let (tags_cat, tag_pieces) = Catalog::new(
            (0..tag_count).collect(),
            |r: Option<&u32>, p, out| {
                if on.2 {
                    super::fields::write_tag(out, p, r.and_then(|&i| tags.map(|t| t.entry(i))));
                }
            },
            |_| true,
        );
        let mut tag_lists = tags.map(ServiceTags::lists).unwrap_or_default();
        let piece = |pieces: &[u32], v: u32| if v == NONE { NULL } else { pieces[v as usize] };
        let combo = |[a, g, t]: [u32; 3]| Combo {
            asn: piece(&asn_pieces, a),
            geo: piece(&geo_pieces, g),
            tags: piece(&tag_pieces, t),
        };
        // One family at a time, each family's lists dropped once cut into runs: building then
        // holds one family's intermediate runs at its peak, not all three families' at once.
        let mapped_differs = asn.mapped != asn.v4 || geo.mapped != geo.v4 || tag_lists.mapped != tag_lists.v4;
        let part = |runs: Vec<(u32, [u32; 3])>| Partition::new(runs.into_iter().map(|(s, v)| (s, combo(v))).collect());
        let mapped = cut([&mut asn, &mut geo, &mut tag_lists], |l| &mut l.mapped);
        let mapped = mapped_differs.then_some(mapped);
        let v4 = part(runs(cut([&mut asn, &mut geo, &mut tag_lists], |l| &mut l.v4)));
        let mapped = mapped.map(|l| part(runs(l)));
        let v6 = zip([&asn.v6[..], &geo.v6[..], &tag_lists.v6[..]]);
        drop((asn, geo, tag_lists));
        Index {
            v4,
            mapped,
            v6: V6::new(v6.into_iter().map(|(s, v)| (s, combo(v))).collect()),
            asn: asn_cat,
            geo: geo_cat,
            tags: tags_cat,
        }
    }

    /// The pieces for a public address.
    #[inline]
    pub(super) fn get(&self, ip: IpAddr) -> Combo {
        match ip {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(m) => self.mapped.as_ref().unwrap_or(&self.v4).get(u32::from(m)),
                None => match &self.v6 {
                    V6::Top64(p) => p.get((u128::from(a) >> 64) as u64),
                    V6::Full(p) => p.get(u128::from(a)),
                },
            },
        }
    }

    /// Asks the core to load what [`Self::get`] of `ip` reads first.
    #[inline]
    pub(super) fn prefetch(&self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => self.v4.prefetch(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(m) => self.mapped.as_ref().unwrap_or(&self.v4).prefetch(u32::from(m)),
                None => match &self.v6 {
                    V6::Top64(p) => p.prefetch((u128::from(a) >> 64) as u64),
                    V6::Full(p) => p.prefetch(u128::from(a)),
                },
            },
        }
    }

    /// Fills `info`'s fields from the pieces of `c`.
    pub(super) fn fill<'a>(&'a self, c: Combo, info: &mut IpInfo<'a>) {
        if let Some(r) = self.asn.record(c.asn) {
            (info.asn, info.as_org) = (Some(r.asn), r.org.as_deref());
        }
        if c.geo != NULL {
            match self.geo.record(c.geo) {
                Some(r) => {
                    (info.country, info.city) = (Some(&*r.country), r.city.as_deref());
                    (info.lat, info.lon) = (r.lat, r.lon);
                }
                None => (info.country, info.city, info.lat, info.lon) = GeoRec::read_back(self.geo.piece(c.geo)),
            }
        }
    }

    /// Runs per family (IPv4, IPv4-mapped when apart, IPv6) and distinct records per kind.
    pub(super) fn counts(&self) -> ([usize; 3], [usize; 3]) {
        let v6 = match &self.v6 {
            V6::Top64(p) => p.runs().len(),
            V6::Full(p) => p.runs().len(),
        };
        let runs = [self.v4.runs().len(), self.mapped.as_ref().map_or(0, |m| m.runs().len()), v6];
        (runs, [self.asn.len(), self.geo.len(), self.tags.len()])
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes()
            + self.mapped.as_ref().map_or(0, Partition::heap_bytes)
            + match &self.v6 {
                V6::Top64(p) => p.heap_bytes(),
                V6::Full(p) => p.heap_bytes(),
            }
            + self.asn.heap_bytes(|r| r.org.as_ref().map_or(0, |o| o.len()))
            + self.geo.heap_bytes(|r| r.country.len() + r.city.as_ref().map_or(0, |c| c.len()))
            + self.tags.heap_bytes(|_| 0)
    }
}

/// The IPv6 runs: by the top 64 bits when every run starts on a /64 (databases do not split
/// a /64; 24 bytes a run instead of 32), else by the whole address.
#[derive(Debug)]
enum V6 {
    Top64(Partition<u64, Combo>),
    Full(Partition<u128, Combo>),
}

impl V6 {
    fn new(runs: Vec<(u128, Combo)>) -> Self {
        if runs.iter().all(|r| r.0 as u64 == 0) {
            V6::Top64(Partition::new(runs.into_iter().map(|(s, v)| ((s >> 64) as u64, v)).collect()))
        } else {
            V6::Full(Partition::new(runs))
        }
    }
}

/// The runs of one family's lists of each kind, the lists dropped before the runs are used.
fn runs(lists: [Vec<(u32, u32, u32)>; 3]) -> Vec<(u32, [u32; 3])> {
    zip(lists.each_ref().map(|l| &l[..]))
}

/// One family's lists of each kind, taken out of the kinds' [`Lists`].
fn cut(kinds: [&mut Lists; 3], family: fn(&mut Lists) -> &mut Vec<(u32, u32, u32)>) -> [Vec<(u32, u32, u32)>; 3] {
    kinds.map(|l| std::mem::take(family(l)))
}

/// [`Lists`] of one kind, laid over one another in order.
pub(super) fn overlay(files: Vec<Lists>) -> Lists {
    let (mut v4, mut mapped, mut v6) = (Vec::new(), Vec::new(), Vec::new());
    for l in files {
        v4.push(l.v4);
        mapped.push(l.mapped);
        v6.push(l.v6);
    }
    Lists { v4: first_hit(v4), mapped: first_hit(mapped), v6: first_hit(v6) }
}
