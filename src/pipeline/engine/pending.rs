//! Durable retries of blobs whose read failed: the failure is written into the blob's offset
//! record as a retry mark, and a periodic sweep retries marked blobs of the partitions this
//! worker owns until they succeed, or fail for a reason retrying cannot fix.
use super::{BlobOutcome, Engine};
use crate::domain::blob_name::BlobName;
use crate::domain::offset::{OffsetState, PendingRetry};
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;
use tokio_util::sync::CancellationToken;

/// Compare-and-swap rounds for writing a mark before giving up on it.
const MARK_ROUNDS: usize = 4;

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Writes (or advances) the retry mark of `blob` after a failed attempt. The offset itself
    /// is untouched. Fails when the mark cannot be written; the caller then dead-letters.
    pub(super) async fn mark_pending(
        &self,
        blob: &BlobName,
        target_length: u64,
        error: &ServiceError,
        partition: Option<&str>,
    ) -> ServiceResult<PendingRetry> {
        let delays = (self.cfg.pending_delays.0.as_millis() as u64, self.cfg.pending_delays.1.as_millis() as u64);
        let written = self
            .update_mark(blob, "marking", |state| {
                let mark = PendingRetry::after_failure(
                    state.pending.as_ref(),
                    target_length,
                    &error.to_string(),
                    partition,
                    self.now_ms(),
                    delays,
                );
                Some(Some(mark))
            })
            .await?;
        written.ok_or_else(|| ServiceError::transient(format!("marking {blob} for retry")))
    }

    /// Rewrites the retry mark of `blob` to what `change` returns for the stored state (`None`:
    /// nothing to write), by compare-and-swap, reloading after a lost race. Returns the mark
    /// written; fails when the store fails or the race is lost `MARK_ROUNDS` times in a row.
    async fn update_mark(
        &self,
        blob: &BlobName,
        what: &str,
        change: impl Fn(&OffsetState) -> Option<Option<PendingRetry>>,
    ) -> ServiceResult<Option<PendingRetry>> {
        let mut last = None;
        for _ in 0..MARK_ROUNDS {
            let (state, version) = match self.load_offset(blob).await? {
                Some((s, v)) => (s, Some(v)),
                None => (OffsetState::default(), None),
            };
            let Some(mark) = change(&state) else { return Ok(state.pending) };
            let next = OffsetState { pending: mark.clone(), updated_at_ms: self.now_ms(), ..state };
            match self.save_offset(blob, &next, version.as_ref()).await {
                Ok(_) => return Ok(mark),
                Err(e) if e.kind == ErrorKind::Conflict => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ServiceError::transient(format!("{what} {blob}: no attempt made"))))
    }

    /// Retries marked blobs every `pending_interval` until shutdown.
    pub async fn pending_loop(&self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.cfg.pending_interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.retry_pending().await {
                tracing::warn!(error = %e, "retrying blobs marked for retry failed; will try again");
            }
            self.report_stalls();
        }
    }

    /// One pass: every due, marked blob of an owned partition gets one attempt. Returns how many
    /// were retried.
    pub async fn retry_pending(&self) -> ServiceResult<usize> {
        let marked = self.bounded(|| "listing marked blobs".to_string(), self.offsets.pending()).await?;
        self.metrics.pending_blobs.set(marked.len() as i64);
        let now = self.now_ms();
        let mut retried = 0;
        for (blob, state) in marked {
            let Some(mark) = state.pending else { continue };
            let ours = mark.partition.as_deref().is_none_or(|p| self.state.owns(p));
            if !mark.is_due(now) || !ours || self.state.stopping.is_cancelled() {
                continue;
            }
            retried += 1;
            self.metrics.pending_retries.inc();
            match self.process_blob(&blob).await {
                Ok(BlobOutcome::Gone) => {
                    tracing::error!(blob = %blob, attempts = mark.attempts, "marked blob no longer exists; dead-lettering it");
                    self.blob_dead_letter(&blob, mark.target_length, "blob not found when retried").await?;
                }
                Ok(outcome) => tracing::info!(blob = %blob, attempts = mark.attempts, ?outcome, "marked blob retried"),
                Err(e) if e.kind == ErrorKind::CommitFailed => return Err(e),
                Err(e) if e.kind == ErrorKind::Transient => {
                    let next = self.mark_pending(&blob, mark.target_length, &e, None).await?;
                    tracing::warn!(blob = %blob, attempts = next.attempts, error = %e, "marked blob failed again; retrying later");
                }
                Err(e) => {
                    // Retrying cannot fix this one: keep it once as a dead letter and drop the mark.
                    tracing::error!(blob = %blob, attempts = mark.attempts, error = %e, "marked blob cannot be read; giving up and dead-lettering it");
                    self.blob_dead_letter(&blob, mark.target_length, &e.to_string()).await?;
                    self.clear_pending(&blob).await?;
                }
            }
        }
        Ok(retried)
    }

    /// Drops the mark of a blob given up on (its offset stays where it is). A blob never
    /// recorded, or already unmarked, needs no write.
    async fn clear_pending(&self, blob: &BlobName) -> ServiceResult<()> {
        self.update_mark(blob, "unmarking", |state| state.pending.is_some().then_some(None)).await?;
        Ok(())
    }

    /// Publishes the stalled-blob gauge and warns about each stalled blob.
    pub fn report_stalls(&self) -> Vec<(BlobName, i64)> {
        let stalled = self.state.stalled(self.now_ms(), self.cfg.stall_after.as_millis() as i64);
        self.metrics.stalled_blobs.set(stalled.len() as i64);
        for (blob, age_ms) in stalled.iter().take(10) {
            tracing::warn!(blob = %blob, stalled_secs = age_ms / 1000, "blob stalled: its offset has not reached its committed length (a record that never completes?)");
        }
        stalled
    }
}
