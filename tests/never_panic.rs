//! The always-on fuzz test: arbitrary bytes, arbitrary offsets and chunkings, and mutations of
//! valid blobs never panic the framing + flatten path, progress stays within the input, and reading
//! records again (for header fields after the tuples) gives what keeping them gives, and chunked
//! input gives what the whole input gives.
//! (`fuzz/` holds the same harness for cargo-fuzz on a nightly toolchain.)
mod support;

use flowlog::domain::flatten::RangeFlattener;
use flowlog::domain::ids::RowIds;
use flowlog::domain::row::encoder::{Encoder, RowFormat};
use proptest::prelude::*;

fn drive(data: &[u8], base: u64, chunk: usize) {
    // The blob from offset 0, for second reads of records (the bytes before `base` are never read).
    let whole = [vec![b' '; base as usize], data.to_vec()].concat();
    for format in [RowFormat::Ndjson, RowFormat::Csv] {
        let mut outputs = Vec::new();
        for (again, chunk) in [(false, chunk), (true, chunk), (false, data.len())] {
            let mut enc = Encoder::new(format);
            let mut f = RangeFlattener::new(RowIds::new("fuzz"), base);
            if again {
                f = f.with_rereads();
            }
            let mut last = base;
            let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(chunk.max(1)).collect() };
            let n = chunks.len();
            for (i, c) in chunks.into_iter().enumerate() {
                f.push_all(&whole, c, i + 1 == n, &mut enc);
                assert!(f.offset() >= last);
                last = f.offset();
            }
            assert!(f.offset() <= base + data.len() as u64);
            if format == RowFormat::Ndjson {
                for line in enc.out().split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    serde_json::from_slice::<serde_json::Value>(line).expect("every emitted row is valid JSON");
                }
            }
            outputs.push((enc.out().clone(), f.offset(), f.total().rows));
        }
        // Reading a record twice instead of keeping it changes nothing that comes out, and
        // neither do the edges of the chunks the bytes arrive in.
        assert!(outputs[0] == outputs[1], "rows with and without second reads differ");
        assert!(outputs[0] == outputs[2], "rows of chunked and whole input differ");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600), base in 0u64..3, chunk in 1usize..100) {
        drive(&data, base, chunk);
    }

    #[test]
    fn json_ish_bytes(data in prop::collection::vec(prop::sample::select(b"{}[],:\"\\ 0123456789.-eEtrufalsn\nrecordsVersionflowTuples".to_vec()), 0..400), chunk in 1usize..50) {
        drive(&data, 0, chunk);
        drive(&data, 7, chunk);
    }

    #[test]
    fn mutated_valid_blobs(
        content in support::flowgen::blob_strategy_sized(4, true),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        chunk in 1usize..200,
    ) {
        let mut data = format!("{content}]}}").into_bytes();
        for (at, byte, op) in edits {
            let i = at.index(data.len().max(1)).min(data.len());
            match op {
                0 if i < data.len() => data[i] = byte,
                1 => data.insert(i, byte),
                _ if i < data.len() => { data.remove(i); }
                _ => {}
            }
        }
        drive(&data, 0, chunk);
    }
}
