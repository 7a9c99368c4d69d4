//! The bytes new content marks are taken from, kept while a read streams by in memory
//! independent of record size.
use crate::domain::offset::content::{ContentMarks, HEAD_LEN, Mark, TAIL_LEN_MARKED};

/// Keeps the bytes new marks are taken from while a read streams by, in memory independent of
/// record size: the blob's first [`HEAD_LEN`] bytes, the [`TAIL_LEN_MARKED`] bytes before the
/// parser's offset (taken when the parser reached it), and the last bytes read, from which the
/// tail of the next offset is taken. The offset of a record larger than the read so far stays
/// at its start: a window from there to the read position would hold the whole record.
pub(super) struct Marker {
    head: Vec<u8>,
    /// Absolute position of `window[0]`.
    window_start: u64,
    /// The bytes since the last `advance`, and [`KEEP`] bytes before them.
    window: Vec<u8>,
    /// The offset the parser reached, and up to [`TAIL_LEN_MARKED`] bytes before it.
    at_offset: Option<(u64, Vec<u8>)>,
}

/// Bytes kept before the read position between pieces: the tail mark, with room for a parser
/// whose offset lags the bytes it was fed.
const KEEP: usize = 4096;

impl Marker {
    /// For a read starting at `start`, knowing the blob's first bytes `head` and the bytes `tail` just before `start`.
    pub fn new(start: u64, head: Vec<u8>, tail: Vec<u8>) -> Self {
        let at_offset = (tail.len() as u64 == TAIL_LEN_MARKED.min(start)).then(|| (start, tail.clone()));
        Marker { head, window_start: start - tail.len() as u64, window: tail, at_offset }
    }

    /// The next bytes of the read, in order.
    pub fn observe(&mut self, piece: &[u8]) {
        let end = self.window_start + self.window.len() as u64;
        if (self.head.len() as u64) < HEAD_LEN && self.head.len() as u64 == end {
            let take = (HEAD_LEN as usize - self.head.len()).min(piece.len());
            self.head.extend_from_slice(&piece[..take]);
        }
        self.window.extend_from_slice(piece);
    }

    /// The parser's offset is now `offset`: takes its tail mark's bytes, and forgets the
    /// window but for its last [`KEEP`] bytes.
    pub fn advance(&mut self, offset: u64) {
        if self.at_offset.as_ref().is_none_or(|(at, _)| *at != offset)
            && let Some(tail) = self.window_tail(offset)
        {
            self.at_offset = Some((offset, tail.to_vec()));
        }
        let drop = self.window.len().saturating_sub(KEEP);
        if drop > 0 {
            self.window.drain(..drop);
            self.window_start += drop as u64;
        }
    }

    fn window_tail(&self, offset: u64) -> Option<&[u8]> {
        let tail_len = TAIL_LEN_MARKED.min(offset);
        if offset - tail_len < self.window_start {
            return None;
        }
        let from = (offset - tail_len - self.window_start) as usize;
        self.window.get(from..from + tail_len as usize)
    }

    /// Marks for an offset committed at `offset` (empty ones at 0); `None` when the bytes are
    /// not at hand (the blob then falls back to creation times until its next commit).
    pub fn marks_at(&self, offset: u64) -> Option<ContentMarks> {
        let head_len = HEAD_LEN.min(offset) as usize;
        if self.head.len() < head_len {
            return None;
        }
        let tail = match &self.at_offset {
            Some((at, tail)) if *at == offset => &tail[..],
            _ => self.window_tail(offset)?,
        };
        Some(ContentMarks { head: Mark::of(&self.head[..head_len]), tail: Mark::of(tail) })
    }

    /// Bytes held, for tests of the memory bound.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.head.len() + self.window.len() + self.at_offset.as_ref().map_or(0, |(_, t)| t.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_taken_while_streaming_equal_marks_of_the_whole() {
        let blob: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for (start, piece) in [(0usize, 1usize), (0, 100), (700, 33), (64, 1000)] {
            let head = blob[..HEAD_LEN.min(start as u64) as usize].to_vec();
            let tail = blob[start.saturating_sub(64)..start].to_vec();
            let mut m = Marker::new(start as u64, head, tail);
            let mut pos = start;
            for p in blob[start..].chunks(piece) {
                m.observe(p);
                pos += p.len();
                // A parser lagging 150 bytes behind the read.
                m.advance(pos.saturating_sub(150) as u64);
                let at = pos.saturating_sub(150).max(start) as u64;
                let whole = crate::domain::offset::content::marks_at(&blob, &blob[..at as usize], at);
                assert_eq!(m.marks_at(at), Some(whole), "start {start} piece {piece} at {at}");
            }
        }
    }

    #[test]
    fn a_record_longer_than_the_window_keeps_its_offset_mark_and_little_else() {
        // The offset stays at a record's start while the record streams by: the window held
        // the whole record (236 MiB peak for a 200 MiB record).
        let blob: Vec<u8> = (0..400_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let start = 1000usize;
        let mut m = Marker::new(start as u64, blob[..HEAD_LEN as usize].to_vec(), blob[start - 64..start].to_vec());
        let mut most = 0;
        for p in blob[start..].chunks(4096) {
            m.observe(p);
            m.advance(start as u64);
            most = most.max(m.held());
        }
        let whole = crate::domain::offset::content::marks_at(&blob, &blob[..start], start as u64);
        assert_eq!(m.marks_at(start as u64), Some(whole));
        assert!(most <= 3 * 4096, "held {most} bytes");
        // The record ends near the read position: its end's marks are at hand too.
        let end = blob.len() as u64 - 10;
        m.advance(end);
        let whole = crate::domain::offset::content::marks_at(&blob, &blob[..end as usize], end);
        assert_eq!(m.marks_at(end), Some(whole));
    }
}
