//! ip-location-db's CSV range files, from bytes: `start,end,asn,org` (ASN) and
//! `start,end,country` (country). Openly licensed ASN data is published in this form only.
use core::net::IpAddr;
use std::borrow::Cow;

use super::DataError;
use super::ranges::{IpRanges, RangeTable};
use super::records::{AsnRec, FastMap, Lists};

/// ASN and organisation per range; organisation names are stored once each.
#[derive(Debug, Default)]
pub struct AsnTable {
    ranges: IpRanges<(u32, u32)>,
    orgs: Vec<Box<str>>,
}

impl AsnTable {
    pub fn from_csv(bytes: &[u8]) -> Result<Self, DataError> {
        let mut index: FastMap<Box<str>, u32> = FastMap::default();
        let mut orgs: Vec<Box<str>> = Vec::new();
        let (v4, v6) = parse(bytes, 4, |f| {
            let asn: u32 = f[2].parse().map_err(|_| format!("ASN {:?} is not a number", f[2]))?;
            let org = match index.get(&*f[3]) {
                Some(&i) => i,
                None => {
                    let i = orgs.len() as u32;
                    orgs.push(f[3].clone().into());
                    index.insert(f[3].clone().into(), i);
                    i
                }
            };
            Ok((asn, org))
        })?;
        Ok(AsnTable { ranges: IpRanges { v4, v6 }, orgs })
    }

    /// ASN and organisation (`None` when the file leaves it empty).
    pub fn get(&self, ip: IpAddr) -> Option<(u32, Option<&str>)> {
        let (asn, org) = self.ranges.get(ip)?;
        let org = &self.orgs[org as usize];
        Some((asn, (!org.is_empty()).then_some(&**org)))
    }

    /// The distinct (ASN, organisation) pairs and the ranges naming them, for the merged index
    /// (IPv4-mapped IPv6 addresses answer as their IPv4 address).
    pub(super) fn into_lists(self) -> (Vec<AsnRec>, Lists) {
        let mut numbers: FastMap<(u32, u32), u32> = FastMap::default();
        let mut records = Vec::new();
        let mut number = |(asn, org): (u32, u32)| {
            *numbers.entry((asn, org)).or_insert_with(|| {
                let name = &self.orgs[org as usize];
                records.push(AsnRec { asn, org: (!name.is_empty()).then(|| name.clone()) });
                (records.len() - 1) as u32
            })
        };
        let v4: Vec<(u32, u32, u32)> = self.ranges.v4.runs().map(|(s, e, v)| (s, e, number(v))).collect();
        let v6 = self.ranges.v6.runs().map(|(s, e, v)| (s, e, number(v))).collect();
        (records, Lists { mapped: v4.clone(), v4, v6 })
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.ranges.heap_bytes() + self.orgs.iter().map(|o| o.len() + 16).sum::<usize>()
    }
}

/// ISO 3166 alpha-2 country per range.
#[derive(Debug, Default)]
pub struct CountryTable {
    ranges: IpRanges<u16>,
    codes: Vec<Box<str>>,
}

impl CountryTable {
    pub fn from_csv(bytes: &[u8]) -> Result<Self, DataError> {
        let mut codes: Vec<Box<str>> = Vec::new();
        let (v4, v6) = parse(bytes, 3, |f| {
            let code = &*f[2];
            if !(code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic())) {
                return Err(format!("country {code:?} is not an ISO 3166 alpha-2 code"));
            }
            Ok(match codes.iter().position(|c| &**c == code) {
                Some(i) => i as u16,
                None => {
                    codes.push(code.to_ascii_uppercase().into_boxed_str());
                    (codes.len() - 1) as u16
                }
            })
        })?;
        Ok(CountryTable { ranges: IpRanges { v4, v6 }, codes })
    }

    pub fn get(&self, ip: IpAddr) -> Option<&str> {
        self.ranges.get(ip).map(|i| &*self.codes[i as usize])
    }

    /// The codes and the ranges naming them, for the merged index.
    pub(super) fn into_lists(self) -> (Vec<Box<str>>, Lists) {
        let v4: Vec<(u32, u32, u32)> = self.ranges.v4.runs().map(|(s, e, v)| (s, e, u32::from(v))).collect();
        let v6 = self.ranges.v6.runs().map(|(s, e, v)| (s, e, u32::from(v))).collect();
        (self.codes, Lists { mapped: v4.clone(), v4, v6 })
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.ranges.heap_bytes()
    }
}

/// How many columns the first data line of a CSV range file has (3: country, 4: ASN).
pub fn columns(bytes: &[u8]) -> Option<usize> {
    let head = &bytes[..bytes.len().min(4096)];
    // The cut may fall inside a character: check only what is whole.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
        Err(_) => return None,
    };
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let mut fields = Vec::new();
    split(line, &mut fields).ok().map(|()| fields.len())
}

type Tables<V> = (RangeTable<u32, V>, RangeTable<u128, V>);

