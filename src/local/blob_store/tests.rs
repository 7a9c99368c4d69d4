//! Tests of the file-system blob store: confinement to the root, chunked range reads, listings.
use futures::TryStreamExt;

use super::*;
use crate::pipeline::error::ErrorKind;

fn write(root: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    path
}

async fn read_all(store: &LocalBlobStore, blob: &BlobName, range: Range<u64>) -> ServiceResult<Vec<Bytes>> {
    store.read_range(blob, range).await?.try_collect().await
}

#[tokio::test]
async fn names_that_could_escape_or_alias_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(dir.path(), "secret/PT1H.json", b"secret");
    write(&root, "a/PT1H.json", b"fine");
    let store = LocalBlobStore::new(&root);
    let absolute = dir.path().join("secret/PT1H.json");
    for name in [
        "",
        "/etc/passwd",
        absolute.to_str().unwrap(),
        "../secret/PT1H.json",
        "a/../../secret/PT1H.json",
        "a//PT1H.json",
        "./a/PT1H.json",
        "a/./PT1H.json",
        "a/",
        "..",
        "a/\0",
    ] {
        let blob = BlobName::from(name);
        let err = store.properties(&blob).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Permanent, "{name:?}: {err}");
        let err = store.read_range(&blob, 0..1).await.err().expect("read must be refused");
        assert_eq!(err.kind, ErrorKind::Permanent, "{name:?}: {err}");
    }
    assert_eq!(store.properties(&BlobName::from("a/PT1H.json")).await.unwrap().content_length, 4);
}

#[tokio::test]
async fn range_reads_across_chunk_boundaries_equal_the_file_slice() {
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    write(dir.path(), "x/PT1H.json", &content);
    let store = LocalBlobStore::new(dir.path()).with_chunk_size(7);
    let blob = BlobName::from("x/PT1H.json");
    for range in [0..1000, 3..998, 7..14, 6..8, 999..1000, 5..5] {
        let chunks = read_all(&store, &blob, range.clone()).await.unwrap();
        assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= 7), "{range:?}");
        assert_eq!(chunks.concat(), &content[range.start as usize..range.end as usize], "{range:?}");
    }
    // Default chunk size: one chunk for a small file.
    let whole = read_all(&LocalBlobStore::new(dir.path()), &blob, 0..1000).await.unwrap();
    assert_eq!(whole.len(), 1);
    #[allow(clippy::reversed_empty_ranges)] // start after end is exactly what must be refused
    let bad_ranges = [0..1001, 10..5];
    for bad in bad_ranges {
        let err = store.read_range(&blob, bad.clone()).await.err().expect("out of range");
        assert_eq!(err.kind, ErrorKind::Permanent, "{bad:?}");
    }
}

#[tokio::test]
async fn a_file_that_shrinks_mid_read_is_a_transient_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "PT1H.json", &[b'x'; 100]);
    let store = LocalBlobStore::new(dir.path()).with_chunk_size(10);
    let mut stream = store.read_range(&BlobName::from("PT1H.json"), 0..100).await.unwrap();
    assert_eq!(stream.try_next().await.unwrap().unwrap().len(), 10);
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(15).unwrap();
    let err = stream.try_next().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn properties_report_length_birth_time_and_absence() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a/PT1H.json", b"{\"records\":[]}");
    let store = LocalBlobStore::new(dir.path());
    let props = store.properties(&BlobName::from("a/PT1H.json")).await.unwrap();
    assert_eq!(props.content_length, 14);
    let birth = std::fs::metadata(&path).unwrap().created().ok();
    let expected = birth.map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64);
    assert_eq!(props.created_ms, expected);
    let err = store.properties(&BlobName::from("b/PT1H.json")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = store.properties(&BlobName::from("a")).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent, "a directory is not a blob");
}

#[tokio::test]
async fn list_finds_flow_logs_sorted_and_filtered_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["b/h=01/PT1H.json", "a/h=02/PT1H.json", "a/h=01/PT1H.json", "ab/PT1H.json", "PT1H.json"] {
        write(dir.path(), name, name.as_bytes());
    }
    write(dir.path(), "a/h=01/other.json", b"not a flow log");
    write(dir.path(), "a/PT1H.json.tmp", b"not a flow log");
    let store = LocalBlobStore::new(dir.path());
    let names = |listing: Vec<BlobListing>| listing.into_iter().map(|l| l.blob.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(store.list("").await.unwrap()),
        ["PT1H.json", "a/h=01/PT1H.json", "a/h=02/PT1H.json", "ab/PT1H.json", "b/h=01/PT1H.json"]
    );
    assert_eq!(names(store.list("a/").await.unwrap()), ["a/h=01/PT1H.json", "a/h=02/PT1H.json"]);
    assert_eq!(names(store.list("a").await.unwrap()), ["a/h=01/PT1H.json", "a/h=02/PT1H.json", "ab/PT1H.json"]);
    assert_eq!(names(store.list("a/h=0").await.unwrap()), ["a/h=01/PT1H.json", "a/h=02/PT1H.json"]);
    assert!(store.list("c/").await.unwrap().is_empty());
    let listing = store.list("b/").await.unwrap();
    assert_eq!(listing[0].properties.content_length, "b/h=01/PT1H.json".len() as u64);
    // Every listed name resolves back to its file.
    for l in store.list("").await.unwrap() {
        assert_eq!(store.properties(&l.blob).await.unwrap().content_length, l.properties.content_length);
    }
    let missing = LocalBlobStore::new(dir.path().join("nope"));
    assert_eq!(missing.list("").await.unwrap_err().kind, ErrorKind::NotFound);
}
