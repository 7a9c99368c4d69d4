//! Files swapped under the engine in local mode between the listing that found them and the
//! reads: a symbolic link out of the watch directory, a directory replaced by a link, a FIFO.
//! What is opened is what was checked: no byte from outside the root reaches the rows, the dead
//! letters or an error's text, and a FIFO never blocks a read. Each swap happens at a fixed
//! point (a hook in the blob store), so every run exercises the same interleaving.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowlog::domain::blob_name::BlobName;
use flowlog::local::blob_store::LocalBlobStore;
use flowlog::pipeline::blob_store::{BlobListing, BlobProperties, BlobStore, ChunkStream};
use flowlog::pipeline::dead_letter::memory::MemoryDeadLetters;
use flowlog::pipeline::engine::{Engine, EngineConfig};
use flowlog::pipeline::error::ServiceResult;
use flowlog::pipeline::offset_store::memory::MemoryOffsetStore;
use flowlog::pipeline::row_sink::memory::MemoryRowSink;

const SAMPLE: &str = include_str!("../samples/nsg_v2.json");
/// In the outside files only: found anywhere in output, a dead letter or an error, it leaked.
const OUTSIDE: &str = "OUTSIDEROOT";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nOUTSIDEROOTMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n";

/// Which call of the store the swap comes before.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Before {
    /// The first `properties` (right after the listing).
    Properties,
    /// The first `read_range` (after the properties were checked).
    Read,
}

type Swap = Box<dyn FnOnce() + Send>;

/// The local store with a swap run once, just before the chosen call.
struct Swapping {
    inner: LocalBlobStore,
    before: Before,
    swap: Mutex<Option<Swap>>,
}

impl Swapping {
    fn at(&self, call: Before) {
        if call == self.before
            && let Some(swap) = self.swap.lock().unwrap().take()
        {
            swap();
        }
    }
}

impl BlobStore for Swapping {
    async fn properties(&self, blob: &BlobName) -> ServiceResult<BlobProperties> {
        self.at(Before::Properties);
        self.inner.properties(blob).await
    }
    async fn read_range(&self, blob: &BlobName, range: std::ops::Range<u64>) -> ServiceResult<ChunkStream> {
        self.at(Before::Read);
        self.inner.read_range(blob, range).await
    }
    fn atomic_commits(&self) -> bool {
        self.inner.atomic_commits()
    }
    fn checks_content(&self) -> bool {
        self.inner.checks_content()
    }
    async fn list(&self, prefix: &str) -> ServiceResult<Vec<BlobListing>> {
        self.inner.list(prefix).await
    }
}

/// `dir/root/a/PT1H.json` (the sample), and outside the root `dir/outside/PT1H.json` (the sample
/// with a marker) and `dir/outside/key.pem`.
fn layout() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("a/PT1H.json"), SAMPLE).unwrap();
    std::fs::write(outside.join("PT1H.json"), SAMPLE.replace("FABRIAKMVM1-NSG", OUTSIDE)).unwrap();
    std::fs::write(outside.join("key.pem"), KEY).unwrap();
    (dir, root, outside)
}

