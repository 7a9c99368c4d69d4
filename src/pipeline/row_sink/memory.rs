//! In-memory row sink for unit tests: keeps every delivered line, can be told to fail.
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{RowBatch, RowSink};
use crate::pipeline::error::{ServiceError, ServiceResult};

#[derive(Default)]
pub struct MemoryRowSink {
    lines: Mutex<Vec<String>>,
    batch_lines: Mutex<Vec<Vec<String>>>,
    batches: AtomicUsize,
    fail_next: AtomicUsize,
    /// The event size reported to the engine (`None`: no limit).
    segment_bytes: Option<usize>,
}

impl MemoryRowSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink whose events hold at most `bytes` (the engine packs rows to that size).
    pub fn with_segment_bytes(bytes: usize) -> Self {
        MemoryRowSink { segment_bytes: Some(bytes), ..Self::default() }
    }

    /// The rows of each accepted batch, in order.
    pub fn batch_lines(&self) -> Vec<Vec<String>> {
        self.batch_lines.lock().unwrap().clone()
    }

    /// The next `n` sends fail with a transient error and deliver nothing.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn batches(&self) -> usize {
        self.batches.load(Ordering::SeqCst)
    }
}

impl RowSink for MemoryRowSink {
    fn segment_bytes(&self) -> Option<usize> {
        self.segment_bytes
    }

    async fn send(&self, batch: RowBatch<'_>) -> ServiceResult<()> {
        if self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(ServiceError::transient("injected sink failure"));
        }
        let mut batch_lines = Vec::new();
        for segment in &batch.segments {
            let text = std::str::from_utf8(segment).map_err(|e| {
                ServiceError::with_source(crate::pipeline::error::ErrorKind::Permanent, "rows are not UTF-8", e)
            })?;
            batch_lines.extend(text.lines().map(str::to_string));
        }
        self.lines.lock().unwrap().extend(batch_lines.iter().cloned());
        self.batch_lines.lock().unwrap().push(batch_lines);
        self.batches.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
