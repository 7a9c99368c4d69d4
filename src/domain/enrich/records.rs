//! What the ASN and geography databases say, as distinct records and ranges naming them, from
//! any of the file kinds (`.mmdb`, ip-location-db CSV): the input of the merged index.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::DataFile;
use super::fields::{field, real_field, str_field};
use super::index::overlay;
use crate::domain::json::write_int;

/// An ASN and its organisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsnRec {
    pub asn: u32,
    pub org: Option<Box<str>>,
}

/// A country, with a city and coordinates when the database has them.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoRec {
    pub country: Box<str>,
    pub city: Option<Box<str>>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// Country, city, latitude, longitude.
pub(super) type GeoFields<'a> = (Option<&'a str>, Option<&'a str>, Option<f64>, Option<f64>);

impl GeoRec {
    /// Whether the record's piece cannot give it back exactly: a string JSON escapes, or a
    /// coordinate that is no finite number (left out, so read back as none).
    pub(super) fn keep_whole(&self) -> bool {
        let plain = |s: &str| !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
        let finite = |x: Option<f64>| x.is_none_or(f64::is_finite);
        !(plain(&self.country) && self.city.as_deref().is_none_or(plain) && finite(self.lat) && finite(self.lon))
    }

    /// The fields of a record not [kept whole](Self::keep_whole), from the piece [`render_geo`]
    /// wrote for it. Numbers read back exactly: `f64`'s `Display` is the shortest text that
    /// parses to the same value.
    pub(super) fn read_back(piece: &[u8]) -> GeoFields<'_> {
        let mut rest = piece;
        let [country, city, lat, lon] = ["country", "city", "lat", "lon"].map(|name| value(&mut rest, name));
        fn text(v: Option<&[u8]>) -> Option<&str> {
            v.and_then(|v| std::str::from_utf8(&v[1..v.len() - 1]).ok())
        }
        let real = |v: Option<&[u8]>| v.and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
        (text(country), text(city), real(lat), real(lon))
    }
}

/// The value after the key `,"src_NAME":` at the start of `rest`, which moves past it: up to the
/// next key (rendered values never hold `,"`: a quote in a string is escaped). `None` when
/// `rest` starts with another key or is empty: the record has no such field.
fn value<'a>(rest: &mut &'a [u8], name: &str) -> Option<&'a [u8]> {
    let r = rest.strip_prefix(b",\"src_")?.strip_prefix(name.as_bytes())?.strip_prefix(b"\":")?;
    let end = r.windows(6).position(|w| w == b",\"src_").unwrap_or(r.len());
    let (v, tail) = r.split_at(end);
    *rest = tail;
    Some(v)
}

/// Ranges `(first, last, value)` per family, sorted and not overlapping: IPv4, IPv4-mapped IPv6
/// (by the IPv4 part), other IPv6.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Lists {
    pub v4: Vec<(u32, u32, u32)>,
    pub mapped: Vec<(u32, u32, u32)>,
    pub v6: Vec<(u128, u128, u32)>,
}

impl Lists {
    /// With every value renumbered by `f` (`None` drops the range: the database has no record
    /// of this kind there).
    fn map(self, mut f: impl FnMut(u32) -> Option<u32>) -> Lists {
        let mut each = |l: Vec<(u32, u32, u32)>| -> Vec<(u32, u32, u32)> {
            l.into_iter().filter_map(|(s, e, v)| Some((s, e, f(v)?))).collect()
        };
        let (v4, mapped) = (each(self.v4), each(self.mapped));
        let v6 = self.v6.into_iter().filter_map(|(s, e, v)| Some((s, e, f(v)?))).collect();
        Lists { v4, mapped, v6 }
    }
}

/// The maps that number distinct records and networks at load. Their keys come from the
/// operator's database files, not from traffic, so a hash that can be flooded is no concern;
/// SipHash, the standard map's, was 7 % of loading the ASN CSV.
pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A multiply-rotate hash over 8-byte words, finished with a mix so the low bits the map
/// indexes by depend on every bit.
#[derive(Default, Clone, Copy)]
pub(super) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ (rest.len() as u64) << 59);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^ (x >> 33)
    }
}

/// Distinct records of one kind, numbered in order of first sight.
struct Distinct<K, R> {
    index: FastMap<K, u32>,
    records: Vec<R>,
}

impl<K: Hash + Eq, R> Distinct<K, R> {
    fn new() -> Self {
        Distinct { index: FastMap::default(), records: Vec::new() }
    }

    fn number(&mut self, key: K, record: impl FnOnce() -> R) -> u32 {
        *self.index.entry(key).or_insert_with(|| {
            self.records.push(record());
            (self.records.len() - 1) as u32
        })
    }
}