fn parse<V: Copy>(
    bytes: &[u8],
    width: usize,
    mut value: impl FnMut(&[Cow<'_, str>]) -> Result<V, String>,
) -> Result<Tables<V>, DataError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::Csv { line: 0, reason: format!("not UTF-8: {e}") })?;
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let mut f = Vec::with_capacity(width);
    for (n, line) in text.lines().enumerate() {
        let fail = |reason: String| DataError::Csv { line: n + 1, reason };
        if line.trim().is_empty() {
            continue;
        }
        split(line, &mut f).map_err(fail)?;
        if f.len() != width {
            return Err(fail(format!("{} columns, expected {width}", f.len())));
        }
        let (start, end) = (addr(&f[0]).map_err(fail)?, addr(&f[1]).map_err(fail)?);
        let v = value(&f).map_err(fail)?;
        match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => v4.push((u32::from(s), u32::from(e), v)),
            (IpAddr::V6(s), IpAddr::V6(e)) => v6.push((u128::from(s), u128::from(e), v)),
            _ => return Err(fail("start and end are of different address families".into())),
        }
    }
    if v4.is_empty() && v6.is_empty() {
        return Err(DataError::Csv { line: 0, reason: "no ranges".into() });
    }
    let overlap = |what: &str, s: String, e: String| DataError::Csv {
        line: 0,
        reason: format!("{what} range {s}-{e} ends before it starts"),
    };
    let t4 = RangeTable::from_ranges(v4).map_err(|(s, e)| {
        overlap("IPv4", core::net::Ipv4Addr::from(s).to_string(), core::net::Ipv4Addr::from(e).to_string())
    })?;
    let t6 = RangeTable::from_ranges(v6).map_err(|(s, e)| {
        overlap("IPv6", core::net::Ipv6Addr::from(s).to_string(), core::net::Ipv6Addr::from(e).to_string())
    })?;
    Ok((t4, t6))
}

/// An address as `IpAddr::from_str` reads it, or (ip-location-db's `-num` files) as a number.
fn addr(s: &str) -> Result<IpAddr, String> {
    s.parse::<IpAddr>().map_err(|_| format!("{s:?} is not an IP address"))
}

/// Splits one RFC 4180 line (quoted fields with `""` escapes) into `out`, borrowing every field
/// without escapes: half a million lines load without an allocation each.
fn split<'a>(line: &'a str, out: &mut Vec<Cow<'a, str>>) -> Result<(), String> {
    out.clear();
    let line = line.trim_end_matches('\r');
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            // Most quoted fields hold a comma and no escaped quote: borrowed as well.
            if let Some(q) = quoted.find('"') {
                let after = &quoted[q + 1..];
                if after.is_empty() || after.starts_with(',') {
                    out.push(Cow::Borrowed(&quoted[..q]));
                    match after.strip_prefix(',') {
                        Some(next) => {
                            rest = next;
                            continue;
                        }
                        None => return Ok(()),
                    }
                }
            }
            let mut value = String::new();
            let mut tail = quoted;
            loop {
                let Some(q) = tail.find('"') else { return Err("unterminated quoted field".into()) };
                value.push_str(&tail[..q]);
                tail = &tail[q + 1..];
                match tail.strip_prefix('"') {
                    Some(after) => {
                        value.push('"');
                        tail = after;
                    }
                    None => break,
                }
            }
            // Text after the closing quote belongs to the field, as the reader always kept it.
            let cut = tail.find(',').unwrap_or(tail.len());
            if cut > 0 {
                value.push_str(&tail[..cut]);
            }
            out.push(Cow::Owned(value));
            if cut == tail.len() {
                return Ok(());
            }
            rest = &tail[cut + 1..];
        } else {
            match rest.find(',') {
                Some(c) => {
                    out.push(Cow::Borrowed(&rest[..c]));
                    rest = &rest[c + 1..];
                }
                None => {
                    out.push(Cow::Borrowed(rest));
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASN: &str = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n8.8.8.0,8.8.8.255,15169,Google LLC\n\
                       2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n9.9.9.0,9.9.9.255,19281,\n";

    #[test]
    fn asn_rows_with_quotes_shared_orgs_and_both_families() {
        let t = AsnTable::from_csv(ASN.as_bytes()).unwrap();
        assert_eq!(t.get("1.0.0.1".parse().unwrap()), Some((13335, Some("Cloudflare, Inc."))));
        assert_eq!(t.get("8.8.8.8".parse().unwrap()), Some((15169, Some("Google LLC"))));
        assert_eq!(t.get("2001:4860:4860::8888".parse().unwrap()), Some((15169, Some("Google LLC"))));
        assert_eq!(t.get("9.9.9.9".parse().unwrap()), Some((19281, None)));
        assert_eq!(t.get("8.8.9.1".parse().unwrap()), None);
        assert_eq!(t.orgs.len(), 3, "Google LLC is stored once");
    }

    #[test]
    fn country_rows() {
        let t = CountryTable::from_csv(b"1.0.0.0,1.0.0.255,AU\n2.0.0.0,2.0.0.255,fr\n").unwrap();
        assert_eq!(t.get("2.0.0.9".parse().unwrap()), Some("FR"));
        assert_eq!(columns(b"1.0.0.0,1.0.0.255,AU\n"), Some(3));
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = AsnTable::from_csv(b"1.0.0.0,1.0.0.255,13335,x\n1.0.1.0,nope,1,y\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("nope"), "{e}");
        let e = AsnTable::from_csv(b"1.0.0.0,1.0.0.255,AU\n").unwrap_err().to_string();
        assert!(e.contains("3 columns, expected 4"), "{e}");
        let e = CountryTable::from_csv(b"1.0.0.0,1.0.0.255,AU\n1.0.1.0,1.0.0.9,FR\n").unwrap_err().to_string();
        assert!(e.contains("ends before it starts"), "{e}");
        assert!(AsnTable::from_csv(b"").is_err());
        assert!(AsnTable::from_csv(b"\x00\xff").is_err());
    }
}
