//! Content checks for blobs that can be rewritten in place (see `BlobStore::checks_content`):
//! judging the stored marks before a read, and taking new marks from the bytes a read saw.
use futures::StreamExt;

use super::Engine;
use crate::domain::blob_name::BlobName;
use crate::domain::offset::content::{ContentMarks, HEAD_LEN, Mark, TAIL_LEN_MARKED, Verdict, judge};
use crate::domain::offset::{OffsetState, Plan, plan_checked, plan_read};
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

/// The plan for one read, and the bytes already known that new marks are built from.
pub(super) struct Checked {
    pub plan: Plan,
    pub marker: Marker,
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Plans a read of a blob whose content is checked: by its marks when the stored state has
    /// them, else by creation time as for any store, reading what new marks need either way.
    pub(super) async fn plan_by_content(
        &self,
        blob: &BlobName,
        stored: Option<&OffsetState>,
        content_length: u64,
        created_ms: Option<i64>,
    ) -> ServiceResult<Checked> {
        let Some((state, marks)) = stored.and_then(|s| s.content.as_ref().map(|m| (s, m))) else {
            let plan = plan_read(stored, content_length, created_ms);
            // A state from before marks existed: mark the bytes it already covers, once.
            let start = match plan {
                Plan::Read { start, recreated: false, .. } => start,
                _ => 0,
            };
            let head = self.read_small(blob, 0..HEAD_LEN.min(start)).await?;
            let tail = self.read_small(blob, start.saturating_sub(TAIL_LEN_MARKED)..start).await?;
            return Ok(Checked { plan, marker: Marker::new(start, head, tail) });
        };
        let (head_range, tail_range) = marks.ranges(state.offset);
        let head = self.read_small(blob, head_range.clone()).await?;
        let tail = self.read_small(blob, tail_range.clone()).await?;
        let (have_head, have_tail) = (head_range.end <= content_length, tail_range.end <= content_length);
        let verdict = judge(
            marks,
            state.offset,
            content_length,
            have_head.then_some(head.as_slice()),
            have_tail.then_some(tail.as_slice()),
        );
        match verdict {
            Verdict::Same => {}
            Verdict::Rewritten => {
                self.metrics.rewritten_blobs.inc();
                tracing::warn!(blob = %blob, offset = state.offset, content_length, "blob was rewritten (its content differs from what was delivered); reading it again from the start");
            }
            Verdict::Shorter => tracing::warn!(
                blob = %blob,
                offset = state.offset,
                content_length,
                "blob is shorter than what was already delivered (truncated, or being rewritten); nothing to read until it grows back or its content changes"
            ),
        }
        let plan = plan_checked(state, content_length, verdict);
        let marker = match plan {
            Plan::Read { start, recreated: false, .. } => Marker::new(start, head, tail),
            // Rewritten: read from 0 as a recreated blob, under the next id generation.
            _ => Marker::new(0, Vec::new(), Vec::new()),
        };
        Ok(Checked { plan, marker })
    }

    /// A few bytes of a blob; fewer (possibly none) where the blob has shrunk below `range`.
    async fn read_small(&self, blob: &BlobName, range: std::ops::Range<u64>) -> ServiceResult<Vec<u8>> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let props = self.blobs.properties(blob).await?;
        let range = range.start.min(props.content_length)..range.end.min(props.content_length);
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        let mut stream = self.blobs.read_range(blob, range).await?;
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
}

/// Keeps the bytes new marks are taken from while a read streams by: the blob's first
/// [`HEAD_LEN`] bytes, and a window from just before the parser's offset to the read position
/// (the parser's pending partial record, plus [`TAIL_LEN_MARKED`] bytes).
pub(super) struct Marker {
    head: Vec<u8>,
    /// Absolute position of `window[0]`.
    window_start: u64,
    window: Vec<u8>,
}

impl Marker {
    /// For a read starting at `start`, knowing the blob's first bytes `head` and the bytes `tail` just before `start`.
    pub fn new(start: u64, head: Vec<u8>, tail: Vec<u8>) -> Self {
        Marker { head, window_start: start - tail.len() as u64, window: tail }
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

    /// Forgets what lies before `offset - TAIL_LEN_MARKED`, in steps large enough to stay linear.
    pub fn advance(&mut self, offset: u64) {
        let drop = offset.saturating_sub(TAIL_LEN_MARKED).saturating_sub(self.window_start) as usize;
        if drop > 0 && drop >= self.window.len() / 2 {
            self.window.drain(..drop.min(self.window.len()));
            self.window_start += drop as u64;
        }
    }

    /// Marks for an offset committed at `offset` (empty ones at 0); `None` when the bytes are
    /// not at hand (the blob then falls back to creation times until its next commit).
    pub fn marks_at(&self, offset: u64) -> Option<ContentMarks> {
        let head_len = HEAD_LEN.min(offset) as usize;
        let tail_len = TAIL_LEN_MARKED.min(offset);
        if self.head.len() < head_len || offset - tail_len < self.window_start {
            return None;
        }
        let from = (offset - tail_len - self.window_start) as usize;
        let tail = self.window.get(from..from + tail_len as usize)?;
        Some(ContentMarks { head: Mark::of(&self.head[..head_len]), tail: Mark::of(tail) })
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
}
