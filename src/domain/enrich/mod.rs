//! Enrichment of rows: address classes and flow type (always on), ASN and geography from
//! MaxMind-format or CSV range databases, Azure service tags, Community ID and service names.
//!
//! Everything here is pure: databases are built from bytes the caller loaded, and an
//! [`Enricher`] is immutable, so one `Arc<Enricher>` can be swapped for a newer one between
//! batches while every row sees exactly one version. [`writer::EnrichWriter`] is the per-encoder
//! part with the lookup cache that keeps the hot path free of allocation.
mod addr_cache;
mod addr_fill;
mod addr_key;
mod catalog;
mod chain;
pub mod class;
pub mod community_id;
pub mod csv_ranges;
mod fields;
pub mod flow_type;
mod id_batch;
mod index;
pub mod mmdb;
pub mod mmdb_ranges;
mod partition;
pub mod ranges;
pub mod records;
pub mod service_tags;
pub mod services;
mod sha1_avx512;
mod sha1_lanes;
pub mod writer;

use core::net::IpAddr;
use std::sync::{Arc, LazyLock};

use chain::{Source, chain};
use class::{AddrClass, classify};
use csv_ranges::{AsnTable, CountryTable};
use index::Index;
use mmdb::Mmdb;
use mmdb_ranges::MmdbRanges;
use service_tags::{Entry, ServiceTags};

/// Why a data file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("CSV line {line}: {reason}")]
    Csv { line: usize, reason: String },
    #[error("not a readable MaxMind DB: {0}")]
    Mmdb(String),
    #[error("not a service tags file: {0}")]
    Json(String),
    #[error("{0}")]
    Content(String),
}

/// The largest `.mmdb` turned into ranges at load. A country or ASN database (under 10 MB) is;
/// a city database (60-130 MB) is not: as ranges its half-million records and eight million runs
/// took 270 MiB, and building them over 800 MiB at its peak, against the 130 MiB of the file.
pub const MMDB_INDEX_MAX: usize = 32 << 20;

/// A loaded ASN or geography file, by what it turned out to be. A `.mmdb` is kept as its
/// ranges and distinct records, not its bytes.
#[derive(Debug)]
pub enum DataFile {
    Mmdb(MmdbRanges),
    /// A `.mmdb` over [`MMDB_INDEX_MAX`] bytes, kept whole and searched by its tree.
    MmdbTree(Mmdb),
    AsnCsv(AsnTable),
    CountryCsv(CountryTable),
}

impl DataFile {
    /// Recognises a MaxMind DB by its metadata marker, anything else as a CSV range file.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DataError> {
        const MARKER: &[u8] = b"\xab\xcd\xefMaxMind.com";
        let tail = &bytes[bytes.len().saturating_sub(128 * 1024)..];
        // The first byte is checked on its own: a slice compare per window is a call each.
        if tail.windows(MARKER.len()).any(|w| w[0] == MARKER[0] && w == MARKER) {
            let db = Mmdb::from_bytes(bytes)?;
            if db.size() > MMDB_INDEX_MAX {
                return Ok(DataFile::MmdbTree(db));
            }
            let ranges = MmdbRanges::new(&db).map_err(|e| DataError::Mmdb(format!("damaged: {e}")))?;
            return Ok(DataFile::Mmdb(ranges));
        }
        match csv_ranges::columns(&bytes) {
            Some(4) => AsnTable::from_csv(&bytes).map(DataFile::AsnCsv),
            Some(3) => CountryTable::from_csv(&bytes).map(DataFile::CountryCsv),
            Some(n) => Err(DataError::Content(format!(
                "neither a MaxMind DB nor a CSV range file (start,end,asn,org or start,end,country): {n} columns"
            ))),
            None => Err(DataError::Content("neither a MaxMind DB nor a CSV range file".into())),
        }
    }

    pub fn has_asn(&self) -> bool {
        match self {
            DataFile::Mmdb(m) => m.has_asn,
            DataFile::MmdbTree(m) => m.has_asn,
            DataFile::AsnCsv(_) => true,
            DataFile::CountryCsv(_) => false,
        }
    }

    pub fn has_geo(&self) -> bool {
        match self {
            DataFile::Mmdb(m) => m.has_geo,
            DataFile::MmdbTree(m) => m.has_geo,
            DataFile::AsnCsv(_) => false,
            DataFile::CountryCsv(_) => true,
        }
    }

    /// Bytes of memory the loaded data takes.
    pub fn memory(&self) -> usize {
        match self {
            DataFile::Mmdb(m) => m.heap_bytes(),
            DataFile::MmdbTree(m) => m.size(),
            DataFile::AsnCsv(t) => t.heap_bytes(),
            DataFile::CountryCsv(t) => t.heap_bytes(),
        }
    }
}

/// What is known about one address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IpInfo<'a> {
    pub class: AddrClass,
    pub asn: Option<u32>,
    pub as_org: Option<&'a str>,
    pub country: Option<&'a str>,
    pub city: Option<&'a str>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub azure: Option<&'a Entry>,
}

