//! Step 4 of a blob's read: the offset compare-and-swapped past what was delivered, with the
//! version it was loaded at; a conflict is reconciled with the stored state (section 5).
use super::{BlobRead, Cursor, Delivered};
use crate::domain::blob_name::BlobName;
use crate::domain::offset::{OffsetState, Reconcile, reconcile};
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::engine::Engine;
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Commits `offset` (with how many tuples of the record open there went) after a delivery;
    /// `Superseded` when another worker had already committed further.
    pub(super) async fn commit(
        &self,
        read: &mut BlobRead<'_>,
        offset: u64,
        open_tuples: u32,
    ) -> ServiceResult<Delivered> {
        let cursor = &mut read.cursor;
        let next = OffsetState {
            offset,
            open_tuples,
            rows_emitted: cursor.state.rows_emitted + cursor.uncommitted_rows,
            updated_at_ms: self.now_ms(),
            content: read.content.marks_at(offset),
            // Progress heals a failed read: its retry mark goes with this commit.
            pending: None,
            ..cursor.state.clone()
        };
        if self.commit_delivered(read.blob, cursor, next).await? {
            cursor.uncommitted_rows = 0;
            Ok(Delivered::Ours)
        } else {
            Ok(Delivered::Superseded)
        }
    }

    /// Commits the offset of rows the sink has already accepted. A failure here never leads to
    /// the rows being read and sent again: the commit alone is retried, with the retry policy,
    /// then (for daemons) without end at the policy's longest delay, while the partition's
    /// later work waits behind it. A bounded run, or a daemon that is stopping, ends with
    /// `CommitFailed` instead; the rows of this one flush are then sent again by whoever
    /// processes the blob next.
    async fn commit_delivered(&self, blob: &BlobName, cursor: &mut Cursor, next: OffsetState) -> ServiceResult<bool> {
        let mut bounded = self.cfg.retry.backoff();
        let mut patient = self.cfg.retry.backoff_forever();
        let mut failures = 0u64;
        let mut last_report: Option<i64> = None;
        loop {
            let error = match self.compare_and_swap(blob, cursor, next.clone()).await {
                Ok(committed) => {
                    if failures > 0 {
                        self.metrics.commits_pending.dec();
                        tracing::info!(blob = %blob, failures, "offset committed after failures; nothing was sent twice");
                    }
                    return Ok(committed);
                }
                Err(e) => e,
            };
            self.metrics.commit_failures.inc();
            if failures == 0 {
                self.metrics.commits_pending.inc();
            }
            failures += 1;
            let delay = match bounded.next() {
                Some(d) => Some(d),
                None if self.cfg.patient_commits && error.kind != ErrorKind::Permanent => patient.next(),
                None => None,
            };
            let now = self.now_ms();
            if last_report.is_none_or(|t| now - t >= 60_000) {
                last_report = Some(now);
                tracing::error!(blob = %blob, offset = next.offset, failures, error = %error, "rows were delivered but their offset cannot be committed; retrying the commit alone");
            }
            let stopped = match delay {
                Some(d) => tokio::select! {
                    _ = self.state.stopping.cancelled() => true,
                    _ = tokio::time::sleep(d) => false,
                },
                None => true,
            };
            if stopped {
                self.metrics.commits_pending.dec();
                return Err(ServiceError::commit_failed(format!(
                    "offset of {blob} to {}: rows delivered, commit failed {failures} times: {error}",
                    next.offset
                )));
            }
        }
    }

    /// Removes the retry mark of a blob that was processed without error. A lost race leaves
    /// it to whoever won: their state is newer than ours.
    pub(super) async fn clear_mark(&self, blob: &BlobName, cursor: Cursor) -> ServiceResult<()> {
        let Some(version) = cursor.version else { return Ok(()) };
        let state = OffsetState { pending: None, updated_at_ms: self.now_ms(), ..cursor.state };
        match self.save_offset(blob, &state, Some(&version)).await {
            Ok(_) => {
                tracing::info!(blob = %blob, "blob read again without error; its retry mark is cleared");
                Ok(())
            }
            Err(e) if e.kind == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Commits `next`, reconciling with concurrent writers. False when the stored offset already
    /// covers ours (our rows were duplicates).
    async fn compare_and_swap(
        &self,
        blob: &BlobName,
        cursor: &mut Cursor,
        mut next: OffsetState,
    ) -> ServiceResult<bool> {
        const MAX_ROUNDS: usize = 8;
        for _ in 0..MAX_ROUNDS {
            match self.save_offset(blob, &next, cursor.version.as_ref()).await {
                Ok(v) => {
                    cursor.version = Some(v);
                    cursor.state = next;
                    return Ok(true);
                }
                Err(e) if e.kind == ErrorKind::Conflict => {
                    self.metrics.offset_conflicts.inc();
                    tracing::debug!(blob = %blob, error = %e, "offset compare-and-swap conflict");
                    match self.load_stored_offset(blob).await? {
                        // Deleted under us (retention sweep): insert again.
                        None => cursor.version = None,
                        Some((stored, v)) => match reconcile(&next, &stored) {
                            Reconcile::AlreadyCommitted => {
                                cursor.state = stored;
                                cursor.version = Some(v);
                                return Ok(false);
                            }
                            Reconcile::Retry(merged) => {
                                next = merged;
                                cursor.version = Some(v);
                            }
                        },
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(ServiceError::transient(format!("offset of {blob}: compare-and-swap lost {MAX_ROUNDS} races in a row")))
    }
}
