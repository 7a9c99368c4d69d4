//! Where a simulated flow's remote addresses come from (`--addresses`): the documentation
//! prefixes of the original model, or public addresses shaped like an internet-facing NIC's.
//!
//! The default model draws from the series' own generator exactly as before, so existing seeds
//! keep their bytes. The others draw from a stream of their own, still a function of the seed.
use super::random::{SplitMix64, mix};
use super::text::Ip;
use core::net::{IpAddr, Ipv4Addr};

use crate::domain::enrich::class::classify;

/// The shape of the remote addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum AddressModel {
    /// Documentation prefixes (RFC 5737, 2001:db8::/32), a few hundred per blob: a few hosts
    /// talking to each other.
    #[default]
    Repeating,
    /// Public addresses: a heavy-tailed set of peers shared by every blob (a few take most of
    /// the traffic, most are rare), web clients half of them new, and scanners of which most are
    /// seen once.
    Realistic,
    /// Every remote address new, never repeated (VNet peers too): the worst case for anything
    /// that remembers addresses.
    Unique,
}

/// What the remote end of a flow is, which decides how often its address recurs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A service the VM connects to (web, NTP, mail).
    Service,
    /// A client of the VM's public service.
    Client,
    /// A scanner probing closed or management ports.
    Scanner,
}

/// Rank levels of the heavy-tailed peer sets: rank `r` has probability about `1 / r`, up to
/// `2^LEVELS` distinct peers per kind.
const LEVELS: u64 = 16;

/// One series' address source.
pub struct Addresses {
    model: AddressModel,
    rng: SplitMix64,
    /// The same for every series of a seed, so popular peers are popular everywhere.
    key: u64,
    /// The next fresh address index: `series + series_count * k`, so no two series (and no two
    /// draws) share one.
    next: u64,
    stride: u64,
}

impl Addresses {
    pub fn new(model: AddressModel, root: &SplitMix64, series: usize, series_count: usize) -> Self {
        let key = root.fork(u64::MAX - 1).next_u64();
        let rng = root.fork(u64::MAX - 2 - series as u64);
        Addresses { model, rng, key, next: series as u64, stride: series_count.max(1) as u64 }
    }

    /// An internet address for a peer of this kind (`rng` is the flow's own generator, which
    /// the repeating model draws from as it always has).
    pub fn internet(&mut self, rng: &mut SplitMix64, v6: bool, peer: Peer) -> Ip {
        let fresh_share = match (self.model, peer) {
            (AddressModel::Repeating, _) => return documentation(rng, v6),
            (AddressModel::Unique, _) => 100,
            (AddressModel::Realistic, Peer::Service) => 0,
            (AddressModel::Realistic, Peer::Client) => 50,
            (AddressModel::Realistic, Peer::Scanner) => 80,
        };
        if self.rng.percent(fresh_share) {
            let n = self.fresh_index();
            if v6 { global_v6(mix(n ^ self.key), n) } else { public_v4(n, self.key) }
        } else {
            let level = self.rng.below(LEVELS);
            let rank = (1u64 << level) - 1 + self.rng.below(1 << level);
            let h = mix(self.key ^ ((peer as u64) << 56) ^ rank);
            if v6 { global_v6(h, rank) } else { public_v4(h, self.key ^ 0x5bd1_e995) }
        }
    }

    /// A VNet peer: the repeating draw as it is, or in the unique model a new 10/8 address.
    pub fn vnet_peer(&mut self, drawn: Ip) -> Ip {
        if self.model != AddressModel::Unique {
            return drawn;
        }
        // Multiplying by an odd number is a bijection mod 2^24: distinct until 16 M draws.
        let n = self.fresh_index();
        Ip::V4(0x0A00_0000 | (n.wrapping_mul(0x9E_3779) as u32 & 0x00FF_FFFF))
    }

    fn fresh_index(&mut self) -> u64 {
        let n = self.next;
        self.next += self.stride;
        n
    }
}

