//! Content marks: digests of a blob's first bytes and of the bytes just before its offset.
//!
//! A local file can be rewritten in place (`cp` over it, `: >` then new content) while keeping
//! its birth time, or replaced by a renamed copy holding the same bytes plus more. Neither its
//! metadata nor its length tells those apart from growth; its content does. The marks are
//! compared on every read: equal marks mean "the bytes already delivered are still there", so
//! reading resumes at the offset whatever the metadata says; a difference means the file now
//! holds something else, which is read from byte 0.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::hex;
use crate::domain::magic::is_gzip;

/// How many leading bytes the head mark covers: a flow log's first record names its resource
/// and hour there, so two different blobs differ within them.
pub const HEAD_LEN: u64 = 256;
/// How many bytes before the offset the tail mark covers: the end of the last delivered record.
pub const TAIL_LEN_MARKED: u64 = 64;

/// The digest of one byte range; the range itself is implied by where the mark is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// How many bytes the digest covers.
    pub len: u64,
    /// First 16 bytes of their SHA-256, in hex.
    pub sha256: String,
}

impl Mark {
    pub fn of(bytes: &[u8]) -> Mark {
        Mark { len: bytes.len() as u64, sha256: hex(&Sha256::digest(bytes)[..16]) }
    }

    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.len && *self == Mark::of(bytes)
    }
}

/// Marks taken when an offset was committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentMarks {
    /// Bytes `[0, head.len)`.
    pub head: Mark,
    /// Bytes `[offset - tail.len, offset)`.
    pub tail: Mark,
}

impl ContentMarks {
    /// The ranges to read to check these marks against a blob whose offset is `offset`.
    pub fn ranges(&self, offset: u64) -> (std::ops::Range<u64>, std::ops::Range<u64>) {
        (0..self.head.len, offset.saturating_sub(self.tail.len)..offset)
    }
}

/// What a blob's current content says about its stored offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The delivered bytes are still there: resume at the offset.
    Same,
    /// The blob holds different bytes: read it again from 0.
    Rewritten,
    /// Shorter than the offset, and what is left does not contradict the marks (a truncation,
    /// or a rewrite still in progress): nothing to read until it grows back or differs.
    Shorter,
    /// NUL bytes where the marks were taken: a file preallocated with zeros and filled in
    /// pieces (a download), not written there yet. Nothing to read until they are; then the
    /// marks decide (a download of the same bytes resumes at the offset). Flow logs hold no
    /// NUL bytes, so a written range never looks unwritten.
    Unwritten,
}

/// Judges `content_length` bytes against `marks` taken at `offset`. `head` and `tail` are the
/// bytes of [`ContentMarks::ranges`] where the blob is long enough to have them, else `None`.
pub fn judge(
    marks: &ContentMarks,
    offset: u64,
    content_length: u64,
    head: Option<&[u8]>,
    tail: Option<&[u8]>,
) -> Verdict {
    // The same rule as a read's (`unwritten_from`): a short NUL run with data after it is data.
    // A gzip blob's own bytes hold NUL runs (its header, its trailer's length): it was
    // dead-lettered whole, and its marks decide like any other blob's.
    let unwritten = |b: Option<&[u8]>| b.is_some_and(|b| unwritten_from(b).is_some());
    if !head.is_some_and(is_gzip) && (unwritten(head) || unwritten(tail)) {
        return Verdict::Unwritten;
    }
    if head.is_some_and(|h| !marks.head.matches(h)) {
        return Verdict::Rewritten;
    }
    if content_length < offset {
        return Verdict::Shorter;
    }
    match (head, tail) {
        (Some(_), Some(t)) if marks.tail.matches(t) => Verdict::Same,
        _ => Verdict::Rewritten,
    }
}

/// The marks of a blob whose bytes `[0, ..)` start with `head_bytes` (at least
/// `min(HEAD_LEN, offset)` of them) and whose bytes before `offset` end with `before`.
pub fn marks_at(head_bytes: &[u8], before: &[u8], offset: u64) -> ContentMarks {
    let head_len = HEAD_LEN.min(offset).min(head_bytes.len() as u64) as usize;
    let tail_len = TAIL_LEN_MARKED.min(offset).min(before.len() as u64) as usize;
    ContentMarks { head: Mark::of(&head_bytes[..head_len]), tail: Mark::of(&before[before.len() - tail_len..]) }
}

/// Shortest run of NUL bytes with data after it that is taken for bytes not written yet (a hole
/// in a preallocated file filled out of order): writers fill whole blocks, never a few bytes. A
/// shorter run with data after it is part of the data (JSON never holds NUL bytes: a malformed
/// record, dead-lettered with the records around it delivered).
pub const HOLE_MIN: usize = 16;

