//! Framing edge cases: heads, separators, whitespace, tails, partial and malformed records.
use super::*;
use crate::domain::format::error::RecordError;
use crate::domain::format::{GroupCtx, RecordCtx, Tuple, TupleError};

#[derive(Default)]
struct Collect {
    rows: Vec<(u64, u32)>,
    record_errors: Vec<RecordError>,
    tuple_errors: Vec<TupleError>,
}

impl RowVisitor for Collect {
    fn row(&mut self, r: &RecordCtx<'_>, _g: &GroupCtx<'_>, t: &Tuple<'_>) {
        self.rows.push((r.offset, t.ordinal));
    }
    fn record_error(&mut self, e: RecordError) {
        self.record_errors.push(e);
    }
    fn tuple_error(&mut self, e: TupleError) {
        self.tuple_errors.push(e);
    }
}

const REC1: &str = r#"{"time":"2018-11-13T12:00:35Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/X","properties":{"Version":2,"flows":[{"rule":"r1","flows":[{"mac":"M","flowTuples":["1542110402,192.0.2.1,10.0.0.4,1,443,U,I,D,B,,,,","1542110403,192.0.2.1,10.0.0.4,1,443,T,I,A,E,1,2,3,4"]}]}]}}"#;
const REC2: &str = r#"{"time":"2018-11-13T12:01:35Z","properties":{"Version":1,"flows":[{"rule":"r\"2","flows":[{"mac":"M","flowTuples":["1542110402,192.0.2.1,10.0.0.4,1,443,U,I,D"]}]}]}}"#;

fn run(data: &str, base: u64, is_final: bool) -> (Progress, Collect) {
    let mut c = Collect::default();
    let p = Framer::new(base).push(&RowIds::new("b"), data.as_bytes(), is_final, &mut c);
    (p, c)
}

#[test]
fn whole_blob_with_head_tail_and_whitespace() {
    let blob = format!(" {{ \"records\" :\r\n [\r\n{REC1}\r\n,{REC2}\r\n]}}\n");
    let (p, c) = run(&blob, 0, true);
    let at2 = blob.find(",{").unwrap() as u64 + 1;
    let at1 = blob.find("{\"time").unwrap() as u64;
    assert_eq!(c.rows, vec![(at1, 0), (at1, 1), (at2, 0)]);
    assert_eq!((p.records, p.rows, p.record_errors), (2, 3, 0));
    assert_eq!(p.consumed as u64, at2 + REC2.len() as u64);
    assert!(c.record_errors.is_empty() && c.tuple_errors.is_empty());
}

#[test]
fn resumes_after_an_offset_with_leading_comma() {
    let blob = format!("{{\"records\":[{REC1},{REC2}]}}");
    let first_end = 12 + REC1.len();
    let (p, c) = run(&blob[first_end..blob.len() - 2], first_end as u64, true);
    assert_eq!(c.rows, vec![(first_end as u64 + 1, 0)]);
    assert_eq!(p.consumed, REC2.len() + 1);
}

#[test]
fn partial_head_and_partial_record_wait_for_more() {
    for cut in [1, 5, 11] {
        let (p, c) = run(&"{\"records\":["[..cut], 0, true);
        assert_eq!(p.consumed, 0, "cut {cut}");
        assert!(c.record_errors.is_empty());
    }
    let blob = format!("{{\"records\":[{REC1},{REC2}");
    let (p, c) = run(&blob[..blob.len() - 7], 0, true);
    assert_eq!((p.consumed, p.records), (12 + REC1.len(), 1));
    assert!(c.record_errors.is_empty(), "a partial record is not an error");
}

#[test]
fn malformed_record_is_reported_with_its_extent_and_skipped() {
    let bad = r#"{"time":"2018-11-13T12:00:35Z","properties":{"Version":"two","flows":[]}}"#;
    let blob = format!("{{\"records\":[{bad},{REC2}");
    let (p, c) = run(&blob, 0, true);
    assert_eq!(c.record_errors.len(), 1);
    let e = &c.record_errors[0];
    assert_eq!((e.offset, e.len), (12, bad.len() as u64));
    assert!(matches!(e.reason, RecordErrorReason::Json(_)));
    assert_eq!((p.records, p.rows, p.consumed), (1, 1, blob.len()));
}