/// Replaces `path` atomically (a rename, as tools do) by a symbolic link to `target`.
fn link_over(path: &Path, target: &Path) {
    let temp = path.with_extension("swap");
    std::os::unix::fs::symlink(target, &temp).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// Replaces `path` atomically by a FIFO.
fn fifo_over(path: &Path) {
    let temp = path.with_extension("swap");
    assert!(std::process::Command::new("mkfifo").arg(&temp).status().unwrap().success());
    std::fs::rename(&temp, path).unwrap();
}

/// Lists the root (the listing sees the regular file), swaps at `before`, processes the blob,
/// and returns the error text (if any) after checking that nothing from outside leaked.
async fn swap_then_process(root: &Path, before: Before, swap: Swap) -> Option<String> {
    let store = Swapping { inner: LocalBlobStore::new(root), before, swap: Mutex::new(Some(swap)) };
    let listed = store.list("").await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (sink, dead) = (Arc::new(MemoryRowSink::new()), Arc::new(MemoryDeadLetters::new()));
    let engine = Engine::new(
        Arc::new(store),
        Arc::new(MemoryOffsetStore::new()),
        sink.clone(),
        dead.clone(),
        EngineConfig::default(),
    );
    // A bound, not a pause: a read blocked on a FIFO must fail the test rather than hang it.
    let Ok(result) = tokio::time::timeout(Duration::from_secs(20), engine.process_blob(&listed[0].blob)).await else {
        // Let a read blocked in a FIFO's open return (a writer came), so the test fails instead of hanging.
        use std::os::unix::fs::OpenOptionsExt;
        let fifo = root.join("a/PT1H.json");
        let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(fifo);
        panic!("{before:?}: processing a swapped file blocked");
    };
    let error = result.err().map(|e| e.to_string());
    let lines = sink.lines().join("\n");
    assert!(!lines.contains(OUTSIDE), "rows from outside the root were delivered: {}", &lines[..lines.len().min(300)]);
    for letter in dead.letters() {
        let text = serde_json::to_string(&letter).unwrap();
        assert!(!text.contains(OUTSIDE) && !text.contains("PRIVATE KEY"), "outside bytes in a dead letter: {text}");
    }
    if let Some(e) = &error {
        assert!(!e.contains(OUTSIDE) && !e.contains("PRIVATE KEY"), "outside bytes in the error: {e}");
    }
    error
}

#[tokio::test]
async fn a_file_swapped_for_a_link_out_of_the_root_is_never_read() {
    for before in [Before::Properties, Before::Read] {
        for name in ["PT1H.json", "key.pem"] {
            let (_dir, root, outside) = layout();
            let (file, target) = (root.join("a/PT1H.json"), outside.join(name));
            let error = swap_then_process(&root, before, Box::new(move || link_over(&file, &target))).await;
            let error = error.unwrap_or_else(|| panic!("{before:?} {name}: a link must be refused"));
            assert!(error.contains("symbolic link"), "{before:?}: {error}");
        }
    }
}

#[tokio::test]
async fn a_directory_swapped_for_a_link_out_of_the_root_is_never_read() {
    for before in [Before::Properties, Before::Read] {
        let (_dir, root, outside) = layout();
        let dir = root.join("a");
        let swap = move || {
            std::fs::rename(&dir, dir.with_extension("old")).unwrap();
            std::os::unix::fs::symlink(&outside, &dir).unwrap();
        };
        let error = swap_then_process(&root, before, Box::new(swap)).await;
        let error = error.unwrap_or_else(|| panic!("{before:?}: a linked directory must be refused"));
        assert!(error.contains("symbolic link"), "{before:?}: {error}");
    }
}

#[tokio::test]
async fn a_file_swapped_for_a_fifo_fails_at_once_instead_of_blocking() {
    for before in [Before::Read, Before::Properties] {
        let (_dir, root, _) = layout();
        let file = root.join("a/PT1H.json");
        let fifo = file.clone();
        let error = swap_then_process(&root, before, Box::new(move || fifo_over(&fifo))).await;
        let error = error.unwrap_or_else(|| panic!("{before:?}: a FIFO must be refused"));
        assert!(error.contains("FIFO"), "{before:?}: {error}");
        // Nobody ever opened the FIFO for writing: any read still waiting on it would hang the
        // runtime's shutdown at the end of this test.
        std::fs::remove_file(&file).unwrap();
    }
}

#[tokio::test]
async fn the_same_file_without_a_swap_is_delivered() {
    let (_dir, root, _) = layout();
    let store = LocalBlobStore::new(&root);
    let listed = store.list("").await.unwrap();
    let sink = Arc::new(MemoryRowSink::new());
    let engine = Engine::new(
        Arc::new(store),
        Arc::new(MemoryOffsetStore::new()),
        sink.clone(),
        Arc::new(MemoryDeadLetters::new()),
        EngineConfig::default(),
    );
    engine.process_blob(&listed[0].blob).await.unwrap();
    assert_eq!(sink.lines().len(), 6, "the sample's six rows");
}
