//! Finding the next record start inside bad bytes: `,` or `[`, whitespace, `{`, whitespace, then
//! a key only a record's top level has. Nested objects of a record never start that way.
use crate::domain::format::stream::is_ws;

/// Keys that open a flow-log record; a resynchronisation point must start with one of them.
const RECORD_KEYS: &[&[u8]] = &[
    b"time",
    b"systemId",
    b"category",
    b"resourceId",
    b"macAddress",
    b"operationName",
    b"properties",
    b"flowLogGUID",
    b"flowLogVersion",
    b"flowLogResourceID",
    b"targetResourceID",
    b"flowRecords",
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Rs {
    #[default]
    Idle,
    Separator,
    Brace,
    Key,
}

/// Recognises `,` or `[`, whitespace, `{`, whitespace, `"<record key>"` byte by byte.
#[derive(Debug, Default)]
pub(super) struct Resync {
    state: Rs,
    pub(super) brace: u64,
    key: [u8; 20],
    len: usize,
}

impl Resync {
    /// Feeds the byte at blob offset `at`; returns the key when a record start completes.
    pub(super) fn step(&mut self, b: u8, at: u64) -> Option<&'static [u8]> {
        match self.state {
            Rs::Key => {
                if b == b'"' {
                    self.state = Rs::Idle;
                    let key = &self.key[..self.len];
                    return RECORD_KEYS.iter().find(|k| **k == key).copied();
                }
                if b.is_ascii_alphanumeric() && self.len < self.key.len() {
                    self.key[self.len] = b;
                    self.len += 1;
                    return None;
                }
            }
            Rs::Brace if is_ws(b) => return None,
            Rs::Brace if b == b'"' => {
                self.state = Rs::Key;
                self.len = 0;
                return None;
            }
            Rs::Separator if is_ws(b) => return None,
            Rs::Separator if b == b'{' => {
                self.state = Rs::Brace;
                self.brace = at;
                return None;
            }
            _ => {}
        }
        self.state = if b == b',' || b == b'[' { Rs::Separator } else { Rs::Idle };
        None
    }
}