#[test]
fn unknown_versions_and_formats_are_record_errors() {
    let v3 = r#"{"properties":{"Version":3,"flows":[]}}"#;
    let v5 = r#"{"flowLogVersion":5,"flowRecords":{"flows":[]}}"#;
    let other = r#"{"time":"2018-11-13T12:00:35Z","category":"Other"}"#;
    let bad_time = r#"{"time":"yesterday","properties":{"Version":1,"flows":[]}}"#;
    let blob = format!("{{\"records\":[{v3},{v5},{other},{bad_time}");
    let (p, c) = run(&blob, 0, true);
    let reasons: Vec<_> = c.record_errors.iter().map(|e| e.reason.clone()).collect();
    assert_eq!(
        reasons,
        vec![
            RecordErrorReason::UnknownVersion { format: "nsg", version: 3 },
            RecordErrorReason::UnknownVersion { format: "vnet", version: 5 },
            RecordErrorReason::UnknownFormat,
            RecordErrorReason::Time("yesterday".into()),
        ]
    );
    assert_eq!(p.consumed, blob.len());
}

#[test]
fn garbage_between_records_is_reported_and_framing_resyncs() {
    let blob = format!("{{\"records\":[{REC1}, xx}}]] {{broken ,{REC2}");
    let (p, c) = run(&blob, 0, true);
    assert_eq!(c.record_errors.len(), 1, "{:?}", c.record_errors);
    let e = &c.record_errors[0];
    assert_eq!(e.offset, (12 + REC1.len()) as u64);
    assert!(matches!(e.reason, RecordErrorReason::Framing(_)));
    assert_eq!(c.rows.len(), 3);
    assert_eq!(p.consumed, blob.len());
}

#[test]
fn garbage_at_the_end_of_a_final_range_is_reported_not_kept() {
    let blob = format!("{{\"records\":[{REC1},@@@@");
    let (p, c) = run(&blob, 0, true);
    assert_eq!(c.record_errors.len(), 1);
    assert_eq!(p.consumed, blob.len());
    let (p, c) = run(&blob, 0, false);
    assert!(c.record_errors.is_empty(), "extent unknown until the range is complete");
    assert_eq!(p.consumed, 12 + REC1.len());
}

#[test]
fn blob_without_the_records_head_is_garbage_up_to_a_record() {
    let blob = format!("{{\"recs\":[{REC1}");
    let (p, c) = run(&blob, 0, true);
    assert_eq!(c.record_errors.len(), 1);
    assert_eq!(c.record_errors[0].len, 9);
    assert_eq!((p.records, p.consumed), (1, blob.len()));
}

#[test]
fn a_blob_that_is_not_a_flow_log_says_what_a_flow_log_starts_with() {
    let (_, c) = run("{\"value\": [1, 2, 3]}\n", 0, true);
    assert_eq!(c.record_errors.len(), 1);
    let e = &c.record_errors[0];
    assert_eq!(e.reason, RecordErrorReason::NotFlowLog("{\"value\": [1, 2, 3]}\n".into()));
    let text = e.reason.to_string();
    assert!(text.contains("{\"records\":[") && text.contains("PT1H.json"), "{text}");
    // Garbage after a good head is a framing error, not a foreign file.
    let (_, c) = run("{\"records\":[ @@", 0, true);
    assert!(matches!(c.record_errors[0].reason, RecordErrorReason::Framing(_)));
}

#[test]
fn bad_tuple_is_reported_and_the_rest_of_the_record_flattens() {
    let rec = REC1.replace("1542110403,192.0.2.1", "1542110403,192.0.2.999");
    let (p, c) = run(&format!("{{\"records\":[{rec}"), 0, true);
    assert_eq!(p.rows, 1);
    assert_eq!(c.tuple_errors.len(), 1);
    let e = &c.tuple_errors[0];
    assert_eq!((e.record_offset, e.ordinal, e.blob.as_str()), (12, 1, "b"));
}

