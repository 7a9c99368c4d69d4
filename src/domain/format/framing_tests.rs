//! Framing edge cases: heads, separators, whitespace, tails, partial and malformed records.
use super::*;
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
    let p = frame_and_flatten(&RowIds::new("b"), data.as_bytes(), base, is_final, &mut c);
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
fn bad_tuple_is_reported_and_the_rest_of_the_record_flattens() {
    let rec = REC1.replace("1542110403,192.0.2.1", "1542110403,192.0.2.999");
    let (p, c) = run(&format!("{{\"records\":[{rec}"), 0, true);
    assert_eq!(p.rows, 1);
    assert_eq!(c.tuple_errors.len(), 1);
    let e = &c.tuple_errors[0];
    assert_eq!((e.record_offset, e.ordinal, e.blob.as_str()), (12, 1, "b"));
}
