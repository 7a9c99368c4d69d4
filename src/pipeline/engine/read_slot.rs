//! The read permit a blob of a batch holds while it reads, kept in a task-local slot so that
//! the delivery deep inside a blob's processing can hand it back while it waits for the
//! output hub: the next blobs read while the previous rows are in flight (pipelining), and no
//! more than `engine.blob_concurrency` blobs of a partition, and `engine.max_reading_blobs` of
//! the worker, hold read buffers at once.
use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::packer::BusyGuard;

tokio::task_local! {
    static SLOT: RefCell<Slot>;
}

pub(crate) struct Slot {
    /// The partition's permits, then the worker's (always taken in that order).
    reads: [Arc<Semaphore>; 2],
    permit: Option<[OwnedSemaphorePermit; 2]>,
    /// Tells the packer this blob may still add rows to the open event.
    busy: Option<BusyGuard>,
    /// The blob's events were enqueued longer ago than `backlog_linger`: its rows may linger
    /// that long.
    behind: bool,
}

impl Slot {
    pub fn new(reads: [Arc<Semaphore>; 2], busy: BusyGuard, behind: bool) -> Self {
        Slot { reads, permit: None, busy: Some(busy), behind }
    }
}

/// Whether the blob being processed is part of a backlog (false outside a batch).
pub(crate) fn behind() -> bool {
    SLOT.try_with(|s| s.borrow().behind).unwrap_or(false)
}

/// Runs `f` (one blob's processing) with `slot` as its read slot.
pub(crate) async fn scoped<F: Future>(slot: Slot, f: F) -> F::Output {
    SLOT.scope(RefCell::new(slot), f).await
}

/// Takes a read permit unless one is held; a no-op outside a batch (the pending sweep).
pub(crate) async fn acquire() {
    let reads = SLOT.try_with(|s| {
        let s = s.borrow();
        s.permit.is_none().then(|| s.reads.clone())
    });
    if let Ok(Some([partition, worker])) = reads {
        // The semaphores are never closed.
        let (Ok(first), Ok(second)) = (partition.acquire_owned().await, worker.acquire_owned().await) else {
            return;
        };
        let _ = SLOT.try_with(|s| s.borrow_mut().permit = Some([first, second]));
    }
}

/// Gives the read permit back before waiting for the output hub; `finished` when the blob has
/// no more rows to add (it stops counting as busy for the packer).
pub(crate) fn release(finished: bool) {
    let _ = SLOT.try_with(|s| {
        let mut s = s.borrow_mut();
        s.permit = None;
        if finished {
            s.busy = None;
        }
    });
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;
    use crate::pipeline::engine::packer::Packer;

    #[tokio::test]
    async fn the_workers_permits_bound_reading_blobs_across_partitions() {
        // One read for the worker, four per partition: a blob of another partition still waits.
        let (worker, packer) = (Arc::new(Semaphore::new(1)), Arc::new(Packer::default()));
        let slot = || Slot::new([Arc::new(Semaphore::new(4)), worker.clone()], packer.busy(), false);
        let mut reading = Box::pin(scoped(slot(), async {
            acquire().await;
            std::future::pending::<()>().await
        }));
        assert!(reading.as_mut().now_or_never().is_none());
        assert_eq!(worker.available_permits(), 0, "the first blob reads");
        let mut other = Box::pin(scoped(slot(), acquire()));
        assert!(other.as_mut().now_or_never().is_none(), "another partition's blob waits for the worker");
        drop(reading);
        assert!(other.as_mut().now_or_never().is_some(), "and reads once the first is done");
    }
}
