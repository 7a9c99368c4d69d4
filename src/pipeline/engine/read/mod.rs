//! One blob's read, in the commit order of docs/ARCHITECTURE.md section 5, a file per step:
//!
//! 1. `plan.rs`: load the offset `O`, learn the blob's length `L` (and, for stores whose blobs
//!    can be rewritten in place, judge its content), and decide what to read: `[O, L-2)`, nothing,
//!    or a new generation of the blob from 0;
//! 2. `stream.rs`: read that range in chunks and parse them into rows and dead letters (and
//!    `reread.rs`: read a record again whose header fields came after its tuples);
//! 3. `deliver.rs`: write the dead letters, then send the rows and wait until the sink accepted
//!    them (whenever the buffer fills, and once at the end);
//! 4. `commit.rs`: compare-and-swap the offset past what was delivered.
//!
//! The state one read carries from step to step is a [`BlobRead`]. What only stores with
//! rewritable blobs need judged (content marks, NUL bytes not yet written) is one strategy type,
//! `ContentCheck` in `content.rs`, that the steps consult without knowing which store they read.
mod commit;
mod content;
mod deliver;
mod marker;
mod plan;
mod reread;
mod stream;

use std::ops::{ControlFlow, Range};

use self::content::ContentCheck;
use super::Engine;
use super::collector::Collector;
use crate::domain::blob_name::BlobName;
use crate::domain::flatten::RangeFlattener;
use crate::domain::offset::OffsetState;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::offset_store::{OffsetStore, Version};
use crate::pipeline::row_sink::RowSink;

/// How one attempt at a blob ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Nothing new past the stored offset (duplicate, stale or already-read event).
    UpToDate,
    /// Rows delivered and the offset committed from `from` to `to`.
    Processed { from: u64, to: u64, rows: u64 },
    /// The blob does not exist (any more).
    Gone,
    /// Another worker committed past us while we read: what we sent were duplicates.
    Superseded { rows: u64 },
}

/// The offset being advanced and the version it was loaded at.
struct Cursor {
    state: OffsetState,
    version: Option<Version>,
    /// Rows sent since the last commit (of a record not complete yet).
    uncommitted_rows: u64,
}

impl From<Option<(OffsetState, Version)>> for Cursor {
    fn from(loaded: Option<(OffsetState, Version)>) -> Self {
        match loaded {
            Some((state, version)) => Cursor { state, version: Some(version), uncommitted_rows: 0 },
            None => Cursor { state: OffsetState::default(), version: None, uncommitted_rows: 0 },
        }
    }
}

/// One attempt's outcome, the offset it left, and whether bytes of an incomplete record were
/// left behind it (a record still being written, or one that never completes).
struct Attempt {
    outcome: BlobOutcome,
    cursor: Cursor,
    incomplete: bool,
    /// The blob's version the read saw (`TailRead::etag`).
    etag: Option<String>,
}

/// Whether what a delivery sent was ours to commit: another worker may have committed past it,
/// and then the read stops (what it sent were duplicates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivered {
    Ours,
    Superseded,
}

/// One blob's read in progress: what each step hands to the next.
struct BlobRead<'a> {
    blob: &'a BlobName,
    /// The offset as loaded, or as this read last committed it.
    cursor: Cursor,
    /// The planned range `[O, L-2)`, or from 0 for a new generation.
    range: Range<u64>,
    /// A new generation of the blob: its offset is committed even when nothing was read.
    recreated: bool,
    flattener: RangeFlattener,
    /// Rows and dead letters not delivered yet.
    collector: Collector,
    content: ContentCheck,
    /// Rows delivered by this read.
    rows: u64,
    /// The blob's version the read's first request saw.
    etag: Option<String>,
}

impl BlobRead<'_> {
    fn end(self, outcome: BlobOutcome, incomplete: bool) -> Attempt {
        Attempt { outcome, cursor: self.cursor, incomplete, etag: self.etag }
    }

    fn superseded(self) -> Attempt {
        let outcome = BlobOutcome::Superseded { rows: self.rows };
        self.end(outcome, false)
    }
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// One attempt; the caller retries transient errors. Safe to repeat at any point: offsets
    /// only move forward through compare-and-swap, so a repeat re-sends at most the rows whose
    /// offset commit did not happen, with the same ids.
    pub async fn process_blob(&self, blob: &BlobName) -> ServiceResult<BlobOutcome> {
        let loaded = self.load_offset(blob).await?;
        let marked = loaded.as_ref().is_some_and(|(s, _)| s.pending.is_some());
        let attempt = self.attempt(blob, loaded).await?;
        self.state.note_progress(blob, attempt.incomplete, self.now_ms());
        let finished = matches!(attempt.outcome, BlobOutcome::Processed { .. } | BlobOutcome::UpToDate);
        if marked && attempt.cursor.state.pending.is_some() {
            self.clear_mark(blob, attempt.cursor).await?;
        }
        // Only now is every byte of the version it saw delivered and its offset stored (or
        // held back as an incomplete record that this version cannot complete).
        if let (true, Some(etag)) = (finished, &attempt.etag) {
            self.offset_cache.finished_read(blob, etag);
        }
        Ok(attempt.outcome)
    }

    /// Plan → stream → deliver → commit. The stream step delivers and commits each time the
    /// buffer fills; what is left when the range ends is delivered and committed last.
    async fn attempt(&self, blob: &BlobName, loaded: Option<(OffsetState, Version)>) -> ServiceResult<Attempt> {
        let (mut read, prefetched) = match self.plan(blob, loaded).await? {
            ControlFlow::Break(attempt) => return Ok(attempt),
            ControlFlow::Continue(planned) => planned,
        };
        if self.stream(&mut read, prefetched).await? == Delivered::Superseded {
            return Ok(read.superseded());
        }
        self.finish(read).await
    }
}
