//! Size-bounded batches of NDJSON rows for Event Hubs: payloads never exceed the byte limit,
//! optionally gzip-compressed (the limit then applies to the compressed size).
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// Event Hubs Standard accepts 1 MB per event or batch; leave room for AMQP framing and properties.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    pub max_bytes: usize,
    pub gzip: bool,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_bytes: DEFAULT_MAX_BATCH_BYTES, gzip: false }
    }
}

/// One event body: whole NDJSON lines, compressed or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub body: Vec<u8>,
    pub rows: usize,
    pub uncompressed_len: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("a single row of {len} bytes does not fit the {max}-byte batch limit")]
    RowTooLarge { len: usize, max: usize },
    #[error("rows must be whole NDJSON lines ending in a newline")]
    NotWholeLines,
}

/// Splits `ndjson` (whole lines) into payloads of at most `cfg.max_bytes` each, in order.
pub fn pack(ndjson: &[u8], cfg: BatchConfig) -> Result<Vec<Payload>, BatchError> {
    if !ndjson.is_empty() && ndjson.last() != Some(&b'\n') {
        return Err(BatchError::NotWholeLines);
    }
    let ends: Vec<usize> = memchr::memchr_iter(b'\n', ndjson).map(|i| i + 1).collect();
    if cfg.gzip { pack_gzip(ndjson, &ends, cfg.max_bytes) } else { pack_plain(ndjson, &ends, cfg.max_bytes) }
}

fn pack_plain(data: &[u8], ends: &[usize], max: usize) -> Result<Vec<Payload>, BatchError> {
    let mut out = Vec::new();
    let (mut start, mut last_end, mut rows) = (0, 0, 0);
    for &end in ends {
        if end - last_end > max {
            return Err(BatchError::RowTooLarge { len: end - last_end, max });
        }
        if end - start > max {
            out.push(Payload { body: data[start..last_end].to_vec(), rows, uncompressed_len: last_end - start });
            start = last_end;
            rows = 0;
        }
        last_end = end;
        rows += 1;
    }
    if rows > 0 {
        out.push(Payload { body: data[start..last_end].to_vec(), rows, uncompressed_len: last_end - start });
    }
    Ok(out)
}

/// Greedy packing by compressed size: guess how many uncompressed bytes fit from the ratio seen
/// so far, compress, and shrink the guess proportionally when the result is too large.
fn pack_gzip(data: &[u8], ends: &[usize], max: usize) -> Result<Vec<Payload>, BatchError> {
    let mut out = Vec::new();
    let mut budget = max.saturating_mul(4);
    let (mut first, mut start) = (0usize, 0usize);
    while first < ends.len() {
        // Lines first..last fit the budget (always at least one).
        let mut last = first + 1;
        while last < ends.len() && ends[last] - start <= budget {
            last += 1;
        }
        let raw = &data[start..ends[last - 1]];
        let body = gzip(raw);
        if body.len() <= max {
            out.push(Payload { body, rows: last - first, uncompressed_len: raw.len() });
            first = last;
            start = ends[last - 1];
            if out.last().is_some_and(|p| p.body.len() < max * 4 / 5) {
                budget = budget.saturating_add(budget / 4);
            }
        } else if last - first == 1 {
            return Err(BatchError::RowTooLarge { len: body.len(), max });
        } else {
            budget = ((raw.len() as u128 * max as u128 * 9 / 10) / body.len() as u128) as usize;
        }
    }
    Ok(out)
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    // Fast level: throughput matters more than the last few percent of ratio for flow rows.
    let mut enc = GzEncoder::new(Vec::with_capacity(raw.len() / 4), Compression::fast());
    enc.write_all(raw).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
