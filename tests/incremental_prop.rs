//! Property: processing a blob incrementally, over any sequence of observed lengths (growing,
//! stale, duplicated, cutting records in half) and any chunking of each read, yields exactly the
//! rows and errors of a one-shot parse, with the same ids, in the same order.
mod support;

use flowlog::domain::flatten::RangeFlattener;
use flowlog::domain::format::{GroupCtx, RecordCtx, RecordError, RowVisitor, Tuple, TupleError};
use flowlog::domain::ids::RowIds;
use flowlog::domain::row::ndjson::NdjsonEncoder;
use proptest::prelude::*;

#[derive(Default)]
struct Out {
    enc: NdjsonEncoder,
    errors: Vec<String>,
}

impl RowVisitor for Out {
    fn record(&mut self, r: &RecordCtx<'_>) {
        self.enc.record(r)
    }
    fn group(&mut self, r: &RecordCtx<'_>, g: &GroupCtx<'_>) {
        self.enc.group(r, g)
    }
    fn row(&mut self, r: &RecordCtx<'_>, g: &GroupCtx<'_>, t: &Tuple<'_>) {
        self.enc.row(r, g, t)
    }
    fn tuple_error(&mut self, e: TupleError) {
        self.errors.push(format!("{}#{}", e.record_offset, e.ordinal));
    }
    fn record_error(&mut self, e: RecordError) {
        self.errors.push(format!("record {}+{}", e.offset, e.len));
    }
}

fn one_shot(content: &str) -> (Vec<u8>, Vec<String>) {
    let blob = format!("{content}]}}");
    let mut out = Out::default();
    let mut f = RangeFlattener::new(RowIds::new("acct/c/PT1H.json"), 0);
    f.push(blob.as_bytes(), true, &mut out);
    assert!(!f.has_partial_record());
    (out.enc.out, out.errors)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn incremental_equals_one_shot(
        content in support::flowgen::blob_strategy(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        chunking in prop::collection::vec(1usize..64, 1..8),
    ) {
        let (expected_rows, expected_errors) = one_shot(&content);
        let bytes = content.as_bytes();
        let mut out = Out::default();
        let mut offset = 0u64;
        // Observed lengths in arbitrary order (stale and duplicate ones included), then the final one.
        let lengths = cuts.iter().map(|i| i.index(bytes.len() + 1)).chain([bytes.len()]);
        for (n, end) in lengths.enumerate() {
            if end as u64 <= offset {
                continue;
            }
            let mut f = RangeFlattener::new(RowIds::new("acct/c/PT1H.json"), offset);
            let range = &bytes[offset as usize..end];
            let mut pos = 0;
            let mut k = n;
            while pos < range.len() {
                let step = chunking[k % chunking.len()].min(range.len() - pos);
                k += 1;
                f.push(&range[pos..pos + step], pos + step == range.len(), &mut out);
                pos += step;
            }
            prop_assert!(f.offset() >= offset, "offsets never move backwards");
            offset = f.offset();
        }
        prop_assert_eq!(String::from_utf8(out.enc.out).unwrap(), String::from_utf8(expected_rows).unwrap());
        prop_assert_eq!(out.errors, expected_errors);
    }
}
