//! Typed errors of framing and flattening, each carrying where in the blob it happened.
use std::fmt;

/// Why one flow tuple was rejected; the rest of its record still flattens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TupleErrorReason {
    FieldCount {
        expected: usize,
        found: usize,
    },
    Timestamp,
    Ip(&'static str),
    Port(&'static str),
    Protocol,
    Direction,
    Decision,
    State,
    Encryption,
    Counter(&'static str),
    /// The tuple string is longer than any flow tuple can be; only its start is kept.
    TooLong {
        len: usize,
    },
}

impl fmt::Display for TupleErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TupleErrorReason::FieldCount { expected, found } => {
                write!(f, "expected {expected} comma-separated fields, found {found}")
            }
            TupleErrorReason::Timestamp => f.write_str("timestamp is not a positive integer"),
            TupleErrorReason::Ip(field) => write!(f, "{field} is not an IPv4 or IPv6 address"),
            TupleErrorReason::Port(field) => write!(f, "{field} is not a port number (0-65535)"),
            TupleErrorReason::Protocol => f.write_str("unknown protocol"),
            TupleErrorReason::Direction => f.write_str("direction is not I or O"),
            TupleErrorReason::Decision => f.write_str("decision is not A or D"),
            TupleErrorReason::State => f.write_str("unknown flow state"),
            TupleErrorReason::Encryption => f.write_str("unknown encryption status"),
            TupleErrorReason::Counter(field) => write!(f, "{field} is not a non-negative integer"),
            TupleErrorReason::TooLong { len } => write!(f, "tuple of {len} bytes is longer than any flow tuple"),
        }
    }
}

/// A rejected flow tuple, located by blob, record offset and tuple ordinal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TupleError {
    pub blob: String,
    pub record_offset: u64,
    pub ordinal: u32,
    pub tuple: String,
    pub reason: TupleErrorReason,
}

impl fmt::Display for TupleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blob {} record at byte {} tuple #{}: {} (tuple {})",
            self.blob,
            self.record_offset,
            self.ordinal,
            self.reason,
            bounded_quote(&self.tuple)
        )
    }
}

impl std::error::Error for TupleError {}

/// Why a whole record (or a stretch of bytes) could not be flattened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordErrorReason {
    /// Not valid JSON, or JSON of the wrong shape.
    Json(String),
    /// Neither an NSG nor a VNet flow-log record.
    UnknownFormat,
    UnknownVersion {
        format: &'static str,
        version: i64,
    },
    /// The record's `time` is present but not an RFC 3339 timestamp.
    Time(String),
    /// Bytes between records that are not part of the `{"records":[...]}` framing.
    Framing(String),
    /// The blob does not start with `{"records":[`: not a flow log at all (its first bytes).
    NotFlowLog(String),
    /// The blob starts with the gzip magic bytes: a compressed copy, never read as JSON.
    Gzip,
}

impl fmt::Display for RecordErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordErrorReason::Json(e) => write!(f, "malformed record JSON: {e}"),
            RecordErrorReason::UnknownFormat => {
                f.write_str("not a flow-log record (neither properties.Version nor flowLogVersion)")
            }
            RecordErrorReason::UnknownVersion { format, version } => {
                write!(f, "unsupported {format} flow-log version {version}")
            }
            RecordErrorReason::Time(t) => write!(f, "record time {t:?} is not RFC 3339"),
            RecordErrorReason::Framing(e) => write!(f, "framing: {e}"),
            RecordErrorReason::NotFlowLog(start) => write!(
                f,
                "not the start of a flow-log blob: {start:?}; a flow-log blob (Azure names it PT1H.json) \
                 is JSON starting {{\"records\":[, one record a minute"
            ),
            RecordErrorReason::Gzip => f.write_str(
                "the blob is gzip-compressed (it starts with bytes 1f 8b); flow logs are read as plain JSON: \
                 decompress it first (e.g. `gunzip -c PT1H.json.gz > PT1H.json`)",
            ),
        }
    }
}

/// A record, or a stretch of bytes, that produced no rows; `[offset, offset + len)` in the blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    pub blob: String,
    pub offset: u64,
    pub len: u64,
    pub reason: RecordErrorReason,
    /// The first bytes of the stretch (at most [`RAW_EXCERPT`]), for dead letters.
    pub raw: Vec<u8>,
}

/// How many bytes of a bad record travel with its error.
pub const RAW_EXCERPT: usize = 64 * 1024;

/// Most bytes of input an error message or log line quotes.
pub const QUOTE_LIMIT: usize = 1024;

/// `text` as a quoted, escaped string of at most about [`QUOTE_LIMIT`] bytes of input, saying how
/// long it really was when cut: a malformed 50 MB value must not become a 50 MB log line.
pub fn bounded_quote(text: &str) -> String {
    let shown = cut(text, QUOTE_LIMIT);
    if shown.len() == text.len() { format!("{text:?}") } else { format!("{shown:?}... ({} bytes)", text.len()) }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blob {} bytes {}..{}: {}", self.blob, self.offset, self.offset + self.len, self.reason)
    }
}

impl std::error::Error for RecordError {}
