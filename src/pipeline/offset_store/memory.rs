//! In-memory offset store with the same compare-and-swap contract as the Table and file stores.
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{OffsetStore, Version};
use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::pipeline::error::{ServiceError, ServiceResult};

#[derive(Default)]
pub struct MemoryOffsetStore {
    entries: Mutex<HashMap<BlobName, (OffsetState, u64)>>,
    next_version: Mutex<u64>,
    fail_saves: AtomicUsize,
}

impl MemoryOffsetStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` saves fail with a transient error and write nothing.
    pub fn fail_saves(&self, n: usize) {
        self.fail_saves.store(n, Ordering::SeqCst);
    }

    pub fn get(&self, blob: &BlobName) -> Option<OffsetState> {
        self.entries.lock().unwrap().get(blob).map(|(s, _)| s.clone())
    }
}

impl OffsetStore for MemoryOffsetStore {
    async fn load(&self, blob: &BlobName) -> ServiceResult<Option<(OffsetState, Version)>> {
        Ok(self.entries.lock().unwrap().get(blob).map(|(s, v)| (s.clone(), Version(v.to_string()))))
    }

    async fn save(&self, blob: &BlobName, state: &OffsetState, expected: Option<&Version>) -> ServiceResult<Version> {
        if self.fail_saves.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(ServiceError::transient(format!("injected failure saving the offset of {blob}")));
        }
        let mut entries = self.entries.lock().unwrap();
        let current = entries.get(blob).map(|(_, v)| v.to_string());
        if current.as_deref() != expected.map(|v| v.0.as_str()) {
            return Err(ServiceError::conflict(format!(
                "offset of {blob}: expected version {expected:?}, found {current:?}"
            )));
        }
        let mut next = self.next_version.lock().unwrap();
        *next += 1;
        entries.insert(blob.clone(), (state.clone(), *next));
        Ok(Version(next.to_string()))
    }

    async fn pending(&self) -> ServiceResult<Vec<(BlobName, OffsetState)>> {
        let entries = self.entries.lock().unwrap();
        Ok(entries.iter().filter(|(_, (s, _))| s.pending.is_some()).map(|(b, (s, _))| (b.clone(), s.clone())).collect())
    }

    async fn sweep(&self, cutoff_ms: i64) -> ServiceResult<u64> {
        let mut entries = self.entries.lock().unwrap();
        let before = entries.len();
        entries.retain(|_, (s, _)| s.updated_at_ms >= cutoff_ms);
        Ok((before - entries.len()) as u64)
    }
}
