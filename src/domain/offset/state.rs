//! The per-blob offset record and the decisions derived from it.
use serde::{Deserialize, Serialize};

use super::content::{ContentMarks, Verdict};
use super::pending::PendingRetry;

/// Length of the `]}` tail that closes every flow-log blob; bytes before `length - TAIL_LEN`
/// never change once written.
pub const TAIL_LEN: u64 = 2;

/// What is stored for each blob: everything before `offset` has been delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetState {
    /// The byte just after the last record whose rows were delivered (0 = nothing yet).
    pub offset: u64,
    /// The blob's creation time when the offset was taken; a different one means it was recreated.
    pub blob_created_ms: Option<i64>,
    /// The largest content length seen for the blob.
    pub last_content_length: u64,
    /// Rows delivered from this blob so far (for operators; not used for decisions).
    pub rows_emitted: u64,
    /// When this state was written, Unix milliseconds; the retention sweep reads it.
    pub updated_at_ms: i64,
    /// Digests of the blob's head and of the bytes before `offset`, for stores whose blobs can be
    /// rewritten in place (local files). Absent in states written before they existed, or by
    /// stores that do not check content; such states fall back to creation times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentMarks>,
    /// Set while a failed read of the blob waits to be retried (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingRetry>,
    /// How many times the blob was found recreated (a new creation time) while its offset was
    /// kept: row ids include it, so a recreated blob never reuses the ids of the old one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
    /// How many tuples (by ordinal, from 0) of the record that starts after `offset` have had
    /// their rows delivered although the record has not closed yet (a record larger than a
    /// flush, still being written). The next read of that record skips their rows: parsing
    /// again is cheap, sending again is not. 0 when no such rows were sent.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub open_tuples: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// What to do for a blob given its stored state and its current length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The record region ends at or before the stored offset: a duplicate or stale event.
    UpToDate,
    /// Read `[start, end)`; `recreated` says the stored offset belonged to an earlier blob of the same name.
    Read { start: u64, end: u64, recreated: bool },
}

/// Decides which bytes to read. `content_length` must be a committed length (from an event or
/// from the blob's properties), so `[.., content_length - 2)` is immutable.
pub fn plan_read(stored: Option<&OffsetState>, content_length: u64, created_ms: Option<i64>) -> Plan {
    let end = content_length.saturating_sub(TAIL_LEN);
    let (start, recreated) = match stored {
        None => (0, false),
        Some(s) if is_recreated(s, content_length, created_ms) => (0, true),
        Some(s) => (s.offset, false),
    };
    if end <= start { Plan::UpToDate } else { Plan::Read { start, end, recreated } }
}

/// Decides which bytes to read of a blob whose content was judged against the stored marks.
/// Creation times are not consulted: the content decides (a renamed copy of the same bytes
/// resumes; a file rewritten in place starts again at 0). A rewritten blob is always read,
/// even if empty, so its offset is reset before the new content arrives.
pub fn plan_checked(stored: &OffsetState, content_length: u64, verdict: Verdict) -> Plan {
    let end = content_length.saturating_sub(TAIL_LEN);
    match verdict {
        Verdict::Rewritten => Plan::Read { start: 0, end, recreated: true },
        Verdict::Shorter | Verdict::Unwritten => Plan::UpToDate,
        Verdict::Same if end <= stored.offset => Plan::UpToDate,
        Verdict::Same => Plan::Read { start: stored.offset, end, recreated: false },
    }
}

/// A blob is recreated when its creation time changed. Without creation times a blob that is
/// shorter than the stored offset cannot be the same blob, because blobs only grow.
fn is_recreated(stored: &OffsetState, content_length: u64, created_ms: Option<i64>) -> bool {
    match (stored.blob_created_ms, created_ms) {
        (Some(a), Some(b)) => a != b,
        _ => content_length < stored.offset + TAIL_LEN && content_length < stored.last_content_length,
    }
}

/// Outcome of a compare-and-swap conflict: someone else wrote the blob's offset since we loaded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reconcile {
    /// The stored offset already covers ours: the rows we sent were duplicates of rows already delivered.
    AlreadyCommitted,
    /// Retry the compare-and-swap against the stored version with this state.
    Retry(OffsetState),
}

/// Merges our intended state with the one found in the store after a conflict. Offsets never
/// move backwards: the result is the larger of the two for the same blob incarnation.
pub fn reconcile(ours: &OffsetState, stored: &OffsetState) -> Reconcile {
    match (ours.blob_created_ms, stored.blob_created_ms) {
        // Different incarnations: the newer blob wins; our rows for an older one are history.
        (Some(a), Some(b)) if a != b => {
            if a > b {
                Reconcile::Retry(ours.clone())
            } else {
                Reconcile::AlreadyCommitted
            }
        }
        // The same open record with more of its rows delivered by us: progress, not a duplicate.
        _ if stored.offset == ours.offset && ours.open_tuples > stored.open_tuples => {
            Reconcile::Retry(OffsetState { rows_emitted: stored.rows_emitted.max(ours.rows_emitted), ..ours.clone() })
        }
        _ if stored.offset >= ours.offset => Reconcile::AlreadyCommitted,
        _ => Reconcile::Retry(OffsetState {
            offset: ours.offset,
            blob_created_ms: ours.blob_created_ms.or(stored.blob_created_ms),
            last_content_length: ours.last_content_length.max(stored.last_content_length),
            rows_emitted: stored.rows_emitted.max(ours.rows_emitted),
            updated_at_ms: ours.updated_at_ms.max(stored.updated_at_ms),
            content: ours.content.clone(),
            pending: ours.pending.clone(),
            generation: ours.generation.max(stored.generation),
            open_tuples: ours.open_tuples,
        }),
    }
}
