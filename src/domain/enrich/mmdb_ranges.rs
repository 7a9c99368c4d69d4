//! A MaxMind DB's search tree as address ranges, each naming one of the database's distinct
//! records, decoded once and copied out: the file's bytes are dropped after loading.
//!
//! A lookup in the tree reads one node per bit of a new address, each a cold cache line in tens
//! of megabytes (about 2.7 µs an address); the ranges go into the merged index instead. Only
//! what rows can ask is kept: every IPv4 address, and the public IPv6 space (`2000::/3`, and
//! `::ffff:0:0/96` for IPv4-mapped addresses, as the tree answers for them).
use core::net::IpAddr;

use maxminddb::{MaxMindDbError, Reader, WithinOptions};

use super::mmdb::{Mmdb, Record};
use super::records::{FastMap, Lists};

/// What one record holds, owned (empty strings are no value, as rows write them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rec {
    pub asn: Option<u32>,
    pub org: Option<Box<str>>,
    pub country: Option<Box<str>>,
    pub city: Option<Box<str>>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl From<Record<'_>> for Rec {
    fn from(r: Record<'_>) -> Self {
        let (lat, lon) = r.lat_lon();
        Rec {
            asn: r.autonomous_system_number,
            org: r.autonomous_system_organization.filter(|o| !o.is_empty()).map(Into::into),
            country: r.country().map(Into::into),
            city: r.city().map(Into::into),
            lat,
            lon,
        }
    }
}

/// The tree's networks with data, by record: `(first, last, record)`, sorted.
#[derive(Debug, Default)]
pub struct MmdbRanges {
    pub records: Vec<Rec>,
    /// IPv4; IPv4-mapped IPv6 (`::ffff:a.b.c.d`, by its IPv4 part); IPv6 in `2000::/3`.
    pub(super) lists: Lists,
    pub has_asn: bool,
    pub has_geo: bool,
    pub has_city: bool,
    /// The file's size, for the log.
    pub file_bytes: usize,
}

const GLOBAL: (u128, u32, &str) = (0x2000 << 112, 3, "2000::/3");
const MAPPED: (u128, u32, &str) = (0xffff << 32, 96, "::ffff:0:0/96");

impl MmdbRanges {
    pub fn new(db: &Mmdb) -> Result<Self, MaxMindDbError> {
        let reader = db.reader();
        let mut out = MmdbRanges {
            has_asn: db.has_asn,
            has_geo: db.has_geo,
            has_city: db.has_city,
            file_bytes: db.size(),
            ..Self::default()
        };
        let mut by_offset: FastMap<usize, u32> = FastMap::default();
        walk(reader, "0.0.0.0/0", &mut out.records, &mut by_offset, |start, end, rec| {
            // An IPv6 database without an IPv4 part answers every IPv4 address with one network.
            let (s, e) = if end > u128::from(u32::MAX) { (0, u32::MAX) } else { (start as u32, end as u32) };
            push(&mut out.lists.v4, (s, e, rec));
        })?;
        if reader.metadata().ip_version == 6 {
            for (region, prefix, net) in [GLOBAL, MAPPED] {
                let last = region | (u128::MAX >> prefix);
                walk(reader, net, &mut out.records, &mut by_offset, |start, end, rec| {
                    let (s, e) = (start.max(region), end.min(last));
                    if region == MAPPED.0 {
                        push(&mut out.lists.mapped, (s as u32, e as u32, rec));
                    } else {
                        push(&mut out.lists.v6, (s, e, rec));
                    }
                })?;
            }
        }
        out.records.shrink_to_fit();
        Ok(out)
    }

    pub fn heap_bytes(&self) -> usize {
        self.records.capacity() * size_of::<Rec>()
            + (self.lists.v4.capacity() + self.lists.mapped.capacity()) * 12
            + self.lists.v6.capacity() * size_of::<(u128, u128, u32)>()
    }
}

/// Calls `each(first, last, record)` for every network with data within `net` (aliases
/// included, as lookups follow them), each IPv4 network as its numbers.
fn walk<S: AsRef<[u8]>>(
    reader: &Reader<S>,
    net: &str,
    records: &mut Vec<Rec>,
    by_offset: &mut FastMap<usize, u32>,
    mut each: impl FnMut(u128, u128, u32),
) -> Result<(), MaxMindDbError> {
    let bad = MaxMindDbError::invalid_database;
    let limit = (reader.metadata().node_count as usize).saturating_mul(3);
    for (n, found) in
        reader.within(net.parse().expect("a network"), WithinOptions::default().include_aliased_networks())?.enumerate()
    {
        if n > limit {
            return Err(bad("the search tree has a cycle"));
        }
        let found = found?;
        let Some(offset) = found.offset() else { continue };
        let rec = match by_offset.get(&offset) {
            Some(&i) => i,
            None => {
                let record: Record<'_> = found.decode()?.ok_or_else(|| bad("a record without data"))?;
                let i = u32::try_from(records.len()).map_err(|_| bad("too many records"))?;
                records.push(record.into());
                by_offset.insert(offset, i);
                i
            }
        };
        let network = found.network()?;
        let (start, bits) = match network.network() {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32 - u32::from(network.prefix())),
            IpAddr::V6(a) => (u128::from(a), 128 - u32::from(network.prefix())),
        };
        let host = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
        each(start, start | host, rec);
    }
    Ok(())
}

/// Adds a range; one right after the last with the same record extends it (the walk yields
/// networks in order, and neighbours often share a record).
fn push<K: super::ranges::Key>(out: &mut Vec<(K, K, u32)>, r: (K, K, u32)) {
    match out.last_mut() {
        Some(last) if last.2 == r.2 && last.1 != K::MAX && last.1.succ() >= r.0 => last.1 = last.1.max(r.1),
        _ => out.push(r),
    }
}
