//! One change-feed partition: batches in order, blobs coalesced, acknowledged only when done.
use std::collections::{HashMap, VecDeque};

use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::lane::{Claim, Lane};
use super::read::BlobOutcome;
use super::read_slot::{self, Slot};
use super::retry::with_retry;
use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::change_feed::{EventBody, FeedEvent, FeedPartition, FeedPosition};
use crate::pipeline::dead_letter::{DeadLetter, DeadLetterKind, DeadLetterStore};
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::metrics::{BlobResult, EventOutcome, RetryOp};
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

/// Batches of one partition running at once: the next reads while the previous one's rows are
/// in flight. More would hold more events unacknowledged for little gain.
const BATCHES_IN_FLIGHT: usize = 3;

/// A blob named by one or more events of a batch.
struct Work {
    blob: BlobName,
    content_length: u64,
    /// Earliest enqueue time among its events, for the latency histogram.
    enqueued_ms: Option<i64>,
    /// The blob's ETag that every one of its events names (`None` if they differ or one has none).
    etag: Option<String>,
}

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Runs until the partition ends (ownership lost, feed drained) or shutdown is requested.
    /// A batch is acknowledged only after each of its blobs has either committed its offset or
    /// been dead-lettered; a batch that cannot be finished safely is retried, never skipped.
    ///
    /// With a cancel-safe feed, up to `BATCHES_IN_FLIGHT` batches run at once (the next one
    /// reads while the previous one's rows are in flight); they are acknowledged in order, each
    /// as soon as it and all before it are finished. Otherwise one batch runs at a time.
    pub async fn run_partition<P: FeedPartition>(&self, mut part: P, shutdown: CancellationToken) -> ServiceResult<()> {
        let id = part.id().to_string();
        self.metrics.owned_partitions.inc();
        self.state.own(&id, true);
        // Another worker may have written offsets while this one did not own the partition.
        self.drop_partition_offsets(&id);
        let _owned = scopeguard(|| {
            self.metrics.owned_partitions.dec();
            self.state.own(&id, false);
            self.drop_partition_offsets(&id);
        });
        tracing::info!(partition = %id, "partition started");
        let lane = Lane::new(self.cfg.blob_concurrency);
        let safe = part.cancel_safe();
        let mut running: VecDeque<(FeedPosition, JoinHandle<ServiceResult<bool>>)> = VecDeque::new();
        let mut stopped = false;
        loop {
            while running.front().is_some_and(|(_, h)| h.is_finished())
                || running.len() >= BATCHES_IN_FLIGHT
                || (!safe && !running.is_empty())
            {
                let (last, handle) = running.pop_front().expect("checked above");
                if !self.settle(&mut part, &last, handle.await).await? {
                    stopped = true;
                    break;
                }
            }
            if stopped {
                break;
            }
            let batch = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                // Only with a cancel-safe feed: a batch that finishes while the partition is quiet
                // is acknowledged now, not when the next event comes.
                joined = async { (&mut running.front_mut().expect("not empty").1).await }, if !running.is_empty() => {
                    let (last, _) = running.pop_front().expect("not empty");
                    if !self.settle(&mut part, &last, joined).await? {
                        stopped = true;
                    }
                    continue;
                }
                b = part.next_batch(self.cfg.max_batch_events) => b?,
            };
            let Some(mut batch) = batch else { break };
            // Only a cancel-safe feed may be interrupted by the gathering's deadline.
            let ended = safe && self.gather(&mut part, &mut batch).await?;
            let Some(last) = batch.last().map(|e| e.position.clone()) else { continue };
            let claim = lane.claim(batch.iter().filter_map(|e| match &e.body {
                EventBody::Changed(c) => Some(&c.blob),
                _ => None,
            }));
            let (engine, id, lane, stop) = (self.clone(), id.clone(), lane.clone(), shutdown.clone());
            let handle = tokio::spawn(async move { engine.finish_batch(&id, &batch, &lane, claim, &stop).await });
            running.push_back((last, handle));
            if ended {
                break;
            }
        }
        // Batches already taken finish (or give up, when stopping) and are acknowledged in order.
        while let Some((last, handle)) = running.pop_front() {
            let joined = handle.await;
            if !stopped && !self.settle(&mut part, &last, joined).await? {
                stopped = true;
            }
        }
        tracing::info!(partition = %id, "partition stopped");
        Ok(())
    }

    /// Acknowledges a batch that ended; false when it stopped unfinished (nothing after it may
    /// be acknowledged then).
    async fn settle<P: FeedPartition>(
        &self,
        part: &mut P,
        last: &FeedPosition,
        joined: Result<ServiceResult<bool>, tokio::task::JoinError>,
    ) -> ServiceResult<bool> {
        let finished = joined
            .map_err(|e| ServiceError::permanent(format!("batch task of partition {} failed: {e}", part.id())))??;
        if finished {
            self.ack(part, last).await?;
        }
        Ok(finished)
    }

    /// Processes a batch until it finishes (true) or the partition stops (false). A batch is
    /// never skipped: it is retried until it finishes. Releases the batch's blobs to later
    /// batches when it ends.
    async fn finish_batch(
        &self,
        id: &str,
        batch: &[FeedEvent],
        lane: &Lane,
        claim: Claim,
        shutdown: &CancellationToken,
    ) -> ServiceResult<bool> {
        let mut backoff = self.cfg.retry.backoff_forever();
        while let Err(e) = self.process_batch(id, batch, lane, &claim).await {
            if e.kind == ErrorKind::CommitFailed {
                // Delivered rows whose offset could not be committed: stop rather than
                // read them again. The batch is not acknowledged, so nothing is lost.
                return Err(e);
            }
            if self.sink.closed() {
                // Nowhere to deliver to, ever: stop unfinished and unacknowledged.
                return Ok(false);
            }
            tracing::error!(partition = %id, error = %e, "batch could not be finished; retrying it");
            self.metrics.retry(RetryOp::Batch);
            let delay = backoff.next().unwrap_or(self.cfg.retry.max_delay);
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(false),
                _ = tokio::time::sleep(delay) => {}
            }
        }
        Ok(true)
    }

    /// Acknowledges with the retry policy's bounded backoff; a loop rather than `with_retry`,
    /// which cannot lend the `&mut` partition to each attempt.
    async fn ack<P: FeedPartition>(&self, part: &mut P, position: &FeedPosition) -> ServiceResult<()> {
        let mut backoff = self.cfg.retry.backoff();
        loop {
            match part.ack(position).await {
                Err(e) if e.is_transient() => {
                    let Some(delay) = backoff.next() else { return Err(e) };
                    self.metrics.retry(RetryOp::Ack);
                    tracing::warn!(partition = part.id(), error = %e, "acknowledgement failed, retrying");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn process_batch(
        &self,
        partition: &str,
        batch: &[FeedEvent],
        lane: &Lane,
        claim: &Claim,
    ) -> ServiceResult<()> {
        let mut work: Vec<Work> = Vec::new();
        let mut index: HashMap<BlobName, usize> = HashMap::new();
        for ev in batch {
            match &ev.body {
                EventBody::Changed(c) => {
                    self.metrics.event(EventOutcome::Changed);
                    let i = *index.entry(c.blob.clone()).or_insert_with(|| {
                        let etag = c.etag.clone();
                        work.push(Work { blob: c.blob.clone(), content_length: 0, enqueued_ms: None, etag });
                        work.len() - 1
                    });
                    let w = &mut work[i];
                    if w.etag != c.etag {
                        w.etag = None;
                    }
                    w.content_length = w.content_length.max(c.content_length);
                    w.enqueued_ms = match (w.enqueued_ms, c.enqueued_ms) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                EventBody::Ignored { reason } => {
                    self.metrics.event(EventOutcome::Ignored);
                    tracing::debug!(partition, sequence = ev.position.sequence, reason, "event ignored");
                }
                EventBody::Invalid { reason, raw } => {
                    self.metrics.event(EventOutcome::Invalid);
                    tracing::warn!(partition, sequence = ev.position.sequence, reason, "invalid event dead-lettered");
                    let letter = DeadLetter::new(DeadLetterKind::Event, reason.clone(), self.now_rfc3339())
                        .about(
                            None,
                            None,
                            format!(
                                "partition {partition} sequence {} event offset {}",
                                ev.position.sequence, ev.position.event_offset
                            ),
                        )
                        .with_raw(raw, self.cfg.dead_letter_raw_limit);
                    self.put_dead_letter(&letter).await?;
                }
            }
        }
        // Every blob starts at once, but only `blob_concurrency` of the partition hold a read
        // permit at a time: a blob waiting for the output hub has given its permit to the next
        // one. A blob counts as busy from the start (before any blob is first polled), so the
        // shared event waits for its rows up to its linger bound; one named by an earlier batch
        // still running waits for that batch, and only then counts as busy.
        let busy: Vec<_> = work.iter().map(|w| (!claim.waits(&w.blob)).then(|| self.packer.busy())).collect();
        let results: Vec<ServiceResult<()>> = futures::stream::iter(work.into_iter().zip(busy))
            .map(|(w, busy)| async move {
                claim.turn(&w.blob).await;
                let busy = busy.unwrap_or_else(|| self.packer.busy());
                let behind = self.behind(w.enqueued_ms);
                let reads = [lane.reads.clone(), self.reads.clone()];
                read_slot::scoped(Slot::new(reads, busy, behind), self.process_work(w, partition)).await
            })
            .buffer_unordered(usize::MAX)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Processes one blob with retries. Fails only when delivered rows could not be committed,
    /// or when neither a retry mark nor a dead letter can be written for a failed blob.
    async fn process_work(&self, w: Work, partition: &str) -> ServiceResult<()> {
        if let Some(etag) = &w.etag
            && self.offset_cache.seen(&w.blob, etag)
        {
            // A finished read saw this version: its events name nothing new. No request.
            tracing::debug!(blob = %w.blob, etag, "blob version already read");
            self.metrics.blob(BlobResult::UpToDate);
            self.observe_latency(w.enqueued_ms);
            return Ok(());
        }
        let context = w.blob.to_string();
        let result = with_retry(&self.cfg.retry, &self.metrics, RetryOp::Blob, &context, || async {
            read_slot::acquire().await;
            self.process_blob(&w.blob).await
        })
        .await;
        self.offset_cache.claim(&w.blob, partition);
        match result {
            Ok(outcome) => {
                let label = match &outcome {
                    BlobOutcome::UpToDate => BlobResult::UpToDate,
                    BlobOutcome::Processed { .. } => BlobResult::Processed,
                    BlobOutcome::Superseded { .. } => BlobResult::Superseded,
                    BlobOutcome::Gone => BlobResult::Gone,
                };
                self.metrics.blob(label);
                match outcome {
                    BlobOutcome::Gone => {
                        tracing::warn!(blob = %w.blob, content_length = w.content_length, "blob not found; dead-lettering its event");
                        self.blob_dead_letter(
                            &w.blob,
                            w.content_length,
                            "blob not found (deleted, or the event named a blob that never existed)",
                        )
                        .await
                    }
                    BlobOutcome::Processed { from, to, rows } => {
                        tracing::debug!(blob = %w.blob, from, to, rows, "blob processed");
                        self.observe_latency(w.enqueued_ms);
                        Ok(())
                    }
                    _ => {
                        self.observe_latency(w.enqueued_ms);
                        Ok(())
                    }
                }
            }
            Err(e) if e.kind == ErrorKind::CommitFailed => Err(e),
            Err(e) if self.sink.closed() => {
                // The output went away, not the blob's fault: no dead letter, no retry mark; its
                // offset stays and the next run delivers it.
                tracing::debug!(blob = %w.blob, error = %e, "blob not finished: the output is closed");
                Err(e)
            }
            Err(e) => {
                // The offset was not moved past anything undelivered. A transient failure is
                // marked on the offset record and retried by the pending sweep; what retrying
                // cannot fix is dead-lettered once.
                self.metrics.blob(BlobResult::Failed);
                if e.kind == ErrorKind::Transient {
                    match self.mark_pending(&w.blob, w.content_length, &e, Some(partition)).await {
                        Ok(mark) => {
                            tracing::error!(blob = %w.blob, content_length = w.content_length, error = %e, retry_in_ms = mark.next_attempt_ms - self.now_ms(), "blob failed; offset left in place, marked for retry");
                            return Ok(());
                        }
                        Err(mark_error) => {
                            tracing::error!(blob = %w.blob, error = %mark_error, "blob failed and its retry mark cannot be written; dead-lettering it");
                        }
                    }
                }
                tracing::error!(blob = %w.blob, content_length = w.content_length, error = %e, "blob failed; offset left in place, dead-lettering it");
                self.blob_dead_letter(&w.blob, w.content_length, &e.to_string()).await
            }
        }
    }

    pub(super) async fn blob_dead_letter(
        &self,
        blob: &BlobName,
        content_length: u64,
        error: &str,
    ) -> ServiceResult<()> {
        let letter = DeadLetter::new(DeadLetterKind::Blob, error.to_string(), self.now_rfc3339()).about(
            Some(blob.to_string()),
            Some((0, content_length)),
            format!("content length {content_length}"),
        );
        self.put_dead_letter(&letter).await
    }

    /// Writes a dead letter with retries and counts it; fails only if it cannot be written.
    pub(super) async fn put_dead_letter(&self, letter: &DeadLetter) -> ServiceResult<()> {
        let ctx = letter.blob.clone().unwrap_or_else(|| letter.context.clone());
        with_retry(&self.cfg.retry, &self.metrics, RetryOp::DeadLetter, &ctx, || self.dead_letters.put(letter)).await?;
        self.metrics.dead_letter(letter.kind);
        tracing::warn!(kind = letter.kind.as_str(), blob = letter.blob.as_deref().unwrap_or("-"), context = %letter.context, store = %self.dead_letters.location(), "dead letter written");
        Ok(())
    }

    /// Whether an event enqueued at `enqueued_ms` is part of a backlog (see `backlog_linger`).
    pub(super) fn behind(&self, enqueued_ms: Option<i64>) -> bool {
        let backlog = self.cfg.backlog_linger.as_millis() as i64;
        backlog > 0 && enqueued_ms.is_some_and(|t| self.now_ms() - t > backlog)
    }

    fn observe_latency(&self, enqueued_ms: Option<i64>) {
        if let Some(t) = enqueued_ms {
            self.metrics.latency_seconds.observe(((self.now_ms() - t).max(0) as f64) / 1000.0);
        }
    }
}

/// Runs `f` when dropped, so a gauge is decremented on every exit path.
fn scopeguard<F: FnMut()>(f: F) -> impl Drop {
    struct Guard<F: FnMut()>(F);
    impl<F: FnMut()> Drop for Guard<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    Guard(f)
}