/// The ASN records of `files` and their ranges, laid over one another.
pub(super) fn asn_lists(files: Vec<DataFile>) -> (Vec<AsnRec>, Lists) {
    let mut distinct: Distinct<AsnRec, AsnRec> = Distinct::new();
    let mut lists = Vec::new();
    for f in files {
        lists.push(match f {
            DataFile::AsnCsv(t) => {
                let (records, raw) = t.into_lists();
                let numbers: Vec<u32> = records.into_iter().map(|r| distinct.number(r.clone(), || r)).collect();
                raw.map(|i| Some(numbers[i as usize]))
            }
            DataFile::Mmdb(m) => {
                let numbers: Vec<Option<u32>> = m
                    .records
                    .iter()
                    .map(|r| {
                        let rec = AsnRec { asn: r.asn?, org: r.org.clone() };
                        Some(distinct.number(rec.clone(), || rec))
                    })
                    .collect();
                m.lists.map(|i| numbers[i as usize])
            }
            // Never here: a setting with a `.mmdb` kept whole is looked up file by file.
            DataFile::CountryCsv(_) | DataFile::MmdbTree(_) => Lists::default(),
        });
    }
    (distinct.records, overlay(lists))
}

/// The geography records of `files` and their ranges, laid over one another.
pub(super) fn geo_lists(files: Vec<DataFile>) -> (Vec<GeoRec>, Lists) {
    type Key = (Box<str>, Option<Box<str>>, Option<u64>, Option<u64>);
    let mut distinct: Distinct<Key, GeoRec> = Distinct::new();
    let mut number = |rec: GeoRec| {
        let key = (rec.country.clone(), rec.city.clone(), rec.lat.map(f64::to_bits), rec.lon.map(f64::to_bits));
        distinct.number(key, || rec)
    };
    let mut lists = Vec::new();
    for f in files {
        lists.push(match f {
            DataFile::CountryCsv(t) => {
                let (codes, raw) = t.into_lists();
                let numbers: Vec<u32> = codes
                    .iter()
                    .map(|c| number(GeoRec { country: c.clone(), city: None, lat: None, lon: None }))
                    .collect();
                raw.map(|i| Some(numbers[i as usize]))
            }
            DataFile::Mmdb(m) => {
                let numbers: Vec<Option<u32>> = m
                    .records
                    .iter()
                    .map(|r| {
                        let country = r.country.clone()?;
                        Some(number(GeoRec { country, city: r.city.clone(), lat: r.lat, lon: r.lon }))
                    })
                    .collect();
                m.lists.map(|i| numbers[i as usize])
            }
            DataFile::AsnCsv(_) | DataFile::MmdbTree(_) => Lists::default(),
        });
    }
    (distinct.records, overlay(lists))
}

/// `src_asn`, `src_as_org` (with `prefix`), when the ASN setting is on and the record has them.
pub(super) fn render_asn(on: bool, r: Option<&AsnRec>, prefix: &str, out: &mut Vec<u8>) {
    if !on {
        return;
    }
    field(out, prefix, "asn", r.map(|r| r.asn), write_int);
    str_field(out, prefix, "as_org", r.and_then(|r| r.org.as_deref()));
}

/// `src_country`, `src_city`, `src_lat`, `src_lon`, when the geography setting is on and the
/// record has them.
pub(super) fn render_geo(on: bool, r: Option<&GeoRec>, prefix: &str, out: &mut Vec<u8>) {
    if !on {
        return;
    }
    str_field(out, prefix, "country", r.map(|r| &*r.country));
    str_field(out, prefix, "city", r.and_then(|r| r.city.as_deref()));
    real_field(out, prefix, "lat", r.and_then(|r| r.lat));
    real_field(out, prefix, "lon", r.and_then(|r| r.lon));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// The map's slots come from the hash's low bits: consecutive numbers (network offsets, ASN
    /// pairs) and names that differ in one byte or in length spread over them.
    #[test]
    fn fast_hashes_spread_over_the_low_bits() {
        let b = BuildHasherDefault::<FastHasher>::default();
        let slots = |hashes: Vec<u64>| hashes.iter().map(|h| h & 4095).collect::<std::collections::HashSet<_>>().len();
        assert!(slots((0..4096usize).map(|n| b.hash_one(n)).collect()) > 2400);
        assert!(slots((0..4096u32).map(|n| b.hash_one((n, 7u32))).collect()) > 2400);
        let names: Vec<String> = (0..4096).map(|n| format!("Example Networks {n}")).collect();
        assert!(slots(names.iter().map(|n| b.hash_one(n.as_str())).collect()) > 2400);
        assert_ne!(b.hash_one("AS1"), b.hash_one("AS1\0"));
        let mut numbers = FastMap::default();
        for n in 0..10_000u32 {
            *numbers.entry(n % 1000).or_insert(0) += 1;
        }
        assert!(numbers.len() == 1000 && numbers.values().all(|&c| c == 10));
    }
}
