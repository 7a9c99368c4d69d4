//! A one-shot change feed over a blob listing: how `flowlog backfill` pushes existing blobs
//! through the same engine, reporting progress as events are acknowledged.
use std::collections::VecDeque;

use super::{BlobChanged, ChangeFeed, EventBody, FeedEvent, FeedPartition, FeedPosition};
use crate::pipeline::blob_store::BlobListing;
use crate::pipeline::error::ServiceResult;

/// Called with the number of blobs done so far.
pub type ProgressFn = Box<dyn Fn(u64) + Send + Sync>;

pub struct ListingFeed {
    partition: Option<ListingPartition>,
}

pub struct ListingPartition {
    events: VecDeque<FeedEvent>,
    progress: ProgressFn,
}

impl ListingFeed {
    pub fn new(listing: Vec<BlobListing>, progress: ProgressFn) -> Self {
        let events = listing
            .into_iter()
            .enumerate()
            .map(|(i, b)| FeedEvent {
                position: FeedPosition { sequence: i as i64 + 1, event_offset: String::new() },
                body: EventBody::Changed(BlobChanged {
                    blob: b.blob,
                    content_length: b.properties.content_length,
                    sequencer: None,
                    etag: None,
                    enqueued_ms: None,
                }),
            })
            .collect();
        ListingFeed { partition: Some(ListingPartition { events, progress }) }
    }
}

impl ChangeFeed for ListingFeed {
    type Partition = ListingPartition;

    async fn next_partition(&mut self) -> ServiceResult<Option<ListingPartition>> {
        Ok(self.partition.take())
    }
}

impl FeedPartition for ListingPartition {
    fn id(&self) -> &str {
        "backfill"
    }

    async fn next_batch(&mut self, max: usize) -> ServiceResult<Option<Vec<FeedEvent>>> {
        if self.events.is_empty() {
            return Ok(None);
        }
        let n = max.clamp(1, self.events.len());
        Ok(Some(self.events.drain(..n).collect()))
    }

    /// `next_batch` has no await point between taking events and returning them.
    fn cancel_safe(&self) -> bool {
        true
    }

    async fn ack(&mut self, position: &FeedPosition) -> ServiceResult<()> {
        (self.progress)(position.sequence as u64);
        Ok(())
    }
}
