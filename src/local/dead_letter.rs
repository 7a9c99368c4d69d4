//! Dead letters as JSON files in a directory, one per failure, written atomically.
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::domain::offset::keys::hex;
use crate::local::atomic;
use crate::pipeline::dead_letter::{DeadLetter, DeadLetterKind, DeadLetterStore};
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};

pub struct LocalDeadLetters {
    dir: PathBuf,
}

impl LocalDeadLetters {
    /// Stores dead letters in `dir`, created if missing.
    pub async fn open(dir: impl Into<PathBuf>) -> ServiceResult<Self> {
        let dir = dir.into();
        let created = dir.clone();
        tokio::task::spawn_blocking(move || atomic::ensure_dir(&created)).await.map_err(join_error)??;
        Ok(LocalDeadLetters { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a letter is stored in: `<kind>-<hash>.json`.
    pub fn path_of(&self, letter: &DeadLetter) -> PathBuf {
        self.dir.join(file_name(letter))
    }
}

/// A name derived from what the failure is about, so dead-lettering the same thing again (a
/// replay after a crash) overwrites the earlier file instead of piling up copies.
///
/// Record and blob letters are pinned down by blob and byte range; their context (partition,
/// sequence number) may differ between replays and is left out. Tuple letters share their
/// record's range and event letters have no blob, so for them context and raw bytes are part of
/// the identity: leaving them out would let one failure overwrite a different one.
fn file_name(letter: &DeadLetter) -> String {
    let exact = matches!(letter.kind, DeadLetterKind::Record | DeadLetterKind::Blob)
        && letter.blob.is_some()
        && letter.range.is_some();
    let (context, raw) = if exact { (None, None) } else { (Some(&letter.context), Some(&letter.raw)) };
    // JSON keeps the fields apart: no two different tuples encode to the same bytes.
    let identity = serde_json::json!([letter.kind, letter.blob, letter.range, context, raw]);
    let digest = Sha256::digest(identity.to_string().as_bytes());
    let kind = match letter.kind {
        DeadLetterKind::Event => "event",
        DeadLetterKind::Record => "record",
        DeadLetterKind::Tuple => "tuple",
        DeadLetterKind::Blob => "blob",
    };
    format!("{kind}-{}.json", &hex(&digest)[..32])
}

fn join_error(e: tokio::task::JoinError) -> ServiceError {
    ServiceError::with_source(ErrorKind::Permanent, "dead-letter task failed", e)
}

impl DeadLetterStore for LocalDeadLetters {
    async fn put(&self, letter: &DeadLetter) -> ServiceResult<()> {
        let path = self.path_of(letter);
        let bytes = serde_json::to_vec_pretty(letter).map_err(|e| {
            ServiceError::with_source(ErrorKind::Permanent, format!("encode dead letter {}", path.display()), e)
        })?;
        tokio::task::spawn_blocking(move || atomic::write_atomic(&path, &bytes)).await.map_err(join_error)?
    }

    fn location(&self) -> String {
        format!("directory {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(kind: DeadLetterKind, blob: Option<&str>, range: Option<(u64, u64)>, context: &str) -> DeadLetter {
        DeadLetter::new(kind, "bad record".to_string(), "2025-01-01T00:00:00Z".to_string())
            .about(blob.map(str::to_string), range, context.to_string())
            .with_raw(b"{\"time\":", 1024)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn letters_round_trip_and_the_same_failure_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDeadLetters::open(dir.path().join("dead")).await.unwrap();
        let first = letter(DeadLetterKind::Record, Some("a/PT1H.json"), Some((12, 40)), "partition 0 seq 5");
        store.put(&first).await.unwrap();
        let stored: DeadLetter = serde_json::from_slice(&std::fs::read(store.path_of(&first)).unwrap()).unwrap();
        assert_eq!(stored, first);
        // A replay of the same bytes from another event: same file, latest content.
        let mut replay = letter(DeadLetterKind::Record, Some("a/PT1H.json"), Some((12, 40)), "partition 0 seq 9");
        replay.at = "2025-01-01T01:00:00Z".to_string();
        store.put(&replay).await.unwrap();
        assert_eq!(files(store.dir()).len(), 1, "no temp files left and no duplicate");
        let stored: DeadLetter = serde_json::from_slice(&std::fs::read(store.path_of(&first)).unwrap()).unwrap();
        assert_eq!(stored, replay);
        assert!(files(store.dir())[0].starts_with("record-"));
    }

    #[tokio::test]
    async fn different_failures_get_different_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDeadLetters::open(dir.path()).await.unwrap();
        let mut event_b = letter(DeadLetterKind::Event, None, None, "partition 1 seq 2");
        event_b.raw = "other bytes".to_string();
        let letters = [
            letter(DeadLetterKind::Record, Some("a/PT1H.json"), Some((12, 40)), ""),
            letter(DeadLetterKind::Record, Some("a/PT1H.json"), Some((40, 80)), ""),
            letter(DeadLetterKind::Record, Some("b/PT1H.json"), Some((12, 40)), ""),
            letter(DeadLetterKind::Blob, Some("a/PT1H.json"), Some((12, 40)), ""),
            letter(DeadLetterKind::Tuple, Some("a/PT1H.json"), Some((12, 40)), "tuple 0"),
            letter(DeadLetterKind::Tuple, Some("a/PT1H.json"), Some((12, 40)), "tuple 1"),
            letter(DeadLetterKind::Event, None, None, "partition 1 seq 1"),
            event_b,
        ];
        for l in &letters {
            store.put(l).await.unwrap();
        }
        assert_eq!(files(dir.path()).len(), letters.len());
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_an_error_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        let err = LocalDeadLetters::open(blocker.join("dead")).await.err().expect("parent is a file");
        assert!(err.message.contains("file/dead"), "{err}");
    }
}
