//! Content checks for blobs that can be rewritten in place (see `BlobStore::checks_content`):
//! judging the stored marks before a read (step 1), and, as the read streams (step 2), stopping
//! at NUL bytes not written yet and keeping the bytes new marks are taken from (step 4).
use bytes::Bytes;
use futures::StreamExt;

use super::marker::Marker;
use crate::domain::blob_name::BlobName;
use crate::domain::format::is_gzip;
use crate::domain::offset::content::{ContentMarks, HEAD_LEN, TAIL_LEN_MARKED, Verdict, judge, unwritten_from};
use crate::domain::offset::{OffsetState, Plan, plan_checked, plan_read};
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::Engine;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

/// The plan for one read, and the bytes already known that new marks are built from.
pub(super) struct Checked {
    pub plan: Plan,
    pub content: ContentCheck,
    /// Zeros where the marks are: the blob waits for them to be written (the stall alarm
    /// watches it as it watches a partial record).
    pub unwritten: bool,
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
            let content = ContentCheck::on(Marker::new(start, head, tail));
            return Ok(Checked { plan, content, unwritten: false });
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
            Verdict::Unwritten => {
                self.metrics.unwritten_waits.inc();
                tracing::warn!(blob = %blob, offset = state.offset, content_length, "blob has NUL bytes where its delivered content was (preallocated and being filled?); nothing to read until they are written");
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
        Ok(Checked { plan, content: ContentCheck::on(marker), unwritten: verdict == Verdict::Unwritten })
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

/// What a read of a blob asks about its content as it streams: for a store whose blobs can be
/// rewritten in place, where NUL bytes not written yet begin (the read stops there), and the
/// marks of the offset it commits; for any other store, nothing (no holes, no marks).
pub(super) struct ContentCheck {
    /// `None` where the store's blobs are not rewritten in place.
    marker: Option<Marker>,
    /// A gzip-compressed blob has NUL bytes of its own; the parser dead-letters it whole.
    gzip: bool,
    /// Where NUL bytes not yet written begin, once a chunk reached them.
    unwritten: Option<u64>,
}

impl ContentCheck {
    pub fn off() -> Self {
        ContentCheck { marker: None, gzip: false, unwritten: None }
    }

    fn on(marker: Marker) -> Self {
        ContentCheck { marker: Some(marker), ..Self::off() }
    }

    /// Cuts `chunk` (the blob's bytes from `at`) where bytes not written yet begin, in a blob
    /// that may be filled out of order.
    pub fn screen(&mut self, chunk: &mut Bytes, at: u64) {
        self.gzip |= at == 0 && is_gzip(chunk);
        if self.marker.is_some()
            && !self.gzip
            && let Some(i) = unwritten_from(chunk)
        {
            self.unwritten = Some(at + i as u64);
            chunk.truncate(i);
        }
    }

    pub fn unwritten(&self) -> Option<u64> {
        self.unwritten
    }

    /// The next bytes fed to the parser, in order.
    pub fn observe(&mut self, piece: &[u8]) {
        if let Some(m) = &mut self.marker {
            m.observe(piece);
        }
    }

    /// The parser's offset is now `offset`.
    pub fn advance(&mut self, offset: u64) {
        if let Some(m) = &mut self.marker {
            m.advance(offset);
        }
    }

    /// The marks committed with `offset`; `None` where nothing is marked or the bytes are not
    /// at hand.
    pub fn marks_at(&self, offset: u64) -> Option<ContentMarks> {
        self.marker.as_ref().and_then(|m| m.marks_at(offset))
    }
}
