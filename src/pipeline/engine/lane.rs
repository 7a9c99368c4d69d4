//! Per-partition state for pipelined batches: the read permits all of its batches share, and
//! the order of its blobs across batches (a blob in a later batch waits until the earlier batch
//! naming it has ended, so two events for one blob are never processed at once or out of order).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Semaphore, watch};

use crate::domain::blob_name::BlobName;

pub(super) struct Lane {
    /// `engine.blob_concurrency` for every batch of the partition together.
    pub reads: Arc<Semaphore>,
    /// Per blob, the end of the latest batch that names it (its sender dropped = ended).
    last: Mutex<HashMap<BlobName, watch::Receiver<()>>>,
}

/// A batch's place in its blobs' order: held until the batch ends.
pub(super) struct Claim {
    /// Ends of the earlier batches naming the blobs of this one.
    pub after: HashMap<BlobName, watch::Receiver<()>>,
    /// Dropped when the batch ends, which releases the later batches waiting on it.
    pub _end: watch::Sender<()>,
}

impl Lane {
    pub fn new(blob_concurrency: usize) -> Arc<Self> {
        Arc::new(Lane { reads: Arc::new(Semaphore::new(blob_concurrency.max(1))), last: Mutex::default() })
    }

    /// Registers a batch naming `blobs`, in the order batches are taken from the partition.
    pub fn claim<'a>(&self, blobs: impl IntoIterator<Item = &'a BlobName>) -> Claim {
        let (end, rx) = watch::channel(());
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        // Entries of ended batches are dropped here, so the map holds only blobs in flight.
        last.retain(|_, r| r.has_changed().is_ok());
        let mut after = HashMap::new();
        for blob in blobs {
            // A blob named twice in one batch waits only for earlier batches, never for its own.
            if let Some(prev) = last.insert(blob.clone(), rx.clone())
                && !prev.same_channel(&rx)
            {
                after.insert(blob.clone(), prev);
            }
        }
        Claim { after, _end: end }
    }
}

impl Claim {
    /// Whether `blob` waits for an earlier batch.
    pub fn waits(&self, blob: &BlobName) -> bool {
        self.after.contains_key(blob)
    }

    /// Waits until the earlier batch naming `blob`, if any, has ended.
    pub async fn turn(&self, blob: &BlobName) {
        if let Some(prev) = self.after.get(blob) {
            let mut prev = prev.clone();
            // Nothing is ever sent: `changed` returns once the sender is dropped.
            while prev.changed().await.is_ok() {}
        }
    }
}
