//! Records read twice: a record whose header fields come after its tuples is, for a caller that
//! can read its bytes again, counted on the first read and flattened on the second, with exactly
//! the rows (ids, ordinals, values, errors) one read that kept its tuples gives.
use super::*;
use crate::domain::flatten::RangeFlattener;
use crate::domain::format::error::RecordError;
use crate::domain::format::stream::MAX_STRING;
use crate::domain::row::ndjson::NdjsonEncoder;

const HEAD: &str = r#""time":"2018-11-13T12:00:35Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/X""#;
const VNET_HEAD: &str = r#""time":"2022-09-14T09:00:52.5625085Z","macAddress":"112233445566","flowLogResourceID":"/SUBSCRIPTIONS/S2/RESOURCEGROUPS/NW/X","targetResourceID":"/subscriptions/S2/resourceGroups/rg2/v","flowLogVersion":4"#;

fn tuple(i: usize) -> String {
    // Every 97th is bad, so errors and their ordinals are compared too.
    if i % 97 == 5 {
        return format!("\"1542110402,bad,{i}\"");
    }
    format!("\"{},192.0.2.{},10.0.0.4,{},443,T,I,A,C,{i},2,3,4\"", 1_542_110_400 + i, i % 250, 1000 + i % 5000)
}

fn tuples(from: usize, n: usize) -> String {
    (from..from + n).map(tuple).collect::<Vec<_>>().join(",")
}

