//! In-memory offset store with the same compare-and-swap contract as the Table and file stores.
use std::collections::HashMap;
use std::sync::Mutex;

use super::{OffsetStore, Version};
use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::pipeline::error::{ServiceError, ServiceResult};

#[derive(Default)]
pub struct MemoryOffsetStore {
    entries: Mutex<HashMap<BlobName, (OffsetState, u64)>>,
    next_version: Mutex<u64>,
}

impl MemoryOffsetStore {
    pub fn new() -> Self {
        Self::default()
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

    async fn sweep(&self, cutoff_ms: i64) -> ServiceResult<u64> {
        let mut entries = self.entries.lock().unwrap();
        let before = entries.len();
        entries.retain(|_, (s, _)| s.updated_at_ms >= cutoff_ms);
        Ok((before - entries.len()) as u64)
    }
}