impl IpInfo<'_> {
    pub(crate) fn bare(class: AddrClass) -> Self {
        IpInfo { class, asn: None, as_org: None, country: None, city: None, lat: None, lon: None, azure: None }
    }
}

/// Which enrichments are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    pub asn: bool,
    pub geo: bool,
    pub service_tags: bool,
    pub community_id: bool,
    pub service_names: bool,
}

impl Settings {
    pub fn enabled(self, s: Setting) -> bool {
        match s {
            Setting::AsnDb => self.asn,
            Setting::GeoDb => self.geo,
            Setting::ServiceTags => self.service_tags,
            Setting::CommunityId => self.community_id,
            Setting::ServiceNames => self.service_names,
        }
    }
}

/// One immutable version of the enrichment data.
#[derive(Debug)]
pub struct Enricher {
    index: Index,
    /// The ASN and geography files, one by one, of a setting with a `.mmdb` kept whole
    /// ([`DataFile::MmdbTree`]); the merged index then leaves that setting out.
    asn_chain: Option<Vec<Source>>,
    geo_chain: Option<Vec<Source>>,
    tags: Option<ServiceTags>,
    settings: Settings,
}

impl Default for Enricher {
    fn default() -> Self {
        Enricher::new(vec![], vec![], None, false, false).expect("no files")
    }
}

static BASIC: LazyLock<Arc<Enricher>> = LazyLock::new(|| Arc::new(Enricher::default()));

impl Enricher {
    /// Address class and flow type only: what every row gets.
    pub fn basic() -> Arc<Enricher> {
        BASIC.clone()
    }

    /// `asn` files must carry ASNs and `geo` files countries; the error says which does not.
    pub fn new(
        asn: Vec<DataFile>,
        geo: Vec<DataFile>,
        tags: Option<ServiceTags>,
        community_id: bool,
        service_names: bool,
    ) -> Result<Self, DataError> {
        if let Some(i) = asn.iter().position(|f| !f.has_asn()) {
            return Err(DataError::Content(format!("asn_db file #{} holds no ASNs (a geography database?)", i + 1)));
        }
        if let Some(i) = geo.iter().position(|f| !f.has_geo()) {
            return Err(DataError::Content(format!("geo_db file #{} holds no countries (an ASN database?)", i + 1)));
        }
        let settings = Settings {
            asn: !asn.is_empty(),
            geo: !geo.is_empty(),
            service_tags: tags.is_some(),
            community_id,
            service_names,
        };
        let ((asn, asn_chain), (geo, geo_chain)) = (chain(asn, true), chain(geo, false));
        let on = (settings.asn && asn_chain.is_none(), settings.geo && geo_chain.is_none(), settings.service_tags);
        let index = Index::new(asn, geo, tags.as_ref(), on);
        Ok(Enricher { index, asn_chain, geo_chain, tags, settings })
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Memory held by the loaded databases, in bytes.
    pub fn memory(&self) -> usize {
        let chains = self.asn_chain.iter().chain(&self.geo_chain).flatten().map(Source::memory).sum::<usize>();
        self.index.heap_bytes() + chains + self.tags.as_ref().map_or(0, ServiceTags::heap_bytes)
    }

    /// Whether a setting is looked up file by file (a `.mmdb` kept whole).
    pub(crate) fn has_chains(&self) -> bool {
        self.asn_chain.is_some() || self.geo_chain.is_some()
    }

    /// Runs of the merged index (IPv4, IPv4-mapped IPv6 when apart, IPv6) and distinct
    /// records (ASN, geography, service tag): what [`Self::memory`] holds.
    pub fn index_counts(&self) -> ([usize; 3], [usize; 3]) {
        self.index.counts()
    }

    /// Class and, for public addresses, what the databases know (lookups borrow).
    pub fn ip_info(&self, ip: IpAddr) -> IpInfo<'_> {
        let class = classify(ip);
        let mut info = IpInfo::bare(class);
        if !class.is_public() {
            return info;
        }
        let c = self.index.get(ip);
        self.index.fill(c, &mut info);
        if let Some(chain) = &self.asn_chain {
            chain::fill_asn(chain, ip, &mut info);
        }
        if let Some(chain) = &self.geo_chain {
            chain::fill_geo(chain, ip, &mut info);
        }
        info.azure = self.index.tags.record(c.tags).and_then(|&i| Some(self.tags.as_ref()?.entry(i)));
        info
    }
}

/// The `[enrich]` settings (and `flowlog flatten` flags) that add fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    AsnDb,
    GeoDb,
    ServiceTags,
    CommunityId,
    ServiceNames,
}

impl Setting {
    pub const ALL: [Setting; 5] =
        [Setting::AsnDb, Setting::GeoDb, Setting::ServiceTags, Setting::CommunityId, Setting::ServiceNames];

    /// The key in `[enrich]`.
    pub fn name(self) -> &'static str {
        match self {
            Setting::AsnDb => "asn_db",
            Setting::GeoDb => "geo_db",
            Setting::ServiceTags => "service_tags",
            Setting::CommunityId => "community_id",
            Setting::ServiceNames => "service_names",
        }
    }
}