/// Counts what arrives before the record ends.
#[derive(Default)]
struct Stages {
    rows: usize,
    ends: usize,
    rows_at_end: Vec<usize>,
}

impl RowVisitor for Stages {
    fn row(&mut self, _r: &RecordCtx<'_>, _g: &GroupCtx<'_>, _t: &Tuple<'_>) {
        self.rows += 1;
    }
    fn record_end(&mut self) {
        self.ends += 1;
        self.rows_at_end.push(self.rows);
    }
}

#[test]
fn rows_stream_before_their_record_ends_and_record_end_marks_it() {
    let blob = format!("{{\"records\":[{REC1}");
    let cut = blob.find("1542110403").unwrap();
    let mut f = Framer::new(0);
    let mut s = Stages::default();
    let p = f.push(&RowIds::new("b"), &blob.as_bytes()[..cut], false, &mut s);
    assert_eq!((s.rows, p.records, f.offset()), (1, 0, 12), "the first tuple's row is out, the offset is not");
    assert_eq!(s.ends, 1, "only the head ended so far");
    assert!(f.has_partial_record());
    let p = f.push(&RowIds::new("b"), &blob.as_bytes()[cut..], false, &mut s);
    assert_eq!((s.rows, p.records, p.rows), (2, 1, 2));
    assert_eq!(s.rows_at_end, vec![0, 2]);
    assert_eq!(f.offset() as usize, blob.len());
}

