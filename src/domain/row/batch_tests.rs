//! Batch packing: limits are never exceeded, rows are neither lost, split nor reordered.
use std::io::Read;

use proptest::prelude::*;

use super::*;

fn lines(n: usize, width: usize) -> Vec<u8> {
    (0..n).flat_map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(width + i % 7)).into_bytes()).collect()
}

fn unpack(p: &Payload, gz: bool) -> Vec<u8> {
    if !gz {
        return p.body.clone();
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&p.body[..]).read_to_end(&mut out).unwrap();
    out
}

fn check(data: &[u8], cfg: BatchConfig) {
    let payloads = pack(data, cfg).unwrap();
    let mut joined = Vec::new();
    let mut rows = 0;
    for p in &payloads {
        assert!(p.body.len() <= cfg.max_bytes, "{} > {}", p.body.len(), cfg.max_bytes);
        let raw = unpack(p, cfg.gzip);
        assert_eq!(raw.len(), p.uncompressed_len);
        assert_eq!(raw.iter().filter(|b| **b == b'\n').count(), p.rows);
        assert_eq!(raw.last(), Some(&b'\n'));
        rows += p.rows;
        joined.extend_from_slice(&raw);
    }
    assert_eq!(joined, data);
    assert_eq!(rows, data.iter().filter(|b| **b == b'\n').count());
}

#[test]
fn plain_batches_fill_up_to_the_limit() {
    let data = lines(1000, 50);
    check(&data, BatchConfig { max_bytes: 4096, gzip: false });
    let payloads = pack(&data, BatchConfig { max_bytes: 4096, gzip: false }).unwrap();
    // Greedy: every payload but the last is too full to take the next row.
    for p in &payloads[..payloads.len() - 1] {
        assert!(p.body.len() > 4096 - 80);
    }
}

#[test]
fn gzip_batches_respect_the_compressed_limit_and_compress() {
    let data = lines(20_000, 80);
    let cfg = BatchConfig { max_bytes: 16_384, gzip: true };
    check(&data, cfg);
    let payloads = pack(&data, cfg).unwrap();
    let total: usize = payloads.iter().map(|p| p.body.len()).sum();
    assert!(total * 5 < data.len(), "compressed {total} of {}", data.len());
}

#[test]
fn oversize_row_and_partial_line_are_errors() {
    let data = lines(3, 100);
    assert!(matches!(pack(&data, BatchConfig { max_bytes: 50, gzip: false }), Err(BatchError::RowTooLarge { .. })));
    assert_eq!(pack(b"{}\n{", BatchConfig::default()), Err(BatchError::NotWholeLines));
    assert_eq!(pack(b"", BatchConfig::default()), Ok(vec![]));
}

proptest! {
    #[test]
    fn never_exceeds_and_preserves(n in 1usize..300, width in 0usize..200, max in 400usize..5000, gz: bool) {
        check(&lines(n, width), BatchConfig { max_bytes: max, gzip: gz });
    }
}
