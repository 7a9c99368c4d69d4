//! File signatures: how a blob that is not a flow log at all announces itself in its first bytes.
//!
//! Its own module because both the framing (which dead-letters such a blob) and the content
//! marks (which must not take its bytes for unwritten ones) ask, and neither may import the other.

/// How a gzip stream starts (RFC 1952).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True when `head`, a blob's first bytes, starts as a gzip stream does.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&GZIP_MAGIC)
}