/// The original model: the three RFC 5737 /24s and 2001:db8:e00x::/48.
fn documentation(rng: &mut SplitMix64, v6: bool) -> Ip {
    const INTERNET_V4: [u32; 3] = [0xC000_0200, 0xC633_6400, 0xCB00_7100];
    if v6 {
        Ip::V6 { net: 0xE000 | rng.below(16) as u16, host: rng.range(1, 0xFFFE) as u16 }
    } else {
        Ip::V4(*rng.pick(&INTERNET_V4) | rng.range(1, 254) as u32)
    }
}

/// A public IPv4 address from a keyed permutation of the 32-bit space: the permutation is
/// applied again while the result is not public (cycle walking), so distinct `n` give distinct
/// addresses but for the rare `n` that is itself another's non-public image.
fn public_v4(n: u64, key: u64) -> Ip {
    let mut a = feistel(n as u32, key);
    // One address in eight is not public: a handful of steps at most in practice; bounded anyway.
    for _ in 0..64 {
        if classify(IpAddr::V4(Ipv4Addr::from(a))).is_public() {
            break;
        }
        a = feistel(a, key);
    }
    Ip::V4(a)
}

/// A global unicast IPv6 address in 2a00::/12, distinct for distinct `low`.
fn global_v6(h: u64, low: u64) -> Ip {
    let top = (0x2a00u128 | (h >> 60) as u128) << 112;
    Ip::V6Global(top | (u128::from(h & 0xFFFF_FFFF_FFFF) << 64) | u128::from(low))
}

/// Four Feistel rounds on 16-bit halves: a bijection of `u32` for any key.
fn feistel(x: u32, key: u64) -> u32 {
    let (mut l, mut r) = ((x >> 16) as u16, x as u16);
    for round in 0..4u32 {
        let f = mix(u64::from(r) ^ key.rotate_left(round * 16)) as u16;
        (l, r) = (r, l ^ f);
    }
    (u32::from(l) << 16) | u32::from(r)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn draws(model: AddressModel, peer: Peer, count: usize) -> Vec<Ip> {
        let root = SplitMix64::new(3);
        let mut a = Addresses::new(model, &root, 0, 2);
        let mut rng = SplitMix64::new(9);
        (0..count).map(|i| a.internet(&mut rng, i % 10 == 0, peer)).collect()
    }

    fn text(ips: &[Ip]) -> Vec<String> {
        ips.iter()
            .map(|&ip| {
                let mut s = String::new();
                super::super::text::push_ip(&mut s, ip);
                s
            })
            .collect()
    }

    #[test]
    fn unique_never_repeats_and_every_address_is_public() {
        let all = text(&draws(AddressModel::Unique, Peer::Service, 50_000));
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
        for s in &all {
            let ip: std::net::IpAddr = s.parse().unwrap();
            assert!(classify(ip).is_public(), "{s}");
        }
    }

    #[test]
    fn realistic_services_are_heavy_tailed_and_scanners_mostly_new() {
        let services = text(&draws(AddressModel::Realistic, Peer::Service, 20_000));
        let distinct = services.iter().collect::<HashSet<_>>().len();
        // Some peers recur often, yet thousands are seen: neither a handful nor all distinct.
        assert!((1_000..15_000).contains(&distinct), "{distinct} distinct services");
        let scanners = text(&draws(AddressModel::Realistic, Peer::Scanner, 20_000));
        let distinct = scanners.iter().collect::<HashSet<_>>().len();
        assert!(distinct > 16_000, "{distinct} distinct scanners of 20,000");
    }

    #[test]
    fn the_same_seed_gives_the_same_addresses() {
        assert_eq!(
            text(&draws(AddressModel::Realistic, Peer::Client, 500)),
            text(&draws(AddressModel::Realistic, Peer::Client, 500))
        );
    }

    #[test]
    fn unique_vnet_peers_are_private_and_distinct() {
        let mut a = Addresses::new(AddressModel::Unique, &SplitMix64::new(1), 1, 3);
        let peers: HashSet<u32> = (0..10_000)
            .map(|_| match a.vnet_peer(Ip::V4(0x0A00_0006)) {
                Ip::V4(v) => v,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(peers.len(), 10_000);
        assert!(peers.iter().all(|v| v >> 24 == 10));
    }
}
