//! Property: processing a blob incrementally, over any sequence of observed lengths (growing,
//! stale, duplicated, cutting records anywhere), any chunking of each read (records are larger
//! than the chunks), rows delivered in the middle of a record, and crashes between such a
//! delivery and the offset commit, delivers exactly the rows and errors of a one-shot parse,
//! in the same order once duplicates are removed, with the same ids; every duplicate is an
//! identical row, and without crashes a read re-sends at most the delivered part of the one
//! record the previous read ended in.
mod support;

use std::collections::HashMap;

use flowlog::domain::flatten::RangeFlattener;
use flowlog::domain::format::{GroupCtx, RecordCtx, RecordError, RowVisitor, Tuple, TupleError};
use flowlog::domain::ids::RowIds;
use flowlog::domain::row::ndjson::NdjsonEncoder;
use proptest::prelude::*;

/// A visitor that buffers like the engine's collector: it knows which part of its buffer
/// belongs to complete records.
#[derive(Default)]
struct Out {
    enc: NdjsonEncoder,
    errors: Vec<String>,
    complete: (usize, usize),
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
    fn record_end(&mut self) {
        self.complete = (self.enc.len(), self.errors.len());
    }
}

/// What reached the sink, in order.
#[derive(Default)]
struct Delivered {
    lines: Vec<String>,
    errors: Vec<String>,
}

impl Out {
    /// Sends everything buffered, rows of an incomplete record included.
    fn flush(&mut self, to: &mut Delivered) {
        to.lines.extend(String::from_utf8(std::mem::take(self.enc.out())).unwrap().lines().map(str::to_string));
        to.errors.append(&mut self.errors);
        self.complete = (0, 0);
    }

    /// End of a read: what an incomplete record produced since the last flush is dropped (it will
    /// be produced again), the rest is sent.
    fn finish(&mut self, to: &mut Delivered) {
        self.enc.out().truncate(self.complete.0);
        self.errors.truncate(self.complete.1);
        self.flush(to);
    }
}

const BLOB: &str = "acct/c/PT1H.json";

fn one_shot(content: &str) -> (Vec<String>, Vec<String>) {
    let blob = format!("{content}]}}");
    let mut out = Out::default();
    let mut f = RangeFlattener::new(RowIds::new(BLOB), 0);
    f.push(blob.as_bytes(), true, &mut out);
    assert!(!f.has_partial_record());
    let mut d = Delivered::default();
    out.finish(&mut d);
    (d.lines, d.errors)
}

fn field(line: &str, name: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(line).unwrap()[name].clone()
}

/// First occurrences, in order.
fn dedup(items: &[String], key: impl Fn(&str) -> String) -> Vec<String> {
    let mut seen = HashMap::new();
    items.iter().filter(|i| seen.insert(key(i), ()).is_none()).cloned().collect()
}

/// One read attempt over `[offset, end)`: chunks, flushes after some chunks, maybe a crash right
/// after a flush (before its offset commit). Returns the committed offset.
fn read(
    bytes: &[u8],
    offset: u64,
    end: usize,
    chunking: &[usize],
    flushes: &[(bool, bool)],
    k0: usize,
    d: &mut Delivered,
) -> (u64, bool) {
    let mut out = Out::default();
    let mut f = RangeFlattener::new(RowIds::new(BLOB), offset);
    let mut committed = offset;
    let range = &bytes[offset as usize..end];
    let (mut pos, mut k) = (0, k0);
    while pos < range.len() {
        let step = chunking[k % chunking.len()].min(range.len() - pos);
        let (flush, crash) = flushes[k % flushes.len()];
        k += 1;
        f.push(&range[pos..pos + step], pos + step == range.len(), &mut out);
        pos += step;
        if flush {
            out.flush(d);
            if crash {
                return (committed, true);
            }
            committed = committed.max(f.offset());
        }
    }
    out.finish(d);
    assert!(f.offset() >= committed, "offsets never move backwards");
    (f.offset(), false)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn incremental_equals_one_shot(
        content in support::flowgen::blob_strategy_sized(24, true),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        chunking in prop::collection::vec(1usize..64, 1..8),
        flushes in prop::collection::vec((prop::bool::weighted(0.3), prop::bool::weighted(0.2)), 1..8),
    ) {
        let (expected_rows, expected_errors) = one_shot(&content);
        let bytes = content.as_bytes();
        let mut d = Delivered::default();
        let mut offset = 0u64;
        let mut crashed_before = false;
        // Observed lengths in arbitrary order (stale and duplicate ones included), then the final
        // one twice: the last read is clean.
        let lengths = cuts.iter().map(|i| i.index(bytes.len() + 1)).chain([bytes.len(), bytes.len()]);
        for (n, end) in lengths.enumerate() {
            if end as u64 <= offset {
                continue;
            }
            let seen: HashMap<String, ()> = d.lines.iter().map(|l| (field(l, "id").to_string(), ())).collect();
            let before = d.lines.len();
            let crashes: Vec<(bool, bool)> = if n >= cuts.len() { flushes.iter().map(|(f, _)| (*f, false)).collect() } else { flushes.clone() };
            let (next, crashed) = read(bytes, offset, end, &chunking, &crashes, n, &mut d);
            prop_assert!(next >= offset, "offsets never move backwards");
            if !crashed_before {
                let resent: std::collections::HashSet<u64> = d.lines[before..]
                    .iter()
                    .filter(|l| seen.contains_key(&field(l, "id").to_string()))
                    .map(|l| field(l, "record_offset").as_u64().unwrap())
                    .collect();
                prop_assert!(resent.len() <= 1, "a re-read re-sent rows of several records: {:?}", resent);
            }
            crashed_before |= crashed;
            offset = next;
        }
        prop_assert_eq!(offset as usize, bytes.len() - trailing_ws(bytes), "the final offset is the end of the last record");
        let by_id = |l: &str| field(l, "id").to_string();
        let mut first: HashMap<String, &String> = HashMap::new();
        for line in &d.lines {
            let original = *first.entry(by_id(line)).or_insert(line);
            prop_assert_eq!(original, line, "a duplicate differs from its first delivery");
        }
        prop_assert_eq!(dedup(&d.lines, by_id).join("\n"), expected_rows.join("\n"));
        prop_assert_eq!(dedup(&d.errors, str::to_string), expected_errors);
    }
}

/// Whitespace after the last record (or head) is never consumed: offsets stop at record ends.
fn trailing_ws(bytes: &[u8]) -> usize {
    bytes.iter().rev().take_while(|b| b.is_ascii_whitespace()).count()
}
