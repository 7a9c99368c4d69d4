//! Backlog batches gather the partition's next events before they start, so that more appends
//! of one blob are read together.
use std::time::Duration;

use super::Engine;
use crate::pipeline::blob_store::BlobStore;
use crate::pipeline::change_feed::{EventBody, FeedEvent, FeedPartition};
use crate::pipeline::dead_letter::DeadLetterStore;
use crate::pipeline::error::ServiceResult;
use crate::pipeline::offset_store::OffsetStore;
use crate::pipeline::row_sink::RowSink;

/// How long a batch of backlog events (enqueued longer ago than `backlog_linger`) waits for more
/// of the partition's events before it starts. The receiver hands a backlog over a few messages
/// at a time, so without it the appends of one blob land in different batches and the blob is
/// read once per batch (the later reads finding nothing new): a blob GET each. Fresh events
/// never wait.
const BACKLOG_GATHER: Duration = Duration::from_millis(50);

impl<B: BlobStore, O: OffsetStore, S: RowSink, D: DeadLetterStore> Engine<B, O, S, D> {
    /// Adds the partition's next events to a batch of backlog events, for up to
    /// [`BACKLOG_GATHER`] or until it holds `max_batch_events`, so that more appends of one blob
    /// are read together. True when the partition ended meanwhile (the batch still runs).
    pub(super) async fn gather<P: FeedPartition>(
        &self,
        part: &mut P,
        batch: &mut Vec<FeedEvent>,
    ) -> ServiceResult<bool> {
        let max = self.cfg.max_batch_events;
        let newest = batch.iter().rev().find_map(|e| match &e.body {
            EventBody::Changed(c) => Some(c.enqueued_ms),
            _ => None,
        });
        if batch.len() >= max || !newest.is_some_and(|t| self.behind(t)) {
            return Ok(false);
        }
        let deadline = tokio::time::Instant::now() + BACKLOG_GATHER;
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, part.next_batch(max - batch.len())).await {
                Err(_) => break,
                Ok(Ok(Some(more))) => batch.extend(more),
                Ok(Ok(None)) => return Ok(true),
                Ok(Err(e)) => return Err(e),
            }
        }
        Ok(false)
    }
}
