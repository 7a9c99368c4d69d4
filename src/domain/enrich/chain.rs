//! Lookups file by file, for a setting with a `.mmdb` too large to turn into ranges (a city
//! database): the file is searched by its tree, the others of the setting by an index of their
//! own, in order, the first with an answer winning.
use core::net::IpAddr;

use super::index::Index;
use super::mmdb::Mmdb;
use super::{DataFile, IpInfo};

/// One file of a setting looked up file by file.
#[derive(Debug)]
pub(super) enum Source {
    Tree(Mmdb),
    Index(Index),
}

impl Source {
    pub(super) fn memory(&self) -> usize {
        match self {
            Source::Tree(m) => m.size(),
            Source::Index(i) => i.heap_bytes(),
        }
    }
}

/// The files of a setting as [`Source`]s, when one of them is a `.mmdb` kept whole.
pub(super) fn chain(files: Vec<DataFile>, asn: bool) -> (Vec<DataFile>, Option<Vec<Source>>) {
    if !files.iter().any(|f| matches!(f, DataFile::MmdbTree(_))) {
        return (files, None);
    }
    let one = |f: DataFile| match f {
        DataFile::MmdbTree(m) => Source::Tree(m),
        f if asn => Source::Index(Index::new(vec![f], vec![], None, (true, false, false))),
        f => Source::Index(Index::new(vec![], vec![f], None, (false, true, false))),
    };
    (vec![], Some(files.into_iter().map(one).collect()))
}

/// The ASN and organisation of the first file that knows `ip`.
pub(super) fn fill_asn<'a>(chain: &'a [Source], ip: IpAddr, info: &mut IpInfo<'a>) {
    let class = info.class;
    for s in chain {
        let hit = match s {
            Source::Tree(m) => m.lookup(ip).ok().flatten().and_then(|r| {
                r.autonomous_system_number.map(|n| (n, r.autonomous_system_organization.filter(|o| !o.is_empty())))
            }),
            Source::Index(x) => {
                let mut i = IpInfo::bare(class);
                x.fill(x.get(ip), &mut i);
                i.asn.map(|n| (n, i.as_org))
            }
        };
        if let Some((asn, org)) = hit {
            (info.asn, info.as_org) = (Some(asn), org);
            break;
        }
    }
}

/// The geography of the first file that knows `ip`.
pub(super) fn fill_geo<'a>(chain: &'a [Source], ip: IpAddr, info: &mut IpInfo<'a>) {
    let class = info.class;
    for s in chain {
        let hit = match s {
            Source::Tree(m) => m.lookup(ip).ok().flatten().filter(|r| r.country().is_some()).map(|r| {
                let (lat, lon) = r.lat_lon();
                (r.country(), r.city(), lat, lon)
            }),
            Source::Index(x) => {
                let mut i = IpInfo::bare(class);
                x.fill(x.get(ip), &mut i);
                i.country.is_some().then_some((i.country, i.city, i.lat, i.lon))
            }
        };
        if let Some(g) = hit {
            (info.country, info.city, info.lat, info.lon) = g;
            break;
        }
    }
}
