//! Fuzz target: arbitrary bytes, start offset and chunking through framing + flatten + encode
//! must never panic, progress must stay within the input, and the rows must not depend on where
//! the chunks were cut (the same bytes read in one piece give the same rows, offset and count).
#![no_main]

use flowlog::domain::flatten::RangeFlattener;
use flowlog::domain::ids::RowIds;
use flowlog::domain::row::encoder::{Encoder, RowFormat};
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8], base: u64, chunk: usize, format: RowFormat) -> (Vec<u8>, u64, u64) {
    let mut enc = Encoder::new(format);
    let mut f = RangeFlattener::new(RowIds::new("fuzz"), base);
    let n = data.chunks(chunk).count();
    for (i, c) in data.chunks(chunk).enumerate() {
        f.push(c, i + 1 == n, &mut enc);
    }
    assert!(f.offset() <= base + data.len() as u64);
    (enc.out().clone(), f.offset(), f.total().rows)
}

fuzz_target!(|input: &[u8]| {
    let Some((&head, data)) = input.split_first() else { return };
    let base = u64::from(head & 3);
    let chunk = usize::from(head >> 2).max(1);
    let format = if head & 1 == 0 { RowFormat::Ndjson } else { RowFormat::Csv };
    let chunked = run(data, base, chunk, format);
    let whole = run(data, base, data.len().max(1), format);
    assert!(chunked == whole, "rows of chunked and whole input differ");
});
