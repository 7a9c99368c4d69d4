//! Size-bounded batches of NDJSON rows for Event Hubs: payloads never exceed the byte limit,
//! optionally gzip-compressed (the limit then applies to the compressed size).
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// Event Hubs Standard accepts 1 MB per event or batch; leave room for AMQP framing and properties.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 1_000_000;

/// Largest event size accepted in settings: Event Hubs Dedicated takes events of up to 20 MB.
pub const MAX_EVENT_BYTES: usize = 20 * 1024 * 1024;

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
    pack_hinted(ndjson, cfg, 400)
}

/// [`pack`], with gzip's first guess taken from `ratio`: the uncompressed bytes per compressed
/// byte seen before, in hundredths. A good guess compresses each payload once.
pub fn pack_hinted(ndjson: &[u8], cfg: BatchConfig, ratio: usize) -> Result<Vec<Payload>, BatchError> {
    if !ndjson.is_empty() && ndjson.last() != Some(&b'\n') {
        return Err(BatchError::NotWholeLines);
    }
    let ends: Vec<usize> = memchr::memchr_iter(b'\n', ndjson).map(|i| i + 1).collect();
    if cfg.gzip { pack_gzip(ndjson, &ends, cfg.max_bytes, ratio) } else { pack_plain(ndjson, &ends, cfg.max_bytes) }
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
/// so far, compress, and re-estimate the guess from each result: smaller when it was too large,
/// larger when it came out well under the limit.
fn pack_gzip(data: &[u8], ends: &[usize], max: usize, ratio: usize) -> Result<Vec<Payload>, BatchError> {
    let mut out = Vec::new();
    // Nine tenths of the limit: compressed size is not linear in the input, so aim below it.
    let aim =
        |raw: usize, compressed: usize| ((raw as u128 * max as u128 * 9 / 10) / compressed.max(1) as u128) as usize;
    let mut budget = aim(ratio.max(100), 100).max(1);
    let (mut first, mut start) = (0usize, 0usize);
    while first < ends.len() {
        // Lines first..last fit the budget (always at least one).
        let mut last = first + 1;
        while last < ends.len() && ends[last] - start <= budget {
            last += 1;
        }
        let raw = &data[start..ends[last - 1]];
        let body = gzip(raw);
        let len = body.len();
        if len <= max {
            out.push(Payload { body, rows: last - first, uncompressed_len: raw.len() });
            first = last;
            start = ends[last - 1];
            // Only a payload that used its whole budget says how much more would have fit.
            if len < max * 4 / 5 && raw.len() * 10 >= budget * 9 {
                budget = aim(raw.len(), len);
            }
        } else if last - first == 1 {
            return Err(BatchError::RowTooLarge { len: body.len(), max });
        } else {
            budget = aim(raw.len(), body.len());
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
