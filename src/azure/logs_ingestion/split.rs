//! Sizing Logs Ingestion calls: NDJSON rows (whole lines) become JSON arrays of at most a byte
//! limit, and a refused call (413) is cut in two halves of its rows. Pure: no I/O.
use std::ops::Range;

/// The documented limit of one Logs Ingestion API call: 1 MB, for compressed and uncompressed
/// data alike (Azure Monitor service limits, section "Logs Ingestion API"
/// (learn.microsoft.com/azure/azure-monitor/service-limits#logs-ingestion-api): "Maximum size of
/// API call: 1 MB. Both compressed and uncompressed data."; Microsoft's Python SDK,
/// azure-monitor-ingestion, likewise cuts its uncompressed JSON at 1 MiB before gzip). So the
/// uncompressed array is what is sized; gzip saves bandwidth, not calls. The same table limits a
/// rule to 2 GB and 12,000 requests per minute, answered with 429 and `Retry-After`.
pub const DOCUMENTED_CALL_BYTES: usize = 1_000_000;

/// What flowlog puts in one call, at most: 10% under the documented figure, for the service's
/// own accounting (its MB may be counted after re-encoding) and for headers.
pub const MAX_CALL_BYTES: usize = DOCUMENTED_CALL_BYTES / 10 * 9;

/// A row that cannot fit one call on its own.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a row of {len} bytes does not fit a {max}-byte Logs Ingestion call")]
pub struct RowTooLarge {
    pub len: usize,
    pub max: usize,
}

/// The JSON array of `rows` bytes of NDJSON in `lines` bytes: brackets, and the newlines
/// become commas (one fewer), so `len + 1` for any non-empty input.
pub fn array_len(ndjson_len: usize) -> usize {
    ndjson_len + 1
}

/// Cuts `ndjson` (whole lines, each ending in `\n`) into ranges of whole lines whose JSON
/// arrays are at most `max` bytes each, in order.
pub fn plan(ndjson: &[u8], max: usize) -> Result<Vec<Range<usize>>, RowTooLarge> {
    let mut out = Vec::new();
    let (mut start, mut last_end) = (0usize, 0usize);
    for end in memchr::memchr_iter(b'\n', ndjson).map(|i| i + 1) {
        if array_len(end - last_end) > max {
            return Err(RowTooLarge { len: end - last_end - 1, max });
        }
        if array_len(end - start) > max {
            out.push(start..last_end);
            start = last_end;
        }
        last_end = end;
    }
    if last_end > start {
        out.push(start..last_end);
    }
    Ok(out)
}

/// The JSON array of the NDJSON lines in `ndjson`: `[row,row,...]`, rows as they are.
pub fn json_array(ndjson: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(array_len(ndjson.len()));
    out.push(b'[');
    for line in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(line);
    }
    out.push(b']');
    out
}

/// Rows (lines) in `ndjson`.
pub fn rows(ndjson: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', ndjson).count()
}

/// Cuts a range of whole lines of `ndjson` in two at the line nearest its middle row; `None`
/// for a single row (it cannot be split).
pub fn halves(ndjson: &[u8], range: Range<usize>) -> Option<(Range<usize>, Range<usize>)> {
    let part = &ndjson[range.clone()];
    let n = rows(part);
    if n < 2 {
        return None;
    }
    let cut = memchr::memchr_iter(b'\n', part).nth(n / 2 - 1)? + 1;
    Some((range.start..range.start + cut, range.start + cut..range.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize, width: usize) -> Vec<u8> {
        (0..n).flat_map(|i| format!("{{\"id\":\"{i:0w$}\"}}\n", w = width).into_bytes()).collect()
    }

    #[test]
    fn arrays_are_the_rows_joined_by_commas() {
        assert_eq!(json_array(b"{\"a\":1}\n{\"b\":2}\n"), b"[{\"a\":1},{\"b\":2}]");
        assert_eq!(json_array(b""), b"[]");
        let data = lines(5, 3);
        assert_eq!(json_array(&data).len(), array_len(data.len()));
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&json_array(&data)).unwrap();
        assert_eq!(parsed.len(), 5);
    }

    #[test]
    fn plans_fill_calls_up_to_the_limit_and_never_past_it() {
        let data = lines(1000, 20);
        let line = data.len() / 1000;
        let max = 10 * line + 1;
        let plan = plan(&data, max).unwrap();
        assert_eq!(plan.len(), 100, "ten rows per call exactly fill it");
        assert!(plan.iter().all(|r| json_array(&data[r.clone()]).len() <= max));
        assert_eq!(plan.first().unwrap().start, 0);
        assert_eq!(plan.last().unwrap().end, data.len());
        assert!(plan.windows(2).all(|w| w[0].end == w[1].start), "contiguous, in order");
        // One byte less: nine rows per call.
        assert_eq!(super::plan(&data, max - 1).unwrap().len(), 112);
    }

    #[test]
    fn a_row_larger_than_a_call_is_refused_by_name() {
        let data = lines(3, 50);
        let err = plan(&data, 20).unwrap_err();
        assert_eq!(err, RowTooLarge { len: data.len() / 3 - 1, max: 20 });
        assert!(plan(b"", 20).unwrap().is_empty());
    }

    #[test]
    fn halves_cut_at_the_middle_row_and_one_row_cannot_be_cut() {
        let data = lines(5, 2);
        let (a, b) = halves(&data, 0..data.len()).unwrap();
        assert_eq!((rows(&data[a.clone()]), rows(&data[b.clone()])), (2, 3));
        assert_eq!((a.start, a.end, b.end), (0, b.start, data.len()));
        let (c, d) = halves(&data, b.clone()).unwrap();
        assert_eq!((rows(&data[c.clone()]), rows(&data[d])), (1, 2));
        assert_eq!(halves(&data, c), None);
    }

    #[test]
    fn the_enforced_limit_is_under_the_documented_one() {
        const { assert!(MAX_CALL_BYTES < DOCUMENTED_CALL_BYTES) };
        assert_eq!(MAX_CALL_BYTES, 900_000);
    }
}