#[test]
fn header_after_the_tuples_gives_the_same_rows() {
    let vnet = r#"{"time":"2022-09-14T09:00:52.5625085Z","macAddress":"112233445566","flowLogResourceID":"/SUBSCRIPTIONS/S2/RESOURCEGROUPS/NW/X","targetResourceID":"/subscriptions/S2/resourceGroups/rg2/v","flowLogVersion":4,"flowRecords":{"flows":[{"aclID":"acl","flowGroups":[{"rule":"r0","flowTuples":["1663146003000,10.0.0.6,2001:db8::1,1,443,6,O,E,NX,1,2,3,4"]}]}]}}"#;
    for rec in [REC1, vnet] {
        // Same length, same offsets: only the key order differs.
        let end = rec.find(',').unwrap();
        let moved = format!("{{{},{}}}", &rec[end + 1..rec.len() - 1], &rec[1..end]);
        // And the group values after the tuples too.
        let late_rule =
            moved.replace(r#"{"rule":"r1","flows":[{"mac":"M","flowTuples":["#, r#"{"flows":[{"flowTuples":["#);
        let late_rule = late_rule.replacen(r#"]}]}]"#, r#"],"mac":"M"}],"rule":"r1"}]"#, 1);
        let mut lines = Vec::new();
        for text in [rec.to_string(), moved, late_rule] {
            let mut enc = crate::domain::row::ndjson::NdjsonEncoder::new();
            let blob = format!("{{\"records\":[{text}]}}");
            for chunk in [1, 7, blob.len()] {
                let mut f = Framer::new(0);
                for piece in blob.as_bytes().chunks(chunk) {
                    f.push(&RowIds::new("b"), piece, false, &mut enc);
                }
            }
            lines.push(String::from_utf8(enc.into_out()).unwrap());
        }
        assert_eq!(lines[0].lines().count(), 3 * if rec == REC1 { 2 } else { 1 });
        assert_eq!(lines[1], lines[0]);
        assert_eq!(lines[2], lines[0]);
    }
}

#[test]
fn an_oversized_tuple_is_an_error_with_a_bounded_message() {
    let huge = "9".repeat(3 * 64 * 1024);
    let rec = REC1.replace("1542110402,192", &format!("{huge},192"));
    let (p, c) = run(&format!("{{\"records\":[{rec}"), 0, true);
    assert_eq!((p.records, p.rows), (1, 1));
    let e = &c.tuple_errors[0];
    let len = "1542110402,192.0.2.1,10.0.0.4,1,443,U,I,D,B,,,,".len() - 10 + huge.len();
    assert_eq!(e.reason, crate::domain::format::TupleErrorReason::TooLong { len });
    assert!(e.to_string().len() < 2 * 1024, "message quotes at most about 1 KB");
}

#[test]
fn a_record_that_breaks_after_rows_keeps_them_and_is_reported_whole() {
    let broken = REC1.replace(
        r#""flowTuples":["1542110402"#,
        r#""flowTuples":[ "1542110401,192.0.2.1,10.0.0.4,1,443,U,I,D,B,,,,", x "1542110402"#,
    );
    let blob = format!("{{\"records\":[{broken},{REC2}");
    let (p, c) = run(&blob, 0, true);
    assert_eq!(c.rows.len(), 2, "the row before the break, then REC2's");
    assert_eq!(c.record_errors.len(), 1);
    let e = &c.record_errors[0];
    assert_eq!((e.offset, e.len), (12, broken.len() as u64));
    assert!(e.raw.starts_with(b"{\"time\""));
    assert_eq!((p.records, p.consumed), (1, blob.len()));
}

#[test]
fn long_whitespace_is_consumed_once() {
    let ws = " ".repeat(1 << 20);
    let blob = format!("{{\"records\":[{REC1}{ws},{ws}{REC2}{ws}");
    let mut f = Framer::new(0);
    let mut c = Collect::default();
    for piece in blob.as_bytes().chunks(4096) {
        f.push(&RowIds::new("b"), piece, false, &mut c);
    }
    assert_eq!(c.rows.len(), 3);
    assert_eq!(f.pending() as usize, ws.len());
    assert!(!f.has_partial_record());
}

#[test]
fn whitespace_at_a_chunk_edge_inside_a_tuple_is_kept() {
    // A tuple with a space or tab in it is a bad tuple, wherever the chunks are cut: a chunk that
    // began with that byte once lost it, and the tuple passed as "1542110402".
    for ws in [" ", "\t", "\r", "\n"] {
        let rec = REC1.replace("1542110402,192", &format!("15421104{ws}02,192"));
        let blob = format!("{{\"records\":[{rec}");
        let at = blob.find(ws).unwrap();
        for cuts in [vec![blob.len()], vec![at, blob.len()], vec![at - 1, at, at + 1, blob.len()]] {
            let mut f = Framer::new(0);
            let mut c = Collect::default();
            let mut from = 0;
            for to in cuts {
                f.push(&RowIds::new("b"), &blob.as_bytes()[from..to], false, &mut c);
                from = to;
            }
            assert_eq!(c.rows, vec![(12, 1)], "{ws:?}: only the second tuple is a row");
            assert_eq!(c.tuple_errors.len(), 1, "{ws:?}: the first is a bad tuple");
        }
    }
}

#[test]
fn gzip_is_told_from_garbage_by_its_second_byte_however_the_bytes_arrive() {
    // A blob that only starts with gzip's first byte is garbage before a record; one chunk of a
    // single byte once made it "gzip" and every record after it was skipped.
    let garbage = format!("\u{1f},{REC1}");
    let gzip = [&[0x1f, 0x8b, 8, 0][..], b",{\"time\":1}"].concat();
    for (blob, rows, reason_is_gzip) in [(garbage.as_bytes(), vec![(2, 0), (2, 1)], false), (&gzip[..], vec![], true)] {
        for first in [1, 2, blob.len()] {
            let mut f = Framer::new(0);
            let mut c = Collect::default();
            f.push(&RowIds::new("b"), &blob[..first], first == blob.len(), &mut c);
            if first < blob.len() {
                f.push(&RowIds::new("b"), &blob[first..], true, &mut c);
            }
            assert_eq!(c.rows, rows, "first chunk of {first} bytes");
            assert_eq!(c.record_errors.len(), 1, "first chunk of {first} bytes");
            let gzip_reason = matches!(c.record_errors[0].reason, RecordErrorReason::Gzip);
            assert_eq!(gzip_reason, reason_is_gzip, "first chunk of {first} bytes: {:?}", c.record_errors[0].reason);
        }
    }
    // One byte of the magic and no more of the range: what the whole range gave before.
    let mut c = Collect::default();
    Framer::new(0).push(&RowIds::new("b"), &[0x1f], true, &mut c);
    assert!(matches!(c.record_errors[..], [RecordError { reason: RecordErrorReason::Gzip, .. }]));
}
