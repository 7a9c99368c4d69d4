//! What the address cache stores for an address it lacks: its class and its database fields
//! rendered for both ends, copied from the merged index's pieces.
use core::net::IpAddr;

use super::Enricher;
use super::addr_cache::{Entry, Key, Side};
use super::class::classify;
use super::index::Combo;

/// Looks the address up and copies its fragments (as source, then as destination, each after
/// its length) to the end of `out`: the pieces of the merged index, rendered at load.
pub(crate) fn compute(enricher: &Enricher, ip: IpAddr, key: Key, out: &mut Vec<u8>, combo: Option<Combo>) -> Entry {
    let class = classify(ip);
    let start = out.len() + 4;
    let mut azure = false;
    if class.is_public() && enricher.has_chains() {
        // A setting looked up file by file: rendered here, as every address was before the
        // merged index.
        let info = enricher.ip_info(ip);
        for side in [Side::Src, Side::Dst] {
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            super::fields::write_side(out, side.prefix(), &info, enricher.settings());
            let len = (out.len() - at - 4) as u32;
            out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
        return Entry { key, frag: start as u32, class, azure: info.azure.is_some() };
    }
    if class.is_public() {
        let index = &enricher.index;
        let c = combo.unwrap_or_else(|| index.get(ip));
        azure = c.tags != super::catalog::NULL;
        let (a, g, t) = (index.asn.piece(c.asn), index.geo.piece(c.geo), index.tags.piece(c.tags));
        let len = a.len() + g.len() + t.len();
        out.reserve(8 + 2 * len);
        for side in [Side::Src, Side::Dst] {
            out.extend_from_slice(&(len as u32).to_le_bytes());
            if side == Side::Src {
                out.extend_from_slice(a);
                out.extend_from_slice(g);
                out.extend_from_slice(t);
            } else {
                index.asn.write_dst(c.asn, out);
                index.geo.write_dst(c.geo, out);
                index.tags.write_dst(c.tags, out);
            }
        }
    } else {
        out.extend_from_slice(&[0; 8]);
    }
    Entry { key, frag: start as u32, class, azure }
}

/// The index's answers for the public addresses the cache lacks (`probed[i]` is `None`). Their
/// searches are started together when there are several (each is a few dependent cache
/// misses), so that the misses overlap; the pieces' first lines are asked for as well.
pub(crate) fn look_up<const N: usize>(
    enricher: &Enricher,
    addrs: &[(Side, IpAddr); N],
    probed: &[Option<usize>; N],
) -> [Option<Combo>; N] {
    let mut combos = [None; N];
    let public: [bool; N] = core::array::from_fn(|i| probed[i].is_none() && classify(addrs[i].1).is_public());
    if public.iter().filter(|&&p| p).count() > 1 {
        for i in (0..N).filter(|&i| public[i]) {
            enricher.index.prefetch(addrs[i].1);
        }
    }
    for i in (0..N).filter(|&i| public[i]) {
        let c = enricher.index.get(addrs[i].1);
        enricher.index.asn.prefetch(c.asn);
        enricher.index.geo.prefetch(c.geo);
        combos[i] = Some(c);
    }
    combos
}

/// Appends the database fields of a public address not cached, from the index's pieces.
pub(crate) fn write_pieces(enricher: &Enricher, side: Side, c: &Combo, out: &mut Vec<u8>) {
    let index = &enricher.index;
    match side {
        Side::Src => {
            for piece in [index.asn.piece(c.asn), index.geo.piece(c.geo), index.tags.piece(c.tags)] {
                out.extend_from_slice(piece);
            }
        }
        Side::Dst => {
            index.asn.write_dst(c.asn, out);
            index.geo.write_dst(c.geo, out);
            index.tags.write_dst(c.tags, out);
        }
    }
}
