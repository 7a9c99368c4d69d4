//! The collector's segments, buffer sizes and dropped incomplete records, with Community IDs on.
use super::*;
use crate::domain::enrich::Enricher;
use crate::domain::enrich::community_id::community_id;
use crate::domain::flatten::RangeFlattener;
use crate::domain::ids::RowIds;

const NSG: &str = include_str!("../../../samples/nsg_v2.json");

/// With Community IDs, which wait for a batch of hashes: every cut and drop fills them first.
fn collect(limit: Option<usize>, data: &[u8]) -> Collector {
    let ids = std::sync::Arc::new(Enricher::new(vec![], vec![], None, true, false).expect("no files"));
    let mut c = Collector::new(1024, "now".into(), limit, 1 << 20, EnrichWriter::new(ids));
    RangeFlattener::new(RowIds::new("b"), 0).push(data, false, &mut c);
    c
}

#[test]
fn segments_are_whole_lines_within_the_limit_and_add_up_to_one_buffer() {
    let whole = collect(None, NSG.as_bytes()).take_segments();
    let cut = collect(Some(2000), NSG.as_bytes()).take_segments();
    assert_eq!(whole.len(), 1);
    assert!(cut.len() >= 3, "{} segments", cut.len());
    assert!(cut.iter().all(|s| s.len() <= 2000 && s.ends_with(b"\n")));
    assert_eq!(whole.concat(), cut.concat());
    for row in cut.concat().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let r: serde_json::Value = serde_json::from_slice(row).unwrap();
        let (ip, n) = (|k: &str| r[k].as_str().unwrap().parse().unwrap(), |k: &str| r[k].as_u64().unwrap());
        let id = community_id(
            ip("src_ip"),
            ip("dst_ip"),
            n("protocol_number") as u8,
            n("src_port") as u16,
            n("dst_port") as u16,
        );
        assert_eq!(r["community_id"], std::str::from_utf8(&id).unwrap(), "{r}");
    }
}

#[test]
fn a_small_read_gets_a_small_buffer_and_a_flush_never_outgrows_its_own() {
    // Each read had a whole flush's buffer (4 MiB) and its slices overshot it into 8 MiB:
    // hundreds of quiet blobs at once made a gzip drain peak near 500 MiB.
    let flush = 4 << 20;
    let mut quiet = Collector::new(1024, "now".into(), None, flush, EnrichWriter::default());
    quiet.reserve(NSG.len() as u64);
    assert!(quiet.enc.capacity() <= NSG.len() * ROWS_PER_INPUT_BYTE + 64 * 1024);
    let mut busy = Collector::new(1024, "now".into(), None, flush, EnrichWriter::default());
    let capacity = busy.capacity;
    let records: String = std::iter::repeat_n(NSG, 400).collect::<Vec<_>>().join("");
    let mut flattener = RangeFlattener::new(RowIds::new("b"), 0);
    for piece in records.as_bytes().chunks(feed_slice(flush)) {
        busy.reserve(records.len() as u64);
        flattener.push(piece, false, &mut busy);
        assert!(busy.enc.capacity() <= capacity, "{} > {capacity}", busy.enc.capacity());
        if busy.buffered_bytes() >= flush {
            assert!(!busy.take_segments().is_empty());
            assert_eq!(busy.enc.capacity(), 0, "the next buffer is sized when rows come");
        }
    }
}

#[test]
fn an_incomplete_record_is_dropped_even_across_segments() {
    // The first record whole, the second cut after its first tuple.
    let end = NSG.find("1542110460").unwrap();
    let complete = collect(None, &NSG.as_bytes()[..NSG.find("\n,{").unwrap()]).take_segments().concat();
    for limit in [None, Some(700), Some(2000)] {
        let mut c = collect(limit, &NSG.as_bytes()[..end]);
        assert_eq!(c.buffered_rows(), 5);
        c.drop_incomplete();
        assert_eq!(c.buffered_rows(), 4);
        assert_eq!(c.take_segments().concat(), complete, "limit {limit:?}");
    }
}