/// Where the bytes not written yet begin in `chunk`: at the first run of NUL bytes that reaches
/// the chunk's end or is at least [`HOLE_MIN`] long; `None` when there is none.
pub fn unwritten_from(chunk: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = memchr::memchr(0, &chunk[from..]).map(|i| from + i) {
        let run = chunk[at..].iter().take_while(|&&b| b == 0).count();
        if at + run == chunk.len() || run >= HOLE_MIN {
            return Some(at);
        }
        from = at + run;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_or_trailing_nul_runs_are_unwritten_and_short_ones_inside_data_are_data() {
        assert_eq!(unwritten_from(b"{\"a\":1}"), None);
        assert_eq!(unwritten_from(b"{\"a\":\"x\0y\"}"), None, "one NUL inside a string, data after it");
        assert_eq!(unwritten_from(b"{\"a\":1}\0\0"), Some(7), "zeros to the end: not written yet");
        let mut hole = b"{\"a\":1}".to_vec();
        hole.extend([0; HOLE_MIN]);
        hole.extend(b",{\"b\":2}");
        assert_eq!(unwritten_from(&hole), Some(7), "a block-sized hole before written data");
        let mut both = b"x\0y".to_vec();
        both.extend([0; HOLE_MIN]);
        assert_eq!(unwritten_from(&both), Some(3), "the first run that counts");
    }

    fn blob(n: usize, seed: u8) -> Vec<u8> {
        // Never a NUL byte, as in a written flow log.
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 0x80).collect()
    }

    fn judge_at(marks: &ContentMarks, offset: u64, now: &[u8]) -> Verdict {
        let (h, t) = marks.ranges(offset);
        let len = now.len() as u64;
        let get = |r: std::ops::Range<u64>| (r.end <= len).then(|| &now[r.start as usize..r.end as usize]);
        judge(marks, offset, len, get(h), get(t))
    }

    #[test]
    fn growth_is_same_and_any_change_before_the_offset_is_a_rewrite() {
        let old = blob(1000, 1);
        let marks = marks_at(&old, &old[..600], 600);
        assert_eq!(marks.head.len, HEAD_LEN);
        assert_eq!(marks.tail.len, TAIL_LEN_MARKED);
        let mut grown = old.clone();
        grown.extend(blob(500, 9));
        assert_eq!(judge_at(&marks, 600, &grown), Verdict::Same);
        assert_eq!(judge_at(&marks, 600, &old[..600]), Verdict::Same);
        // A change in the head, just before the offset, or a different blob altogether.
        for at in [0usize, 255, 599, 536] {
            let mut changed = old.clone();
            changed[at] ^= 1;
            assert_eq!(judge_at(&marks, 600, &changed), Verdict::Rewritten, "byte {at}");
        }
        assert_eq!(judge_at(&marks, 600, &blob(2000, 2)), Verdict::Rewritten);
        // Bytes between the head and the tail mark are not covered: documented.
        let mut middle = old.clone();
        middle[400] ^= 1;
        assert_eq!(judge_at(&marks, 600, &middle), Verdict::Same);
    }

    #[test]
    fn shorter_is_waiting_unless_the_head_differs() {
        let old = blob(1000, 1);
        let marks = marks_at(&old, &old[..600], 600);
        assert_eq!(judge_at(&marks, 600, &[]), Verdict::Shorter);
        assert_eq!(judge_at(&marks, 600, &old[..100]), Verdict::Shorter);
        assert_eq!(judge_at(&marks, 600, &old[..599]), Verdict::Shorter);
        assert_eq!(judge_at(&marks, 600, &blob(300, 2)), Verdict::Rewritten);
    }

    #[test]
    fn zeros_where_the_marks_are_mean_not_written_yet() {
        // A download preallocates the file with zeros and fills it in pieces: judged as
        // rewritten, it was delivered again under new ids.
        let old = blob(1000, 1);
        let marks = marks_at(&old, &old[..600], 600);
        for written in [0usize, 100, 256, 550, 590] {
            let mut filling = vec![0u8; old.len()];
            filling[..written].copy_from_slice(&old[..written]);
            assert_eq!(judge_at(&marks, 600, &filling), Verdict::Unwritten, "{written} bytes written");
        }
        // The head and the tail written, the middle not yet: the marks decide.
        let mut filling = old.clone();
        filling[300..500].fill(0);
        assert_eq!(judge_at(&marks, 600, &filling), Verdict::Same);
        assert_eq!(judge_at(&marks, 600, &old), Verdict::Same);
    }

    #[test]
    fn a_gzip_blobs_own_nul_bytes_are_not_unwritten_and_a_short_run_inside_data_is_data() {
        // A gzip header holds six NUL bytes and its trailer's length ends in NULs: the blob was
        // dead-lettered whole, and waiting for those bytes to be "written" would warn forever.
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        gz.extend(blob(500, 4));
        gz.extend([0x12, 0x34, 0, 0]);
        let marks = marks_at(&gz, &gz, gz.len() as u64);
        assert_eq!(judge_at(&marks, gz.len() as u64, &gz), Verdict::Same);
        // A NUL inside written data (shorter than a hole, data after it) is data, not a hole.
        let mut odd = blob(1000, 5);
        odd[100] = 0;
        let marks = marks_at(&odd, &odd[..600], 600);
        assert_eq!(judge_at(&marks, 600, &odd), Verdict::Same);
    }

    #[test]
    fn short_offsets_mark_what_there_is() {
        let old = blob(40, 3);
        let marks = marks_at(&old, &old[..30], 30);
        assert_eq!((marks.head.len, marks.tail.len), (30, 30));
        assert_eq!(judge_at(&marks, 30, &old), Verdict::Same);
    }
}
