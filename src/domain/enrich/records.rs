//! What the ASN and geography databases say, as distinct records and ranges naming them, from
//! any of the file kinds (`.mmdb`, ip-location-db CSV): the input of the merged index.
use std::collections::HashMap;
use std::hash::Hash;

use super::DataFile;
use super::index::overlay;
use super::writer::{key, write_real};
use crate::domain::json::{write_int, write_opt_str};

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
    /// coordinate that is no finite number (written as null).
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
        fn text(v: &[u8]) -> Option<&str> {
            (v != b"null").then(|| std::str::from_utf8(&v[1..v.len() - 1]).ok()).flatten()
        }
        let real = |v: &[u8]| std::str::from_utf8(v).ok().and_then(|t| t.parse().ok());
        (text(country), text(city), real(lat), real(lon))
    }
}

/// The value after the key `,"src_NAME":` at the start of `rest`, which moves past it: up to the
/// next key (rendered values never hold `,"`: a quote in a string is escaped).
fn value<'a>(rest: &mut &'a [u8], name: &str) -> &'a [u8] {
    let r = &rest[",\"src_".len() + name.len() + "\":".len()..];
    let end = r.windows(6).position(|w| w == b",\"src_").unwrap_or(r.len());
    let (v, tail) = r.split_at(end);
    *rest = tail;
    v
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

/// Distinct records of one kind, numbered in order of first sight.
struct Distinct<K, R> {
    index: HashMap<K, u32>,
    records: Vec<R>,
}

impl<K: Hash + Eq, R> Distinct<K, R> {
    fn new() -> Self {
        Distinct { index: HashMap::new(), records: Vec::new() }
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

/// `src_asn`, `src_as_org` (with `prefix`), when the ASN setting is on.
pub(super) fn render_asn(on: bool, r: Option<&AsnRec>, prefix: &str, out: &mut Vec<u8>) {
    if !on {
        return;
    }
    key(out, prefix, "asn");
    match r {
        Some(r) => write_int(out, r.asn),
        None => out.extend_from_slice(b"null"),
    }
    key(out, prefix, "as_org");
    write_opt_str(out, r.and_then(|r| r.org.as_deref()));
}

/// `src_country`, `src_city`, `src_lat`, `src_lon`, when the geography setting is on.
pub(super) fn render_geo(on: bool, r: Option<&GeoRec>, prefix: &str, out: &mut Vec<u8>) {
    if !on {
        return;
    }
    key(out, prefix, "country");
    write_opt_str(out, r.map(|r| &*r.country));
    key(out, prefix, "city");
    write_opt_str(out, r.and_then(|r| r.city.as_deref()));
    key(out, prefix, "lat");
    write_real(out, r.and_then(|r| r.lat));
    key(out, prefix, "lon");
    write_real(out, r.and_then(|r| r.lon));
}
