//! The dead-letter seam: what cannot be processed is kept, with its context, instead of dropped.
pub mod memory;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::pipeline::error::ServiceResult;

/// Why something was dead-lettered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterKind {
    /// A change-feed event that could not be decoded or is not for an allowed blob.
    Event,
    /// Bytes of a blob that do not frame or parse as a flow-log record.
    Record,
    /// One flow tuple that failed validation (its record's other tuples were delivered).
    Tuple,
    /// A blob that could not be read for a permanent reason.
    Blob,
}

impl DeadLetterKind {
    pub const ALL: [DeadLetterKind; 4] =
        [DeadLetterKind::Event, DeadLetterKind::Record, DeadLetterKind::Tuple, DeadLetterKind::Blob];

    /// The name used in documents (serde) and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterKind::Event => "event",
            DeadLetterKind::Record => "record",
            DeadLetterKind::Tuple => "tuple",
            DeadLetterKind::Blob => "blob",
        }
    }
}

/// One failure, as stored: a JSON document per dead letter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub kind: DeadLetterKind,
    /// The blob concerned, when known.
    pub blob: Option<String>,
    /// Byte range `[start, end)` in the blob, when known.
    pub range: Option<(u64, u64)>,
    /// Where it came from beyond the blob: partition and sequence number, tuple ordinal, ...
    pub context: String,
    pub error: String,
    /// The raw bytes (up to the configured limit) as text when they are UTF-8, else base64.
    pub raw: String,
    pub raw_encoding: RawEncoding,
    /// Length of the whole raw input; larger than `raw` when truncated.
    pub raw_len: u64,
    /// When the failure was recorded, RFC 3339 UTC.
    pub at: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawEncoding {
    Utf8,
    Base64,
}

impl DeadLetter {
    /// A dead letter of `kind` saying `error`, recorded `at`; `about` and `with_raw` add where
    /// it happened and the bytes concerned (a builder, because most failures know only some of
    /// these and a long positional list mixed them up too easily).
    pub fn new(kind: DeadLetterKind, error: String, at: String) -> Self {
        DeadLetter {
            kind,
            blob: None,
            range: None,
            context: String::new(),
            error,
            raw: String::new(),
            raw_encoding: RawEncoding::Utf8,
            raw_len: 0,
            at,
        }
    }

    /// The blob, the byte range `[start, end)` and any further context of the failure.
    pub fn about(self, blob: Option<String>, range: Option<(u64, u64)>, context: String) -> Self {
        DeadLetter { blob, range, context, ..self }
    }

    /// The raw input, keeping at most `limit` bytes of it (`raw_len` records the whole length).
    pub fn with_raw(self, raw: &[u8], limit: usize) -> Self {
        use base64::Engine as _;
        let kept = &raw[..raw.len().min(limit)];
        let (raw_text, raw_encoding) = match std::str::from_utf8(kept) {
            Ok(s) => (s.to_string(), RawEncoding::Utf8),
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(kept), RawEncoding::Base64),
        };
        DeadLetter { raw: raw_text, raw_encoding, raw_len: raw.len() as u64, ..self }
    }
}

pub trait DeadLetterStore: Send + Sync + 'static {
    /// Stores one dead letter durably; returns when it is written.
    fn put(&self, letter: &DeadLetter) -> impl Future<Output = ServiceResult<()>> + Send;

    /// Where the letters are, for the messages that send people there (a directory, a container).
    fn location(&self) -> String {
        "the dead-letter store".to_string()
    }
}
