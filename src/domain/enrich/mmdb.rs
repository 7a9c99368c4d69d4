//! MaxMind DB (`.mmdb`) files through the `maxminddb` reader, over bytes loaded by the caller.
//!
//! Two record shapes are read: MaxMind's and DB-IP's own (`country.iso_code`,
//! `city.names.en`, `location.latitude`, `autonomous_system_number`) and ip-location-db's
//! flat one (`country_code`, `city`, `latitude`, `longitude`). Strings borrow from the file.
use core::net::IpAddr;
use std::fmt;

use maxminddb::Reader;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use super::DataError;

/// What one record holds; every part optional.
#[derive(Deserialize, Default, Debug, Clone, Copy, PartialEq)]
#[serde(default)]
pub struct Record<'a> {
    pub autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    pub autonomous_system_organization: Option<&'a str>,
    #[serde(borrow)]
    pub country_code: Option<&'a str>,
    #[serde(borrow)]
    pub country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    pub city: Option<Name<'a>>,
    pub latitude: Option<Coord>,
    pub longitude: Option<Coord>,
    pub location: Option<Location>,
}

impl<'a> Record<'a> {
    pub fn country(&self) -> Option<&'a str> {
        self.country_code.or(self.country.and_then(|c| c.iso_code)).filter(|c| !c.is_empty())
    }

    pub fn city(&self) -> Option<&'a str> {
        self.city.and_then(|c| c.0).filter(|c| !c.is_empty())
    }

    pub fn lat_lon(&self) -> (Option<f64>, Option<f64>) {
        let (lat, lon) = match self.location {
            Some(l) => (l.latitude, l.longitude),
            None => (self.latitude, self.longitude),
        };
        (lat.map(|c| c.0), lon.map(|c| c.0))
    }
}

#[derive(Deserialize, Default, Debug, Clone, Copy, PartialEq)]
#[serde(default)]
pub struct IsoCode<'a> {
    #[serde(borrow)]
    pub iso_code: Option<&'a str>,
}

#[derive(Deserialize, Default, Debug, Clone, Copy, PartialEq)]
#[serde(default)]
pub struct Location {
    pub latitude: Option<Coord>,
    pub longitude: Option<Coord>,
}

/// A coordinate stored as a double (MaxMind) or a float (ip-location-db).
#[derive(Default, Debug, Clone, Copy, PartialEq)]
pub struct Coord(pub f64);

impl<'de> Deserialize<'de> for Coord {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Coord;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Coord, E> {
                Ok(Coord(v))
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Coord, E> {
                // Through the shortest decimal form, so 52.52f32 reads as 52.52, not 52.52000045776367.
                Ok(Coord(v.to_string().parse().unwrap_or(f64::from(v))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Coord, E> {
                Ok(Coord(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Coord, E> {
                Ok(Coord(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A name given either as a string or as MaxMind's `{"names": {"en": ...}}`.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
pub struct Name<'a>(pub Option<&'a str>);

impl<'de: 'a, 'a> Deserialize<'de> for Name<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a name or a map with names.en")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Some(v)))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Name(None))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut out = Name(None);
                while let Some(k) = m.next_key::<&'de str>()? {
                    if k == "names" {
                        out = m.next_value::<Names<'de>>()?.into();
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

impl<'a> From<Names<'a>> for Name<'a> {
    fn from(n: Names<'a>) -> Self {
        Name(n.en)
    }
}

/// An opened database and what its records carry.
pub struct Mmdb {
    reader: Reader<Vec<u8>>,
    size: usize,
    pub has_asn: bool,
    pub has_geo: bool,
    pub has_city: bool,
}

impl fmt::Debug for Mmdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mmdb({:?}, {} bytes)", self.database_type(), self.size())
    }
}

/// Addresses whose records tell what a database holds (every real database covers some).
const PROBES: &[&str] = &["8.8.8.8", "1.1.1.1", "9.9.9.9", "2001:4860:4860::8888", "81.2.69.142", "2.125.160.216"];

/// Walks every network of the search tree and decodes each distinct record once, as lookups do:
/// a damaged tree or data section otherwise loads, and every lookup that reaches the damage
/// fails, which rows would show as nulls. (`Reader::verify` checks the same, but also refuses
/// metadata that published databases often lack, such as an empty description.) Distinct
/// records are told apart by their offset in a bit set of one bit per byte of the file.
fn check_every_record(reader: &Reader<Vec<u8>>, size: usize) -> Result<(), maxminddb::MaxMindDbError> {
    let mut seen = vec![0u64; size / 64 + 1];
    // A tree of N nodes has at most 2N leaves; more means a cycle.
    let limit = (reader.metadata().node_count as usize).saturating_mul(3);
    for (n, network) in reader.networks(maxminddb::WithinOptions::default())?.enumerate() {
        if n > limit {
            return Err(maxminddb::MaxMindDbError::invalid_database("the search tree has a cycle"));
        }
        let network = network?;
        let Some(offset) = network.offset() else { continue };
        let (word, bit) = (offset / 64, 1u64 << (offset % 64));
        match seen.get_mut(word) {
            Some(w) if *w & bit != 0 => continue,
            Some(w) => *w |= bit,
            None => return Err(maxminddb::MaxMindDbError::invalid_database("a record lies past the end of the file")),
        }
        network.decode::<Record<'_>>()?;
    }
    Ok(())
}

impl Mmdb {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DataError> {
        let size = bytes.len();
        let reader = Reader::from_source(bytes).map_err(|e| DataError::Mmdb(e.to_string()))?;
        check_every_record(&reader, size).map_err(|e| DataError::Mmdb(format!("damaged: {e}")))?;
        let mut db = Mmdb { reader, size, has_asn: false, has_geo: false, has_city: false };
        let (mut asn, mut geo, mut city) = (false, false, false);
        for p in PROBES {
            if let Some(r) = db.lookup(p.parse().expect("probe address"))? {
                asn |= r.autonomous_system_number.is_some();
                geo |= r.country().is_some();
                city |= r.city.is_some();
            }
        }
        (db.has_asn, db.has_geo, db.has_city) = (asn, geo, city);
        // A database without data for any probe: trust its declared type.
        let ty = db.database_type().to_ascii_lowercase();
        db.has_asn |= ty.contains("asn");
        db.has_geo |= ty.contains("country") || ty.contains("city");
        db.has_city |= ty.contains("city");
        Ok(db)
    }

    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    pub fn reader(&self) -> &Reader<Vec<u8>> {
        &self.reader
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The record for `ip`; `Ok(None)` when the database has none or does not cover the
    /// address family. An error means a corrupt record.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<Record<'_>>, DataError> {
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return Ok(None);
        }
        let found = self.reader.lookup(ip).map_err(|e| DataError::Mmdb(e.to_string()))?;
        found.decode::<Record<'_>>().map_err(|e| DataError::Mmdb(e.to_string()))
    }
}
