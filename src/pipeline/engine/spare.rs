//! Buffers of sent output events, kept for the next events' rows when the sink only read them.
//!
//! Rows written into fresh memory cost a page fault for every 4 KiB, event after event: in a
//! quiet drain's profile that was a tenth of a replica's CPU (the packer copying rows into a new
//! event's buffer). A gzip sink compresses an event's rows into bodies of its own, so once it
//! answered, the buffer can take the next event's rows, its pages already in place.
use std::sync::{Mutex, PoisonError};

use bytes::{Bytes, BytesMut};

/// Emptied buffers kept at most: one event fills while another is sent.
const SPARE_BUFFERS: usize = 2;

/// Larger buffers are not kept (busy gzip events reach 16 MiB of rows): memory a replica holds
/// between events for this stays below `SPARE_BUFFERS` times this.
const SPARE_MAX_BYTES: usize = 8 * 1024 * 1024;

#[derive(Default)]
pub(crate) struct Spares(Mutex<Vec<BytesMut>>);

impl Spares {
    /// An empty buffer: a kept one, or a new one without capacity.
    pub fn take(&self) -> BytesMut {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default()
    }

    /// Keeps a sent event's body for a later event, when nobody else holds any part of it.
    pub fn keep(&self, body: Bytes) {
        let Ok(mut buffer) = body.try_into_mut() else { return };
        if buffer.capacity() > SPARE_MAX_BYTES {
            return;
        }
        buffer.clear();
        let mut spare = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < SPARE_BUFFERS {
            spare.push(buffer);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unshared_buffers_of_a_bounded_size_are_kept() {
        let spares = Spares::default();
        let body = Bytes::from(vec![b'x'; 100]);
        let shared = body.clone();
        spares.keep(body);
        assert_eq!(spares.len(), 0, "a buffer some sink still holds is not reused");
        spares.keep(shared);
        assert_eq!(spares.len(), 1);
        let taken = spares.take();
        assert!(taken.is_empty() && taken.capacity() >= 100, "kept emptied, with its capacity");
        spares.keep(Bytes::from(vec![0u8; SPARE_MAX_BYTES + 1]));
        assert_eq!(spares.len(), 0, "too large to keep");
        for _ in 0..SPARE_BUFFERS + 1 {
            spares.keep(Bytes::from(vec![0u8; 10]));
        }
        assert_eq!(spares.len(), SPARE_BUFFERS, "at most SPARE_BUFFERS");
    }
}
