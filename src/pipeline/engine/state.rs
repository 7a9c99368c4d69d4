//! What the engine's partition tasks share at run time: the partitions this worker owns (the
//! pending sweep retries only their blobs), blobs that stopped advancing, and the stop signal.
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use crate::domain::blob_name::BlobName;

#[derive(Default)]
pub struct EngineState {
    owned: Mutex<HashSet<String>>,
    /// Blobs whose committed offset is short of their committed region, since when (Unix ms).
    behind: Mutex<BTreeMap<BlobName, i64>>,
    /// Fired when the run is asked to stop; retries that would otherwise go on end with it.
    pub stopping: CancellationToken,
}

impl EngineState {
    pub fn own(&self, partition: &str, owned: bool) {
        let mut set = self.owned.lock().unwrap_or_else(|p| p.into_inner());
        if owned {
            set.insert(partition.to_string());
        } else {
            set.remove(partition);
        }
    }

    pub fn owns(&self, partition: &str) -> bool {
        self.owned.lock().unwrap_or_else(|p| p.into_inner()).contains(partition)
    }

    /// Records whether `blob` is behind its committed region after an attempt at `now_ms`.
    pub fn note_progress(&self, blob: &BlobName, behind: bool, now_ms: i64) {
        let mut map = self.behind.lock().unwrap_or_else(|p| p.into_inner());
        if behind {
            map.entry(blob.clone()).or_insert(now_ms);
        } else {
            map.remove(blob);
        }
    }

    /// Blobs behind for at least `stall_after_ms`, oldest first, with their age.
    pub fn stalled(&self, now_ms: i64, stall_after_ms: i64) -> Vec<(BlobName, i64)> {
        let map = self.behind.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(BlobName, i64)> = map
            .iter()
            .map(|(b, since)| (b.clone(), now_ms - since))
            .filter(|(_, age)| *age >= stall_after_ms)
            .collect();
        v.sort_by_key(|(_, age)| std::cmp::Reverse(*age));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_stalls_only_after_the_age_and_recovers_on_progress() {
        let s = EngineState::default();
        let b = BlobName::from("a/PT1H.json");
        s.note_progress(&b, true, 1_000);
        s.note_progress(&b, true, 5_000); // the first time it fell behind counts
        assert!(s.stalled(5_999, 5_000).is_empty());
        assert_eq!(s.stalled(6_000, 5_000), vec![(b.clone(), 5_000)]);
        s.note_progress(&b, false, 7_000);
        assert!(s.stalled(100_000, 5_000).is_empty());
        s.own("3", true);
        assert!(s.owns("3") && !s.owns("4"));
        s.own("3", false);
        assert!(!s.owns("3"));
    }
}
