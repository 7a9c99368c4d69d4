//! Fuzz target: arbitrary bytes, start offset and chunking through framing + flatten + encode
//! must never panic, and progress must stay within the input.
#![no_main]

use flowlog::domain::flatten::RangeFlattener;
use flowlog::domain::row::encoder::{Encoder, RowFormat};
use flowlog::domain::ids::RowIds;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&head, data)) = input.split_first() else { return };
    let base = u64::from(head & 3);
    let chunk = usize::from(head >> 2).max(1);
    let mut enc = Encoder::new(if head & 1 == 0 { RowFormat::Ndjson } else { RowFormat::Csv });
    let mut f = RangeFlattener::new(RowIds::new("fuzz"), base);
    let n = data.chunks(chunk).count();
    for (i, c) in data.chunks(chunk).enumerate() {
        f.push(c, i + 1 == n, &mut enc);
    }
    assert!(f.offset() <= base + data.len() as u64);
});
