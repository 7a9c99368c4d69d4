//! Batches of backlog events gather the partition's next events before they start, so that the
//! appends of one blob are read once; fresh events start at once.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::tests::{NSG, TestEngine, engine};
use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::memory::MemoryBlobStore;
use crate::pipeline::change_feed::{BlobChanged, ChangeFeed, EventBody, FeedEvent, FeedPartition, FeedPosition};
use crate::pipeline::error::ServiceResult;
use crate::pipeline::metrics::BlobResult;

/// A partition that hands over one event per call, as a receiver does with a backlog that
/// arrives a message at a time, and then stays open (the partition is still owned).
struct Trickle {
    events: VecDeque<FeedEvent>,
    acked: Arc<Mutex<Vec<i64>>>,
}

impl FeedPartition for Trickle {
    fn id(&self) -> &str {
        "0"
    }

    async fn next_batch(&mut self, _max: usize) -> ServiceResult<Option<Vec<FeedEvent>>> {
        // The next event arrives a little later: it is not there yet when a batch is taken.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        match self.events.pop_front() {
            Some(event) => Ok(Some(vec![event])),
            None => std::future::pending().await,
        }
    }

    fn cancel_safe(&self) -> bool {
        true
    }

    async fn ack(&mut self, position: &FeedPosition) -> ServiceResult<()> {
        self.acked.lock().unwrap().push(position.sequence);
        Ok(())
    }
}

struct OnePartition(Option<Trickle>);

impl ChangeFeed for OnePartition {
    type Partition = Trickle;

    async fn next_partition(&mut self) -> ServiceResult<Option<Trickle>> {
        match self.0.take() {
            Some(p) => Ok(Some(p)),
            None => std::future::pending().await,
        }
    }
}

/// Three appends of one blob, enqueued `age_ms` ago, run until all three are acknowledged.
async fn three_appends(age_ms: i64) -> TestEngine {
    let blobs = MemoryBlobStore::new();
    let b = BlobName::from("a/c/PT1H.json");
    blobs.put(&b, NSG.as_bytes().to_vec(), Some(1));
    let e = engine(blobs);
    let enqueued = e.now_ms() - age_ms;
    let events = (0..3)
        .map(|i| FeedEvent {
            position: FeedPosition { sequence: i, event_offset: i.to_string() },
            body: EventBody::Changed(BlobChanged {
                blob: b.clone(),
                content_length: NSG.len() as u64,
                sequencer: None,
                etag: None,
                enqueued_ms: Some(enqueued),
            }),
        })
        .collect();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let feed = OnePartition(Some(Trickle { events, acked: acked.clone() }));
    let stop = CancellationToken::new();
    let running = {
        let (e, stop) = (e.clone(), stop.clone());
        tokio::spawn(async move { e.run(feed, stop).await })
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while acked.lock().unwrap().last() != Some(&2) {
        assert!(tokio::time::Instant::now() < deadline, "acknowledged so far: {:?}", acked.lock().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(e.sink.lines().len(), 6, "every row once");
    e
}

#[tokio::test]
async fn a_backlogs_appends_of_one_blob_arriving_one_by_one_are_read_once() {
    let e = three_appends(60_000).await;
    assert_eq!(e.metrics.blobs_count(BlobResult::Processed), 1);
    assert_eq!(e.metrics.blobs_count(BlobResult::UpToDate), 0, "no second read of the blob");
}

#[tokio::test]
async fn fresh_events_do_not_wait_for_more() {
    // The control: without a backlog each event is its own batch, and the blob is read again
    // for each of the later two (finding nothing new).
    let e = three_appends(0).await;
    assert_eq!(e.metrics.blobs_count(BlobResult::Processed), 1);
    assert_eq!(e.metrics.blobs_count(BlobResult::UpToDate), 2);
}
