//! In-memory change feed for unit tests: scripted partitions of events, recording acknowledgements.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::{ChangeFeed, FeedEvent, FeedPartition, FeedPosition};
use crate::pipeline::error::ServiceResult;

/// A feed whose partitions replay fixed event lists, then end.
pub struct MemoryFeed {
    partitions: VecDeque<MemoryPartition>,
}

pub struct MemoryPartition {
    id: String,
    events: VecDeque<FeedEvent>,
    acked: Arc<Mutex<Vec<FeedPosition>>>,
}

impl MemoryFeed {
    /// One partition per list; returns the feed and, per partition, the acknowledged positions.
    pub fn new(partitions: Vec<Vec<FeedEvent>>) -> (Self, Vec<Arc<Mutex<Vec<FeedPosition>>>>) {
        let mut acks = Vec::new();
        let partitions = partitions
            .into_iter()
            .enumerate()
            .map(|(i, events)| {
                let acked = Arc::new(Mutex::new(Vec::new()));
                acks.push(acked.clone());
                MemoryPartition { id: i.to_string(), events: events.into(), acked }
            })
            .collect();
        (MemoryFeed { partitions }, acks)
    }
}

impl ChangeFeed for MemoryFeed {
    type Partition = MemoryPartition;

    async fn next_partition(&mut self) -> ServiceResult<Option<MemoryPartition>> {
        Ok(self.partitions.pop_front())
    }
}

impl FeedPartition for MemoryPartition {
    fn id(&self) -> &str {
        &self.id
    }

    async fn next_batch(&mut self, max: usize) -> ServiceResult<Option<Vec<FeedEvent>>> {
        if self.events.is_empty() {
            return Ok(None);
        }
        let mut batch = Vec::new();
        // Items sharing a position (one Event Hubs message) stay in one batch.
        while let Some(ev) = self.events.front() {
            let same_position = batch.last().is_some_and(|b: &FeedEvent| b.position == ev.position);
            if batch.len() >= max.max(1) && !same_position {
                break;
            }
            batch.push(self.events.pop_front().unwrap());
        }
        Ok(Some(batch))
    }

    /// `next_batch` has no await point between taking events and returning them.
    fn cancel_safe(&self) -> bool {
        true
    }

    async fn ack(&mut self, position: &FeedPosition) -> ServiceResult<()> {
        self.acked.lock().unwrap().push(position.clone());
        Ok(())
    }
}