/// An NSG v2 record of `groups` rules of one MAC entry each, `per` tuples a group. `head_last`:
/// `time` and `resourceId` after `properties`; `values_last`: rule, MAC and `Version` after the
/// tuples, as `jq -S` orders them; `from_group`: values of groups before it come first anyway.
fn nsg(groups: usize, per: usize, head_last: bool, values_last: bool, from_group: usize) -> String {
    let rules: Vec<String> = (0..groups)
        .map(|g| {
            let t = tuples(g * per, per);
            if values_last && g >= from_group {
                format!(r#"{{"flows":[{{"flowTuples":[{t}],"mac":"M{g}"}}],"rule":"r{g}"}}"#)
            } else {
                format!(r#"{{"rule":"r{g}","flows":[{{"mac":"M{g}","flowTuples":[{t}]}}]}}"#)
            }
        })
        .collect();
    let props = if values_last {
        format!(r#""properties":{{"flows":[{}],"Version":2}}"#, rules.join(","))
    } else {
        format!(r#""properties":{{"Version":2,"flows":[{}]}}"#, rules.join(","))
    };
    if head_last { format!("{{{props},{HEAD}}}") } else { format!("{{{HEAD},{props}}}") }
}

fn vnet(head_last: bool) -> String {
    let body = r#""flowRecords":{"flows":[{"flowGroups":[{"flowTuples":["1663146003000,10.0.0.6,2001:db8::1,1,443,6,O,E,NX,1,2,3,4","x"],"rule":"r0"}],"aclID":"acl"}]}"#;
    if head_last { format!("{{{body},{VNET_HEAD}}}") } else { format!("{{{VNET_HEAD},{body}}}") }
}

fn blob(records: &[String]) -> Vec<u8> {
    format!("{{\"records\":[{}]}}", records.join(",\n")).into_bytes()
}

/// NDJSON rows, errors in order, and the totals, for `blob` fed in `chunk`-byte pieces from
/// `start`, reading records again when `again`.
fn flatten(blob: &[u8], start: usize, chunk: usize, again: bool, skip: u32) -> (String, Vec<String>, Progress) {
    let mut f = RangeFlattener::new(RowIds::new("b"), start as u64).skip_delivered(skip);
    if again {
        f = f.with_rereads();
    }
    let mut v = Seen::default();
    for piece in blob[start..].chunks(chunk) {
        f.push_all(blob, piece, false, &mut v);
    }
    (String::from_utf8(v.enc.into_out()).unwrap(), v.errors, f.total())
}

#[derive(Default)]
struct Seen {
    enc: NdjsonEncoder,
    errors: Vec<String>,
}

impl RowVisitor for Seen {
    fn record(&mut self, r: &crate::domain::format::RecordCtx<'_>) {
        self.enc.record(r);
    }
    fn group(&mut self, r: &crate::domain::format::RecordCtx<'_>, g: &crate::domain::format::GroupCtx<'_>) {
        self.enc.group(r, g);
    }
    fn row(
        &mut self,
        r: &crate::domain::format::RecordCtx<'_>,
        g: &crate::domain::format::GroupCtx<'_>,
        t: &crate::domain::format::Tuple<'_>,
    ) {
        self.enc.row(r, g, t);
    }
    fn tuple_error(&mut self, e: crate::domain::format::TupleError) {
        self.errors.push(format!("{e}"));
    }
    fn record_error(&mut self, e: RecordError) {
        self.errors.push(format!("{e}"));
    }
}

fn shapes() -> Vec<String> {
    vec![
        nsg(3, 40, false, false, 0),
        nsg(3, 40, true, false, 0),
        nsg(3, 40, true, true, 0),
        // The first group streams (everything it needs comes first), the rest wait.
        nsg(4, 30, false, true, 2),
        vnet(true),
        vnet(false),
    ]
}

#[test]
fn reading_a_record_again_gives_the_rows_of_one_read_that_kept_it() {
    let mut records = shapes();
    records.insert(3, r#"{"time":"2018-11-13T12:00:35Z","properties":{"Version":9,"flows":[]}}"#.into());
    let blob = blob(&records);
    let (kept, kept_errors, kept_total) = flatten(&blob, 0, blob.len(), false, 0);
    assert_eq!((kept_total.records, kept_total.record_errors), (6, 1));
    assert_eq!(kept.lines().count() as u64, kept_total.rows);
    assert!(kept_errors.len() > 5, "bad tuples and a bad record: {kept_errors:?}");
    for chunk in [1, 7, 64, 4096, blob.len()] {
        let (rows, errors, total) = flatten(&blob, 0, chunk, true, 0);
        assert_eq!(rows, kept, "rows, {chunk}-byte chunks");
        assert_eq!(errors, kept_errors, "errors, {chunk}-byte chunks");
        assert_eq!((total.records, total.rows, total.record_errors), (6, kept_total.rows, 1));
        assert_eq!(total.consumed, kept_total.consumed);
    }
}

#[test]
fn header_first_and_header_last_records_give_the_same_rows() {
    for (first, last) in [(nsg(3, 40, false, false, 0), nsg(3, 40, true, true, 0)), (vnet(false), vnet(true))] {
        // Same lengths, so the same offsets and ids.
        assert_eq!(first.len(), last.len());
        let (a, b) = (blob(&[first.clone(), first.clone()]), blob(&[last.clone(), last]));
        for chunk in [5, 300, a.len()] {
            let first_rows = flatten(&a, 0, chunk, true, 0);
            let last_rows = flatten(&b, 0, chunk, true, 0);
            assert!(!first_rows.0.is_empty());
            assert_eq!((first_rows.0, first_rows.1), (last_rows.0, last_rows.1));
        }
    }
}

#[test]
fn a_header_last_record_read_again_keeps_no_tuples() {
    // 1 MiB of tuples in one group, header fields (and the group's values) after them.
    let record = nsg(1, 20_000, true, true, 0);
    assert!(record.len() > 1 << 20);
    let blob = blob(&[record]);
    let peak = |again: bool| {
        let mut f = RangeFlattener::new(RowIds::new("b"), 0);
        if again {
            f = f.with_rereads();
        }
        let (mut peak, mut rows) = (0, 0);
        for piece in blob.chunks(64 * 1024) {
            let mut rest = piece;
            loop {
                let p = f.push(rest, false, &mut Seen::default());
                rows += p.rows;
                peak = peak.max(f.retained());
                let Some(range) = f.reread_range() else { break };
                for again in blob[range.start as usize..range.end as usize].chunks(64 * 1024) {
                    rows += f.push_reread(again, &mut Seen::default()).rows;
                    peak = peak.max(f.retained());
                }
                rest = &rest[p.taken..];
            }
        }
        (peak, rows)
    };
    let (kept, kept_rows) = peak(false);
    let (again, again_rows) = peak(true);
    assert_eq!(again_rows, kept_rows);
    assert!(kept_rows > 13_000);
    // What one read keeps grows with the record; two reads keep what any record costs, whatever
    // its size: its first bytes for a dead letter and one string cut by a chunk edge.
    assert!(kept > 1 << 20, "one read keeps the tuples: {kept} bytes");
    assert!(again <= RAW_EXCERPT + 2 * MAX_STRING, "two reads keep {again} bytes");
}

#[test]
fn rows_delivered_by_an_earlier_read_are_left_out_of_the_second() {
    let record = nsg(3, 40, true, true, 0);
    let blob = blob(&[record.clone(), record]);
    let (all, _, _) = flatten(&blob, 0, 100, true, 0);
    let at = blob.iter().position(|&b| b == b'{').unwrap() + 1;
    let start = blob[at..].iter().position(|&b| b == b'{').unwrap() + at;
    let (rest, _, _) = flatten(&blob, start, 100, true, 50);
    let all: Vec<&str> = all.lines().collect();
    let rest: Vec<&str> = rest.lines().collect();
    // The first record's rows after its first 50 tuples (one of which is bad), then the second's.
    assert_eq!(rest.len(), all.len() - 49);
    assert_eq!(rest[..], all[49..]);
}

#[test]
fn a_record_whose_bytes_changed_before_the_second_read_is_reported() {
    let record = nsg(2, 10, true, true, 0);
    let blob = blob(&[record.clone(), record]);
    let mut f = RangeFlattener::new(RowIds::new("b"), 0).with_rereads();
    let mut v = Seen::default();
    let p = f.push(&blob, true, &mut v);
    let range = f.reread_range().expect("read again");
    let mut changed = blob[range.start as usize..range.end as usize].to_vec();
    changed[10] = b'!';
    f.push_reread(&changed, &mut v);
    assert_eq!(f.reread_range(), None);
    assert_eq!(f.offset(), range.end, "the offset moves past it");
    assert!(v.errors.iter().any(|e| e.contains("changed between two reads")), "{:?}", v.errors);
    // The next record flattens as usual.
    f.push_all(&blob, &blob[p.taken..], true, &mut v);
    assert_eq!(f.total().records, 1);
    assert_eq!(v.enc.out().iter().filter(|&&b| b == b'\n').count(), 19, "20 tuples, one bad");
}
