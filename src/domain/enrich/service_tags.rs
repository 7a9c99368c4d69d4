//! Azure service tags (`ServiceTags_Public_*.json`, published weekly by Microsoft): the service
//! and region of an address in Azure's ranges, most specific prefix first.
use core::net::IpAddr;

use serde::Deserialize;

use super::DataError;
use super::ranges::{IpRanges, RangeTable};
use super::records::Lists;

#[derive(Deserialize)]
struct File {
    values: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
    properties: Properties,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(default)]
    region: String,
    #[serde(rename = "addressPrefixes", default)]
    address_prefixes: Vec<String>,
}

/// The service (the tag name without its region suffix: `Storage`, `AzureCloud`) and region
/// (`westeurope`, `None` for global tags) of a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub service: Box<str>,
    pub region: Option<Box<str>>,
}

#[derive(Debug, Default)]
pub struct ServiceTags {
    ranges: IpRanges<u32>,
    entries: Vec<Entry>,
}

impl ServiceTags {
    pub fn from_json(bytes: &[u8]) -> Result<Self, DataError> {
        let file: File = serde_json::from_slice(bytes).map_err(|e| DataError::Json(e.to_string()))?;
        // (prefix length, rank, entry index, network, last address) per prefix.
        let mut v4: Vec<(u32, u8, u32, u32, u32)> = Vec::new();
        let mut v6: Vec<(u32, u8, u32, u128, u128)> = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        for tag in &file.values {
            let service = tag.name.split('.').next().unwrap_or(&tag.name);
            let region = tag.properties.region.trim();
            let entry = Entry {
                service: service.into(),
                region: (!region.is_empty()).then(|| region.to_ascii_lowercase().into_boxed_str()),
            };
            // On equal prefixes a specific service beats the AzureCloud catch-all, and a
            // regional tag beats its global parent.
            let rank = u8::from(service != "AzureCloud") * 2 + u8::from(entry.region.is_some());
            let idx = match entries.iter().position(|e| *e == entry) {
                Some(i) => i as u32,
                None => {
                    entries.push(entry);
                    (entries.len() - 1) as u32
                }
            };
            for p in &tag.properties.address_prefixes {
                let bad = || DataError::Json(format!("tag {}: {p:?} is not an address prefix", tag.name));
                let (addr, len) = p.split_once('/').ok_or_else(bad)?;
                let len: u32 = len.parse().map_err(|_| bad())?;
                match addr.parse::<IpAddr>().map_err(|_| bad())? {
                    IpAddr::V4(a) if len <= 32 => {
                        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                        let net = u32::from(a) & mask;
                        v4.push((len, rank, idx, net, net | !mask));
                    }
                    IpAddr::V6(a) if len <= 128 => {
                        let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
                        let net = u128::from(a) & mask;
                        v6.push((len, rank, idx, net, net | !mask));
                    }
                    _ => return Err(bad()),
                }
            }
        }
        if v4.is_empty() && v6.is_empty() {
            return Err(DataError::Json("no address prefixes in any tag".into()));
        }
        // Least specific first, so the painting leaves the most specific on top.
        v4.sort_unstable_by_key(|p| (p.0, p.1, p.2));
        v6.sort_unstable_by_key(|p| (p.0, p.1, p.2));
        let ranges = IpRanges {
            v4: RangeTable::painted(v4.into_iter().map(|(_, _, i, s, e)| (s, e, i))),
            v6: RangeTable::painted(v6.into_iter().map(|(_, _, i, s, e)| (s, e, i))),
        };
        Ok(ServiceTags { ranges, entries })
    }

    pub(super) fn entry_count(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn entry(&self, i: u32) -> &Entry {
        &self.entries[i as usize]
    }

    /// The ranges naming entries, for the merged index.
    pub(super) fn lists(&self) -> Lists {
        let v4: Vec<(u32, u32, u32)> = self.ranges.v4.runs().collect();
        Lists { mapped: v4.clone(), v4, v6: self.ranges.v6.runs().collect() }
    }

    pub fn get(&self, ip: IpAddr) -> Option<&Entry> {
        self.ranges.get(ip).map(|i| &self.entries[i as usize])
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        self.ranges.heap_bytes() + self.entries.len() * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAGS: &str = r#"{"changeNumber": 1, "cloud": "Public", "values": [
      {"name": "AzureCloud", "id": "AzureCloud", "properties": {"region": "", "addressPrefixes": ["20.0.0.0/11", "2603:1000::/24"]}},
      {"name": "AzureCloud.westeurope", "id": "AzureCloud.westeurope", "properties": {"region": "westeurope", "addressPrefixes": ["20.0.0.0/14"]}},
      {"name": "Storage", "id": "Storage", "properties": {"region": "", "addressPrefixes": ["20.1.0.0/16"]}},
      {"name": "Storage.WestEurope", "id": "Storage.WestEurope", "properties": {"region": "westeurope", "addressPrefixes": ["20.1.0.0/16", "2603:1020:1::/48"]}}
    ]}"#;

    fn at(t: &ServiceTags, ip: &str) -> Option<(String, Option<String>)> {
        t.get(ip.parse().unwrap()).map(|e| (e.service.to_string(), e.region.as_deref().map(str::to_string)))
    }

    #[test]
    fn most_specific_prefix_then_most_specific_tag_wins() {
        let t = ServiceTags::from_json(TAGS.as_bytes()).unwrap();
        let we = Some("westeurope".to_string());
        assert_eq!(at(&t, "20.1.2.3"), Some(("Storage".into(), we.clone())));
        assert_eq!(at(&t, "20.2.0.1"), Some(("AzureCloud".into(), we.clone())));
        assert_eq!(at(&t, "20.16.0.1"), Some(("AzureCloud".into(), None)));
        assert_eq!(at(&t, "20.32.0.1"), None);
        assert_eq!(at(&t, "2603:1020:1::5"), Some(("Storage".into(), we)));
        assert_eq!(at(&t, "2603:10ff::1"), Some(("AzureCloud".into(), None)));
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(ServiceTags::from_json(b"{").is_err());
        assert!(ServiceTags::from_json(br#"{"values": []}"#).is_err());
        let bad = r#"{"values": [{"name": "X", "properties": {"addressPrefixes": ["1.2.3.4/40"]}}]}"#;
        assert!(ServiceTags::from_json(bad.as_bytes()).unwrap_err().to_string().contains("1.2.3.4/40"));
    }
}
