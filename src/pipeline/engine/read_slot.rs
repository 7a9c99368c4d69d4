//! The read permit a blob of a batch holds while it reads, kept in a task-local slot so that
//! the delivery deep inside a blob's processing can hand it back while it waits for the
//! output hub: the next blobs read while the previous rows are in flight (pipelining), and no
//! more than `engine.blob_concurrency` blobs of a batch hold read buffers at once.
use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::packer::BusyGuard;

tokio::task_local! {
    static SLOT: RefCell<Slot>;
}

pub(crate) struct Slot {
    reads: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
    /// Tells the packer this blob may still add rows to the open event.
    busy: Option<BusyGuard>,
}

impl Slot {
    pub fn new(reads: Arc<Semaphore>, busy: BusyGuard) -> Self {
        Slot { reads, permit: None, busy: Some(busy) }
    }
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
    if let Ok(Some(reads)) = reads {
        // The semaphore is never closed.
        let permit = reads.acquire_owned().await.ok();
        let _ = SLOT.try_with(|s| s.borrow_mut().permit = permit);
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
