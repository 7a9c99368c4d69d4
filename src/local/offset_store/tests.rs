//! Tests of the file offset store: the compare-and-swap contract, persistence, crash leftovers, corruption, sweep.
use super::*;

fn state(offset: u64, updated_at_ms: i64) -> OffsetState {
    OffsetState {
        generation: 0,
        open_tuples: 0,
        pending: None,
        offset,
        blob_created_ms: Some(7),
        last_content_length: offset + 2,
        rows_emitted: offset,
        updated_at_ms,
        content: None,
    }
}

fn blob(name: &str) -> BlobName {
    BlobName::from(name)
}

#[tokio::test]
async fn insert_update_and_versions_increase() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).await.unwrap();
    let b = blob("a/y=2025/PT1H.json");
    assert_eq!(store.load(&b).await.unwrap(), None);
    let v1 = store.save(&b, &state(10, 1), None).await.unwrap();
    assert_eq!(store.load(&b).await.unwrap(), Some((state(10, 1), v1.clone())));
    let v2 = store.save(&b, &state(20, 2), Some(&v1)).await.unwrap();
    let n = |v: &Version| v.0.parse::<u64>().unwrap();
    assert!(n(&v2) > n(&v1), "{v1:?} -> {v2:?}");
    assert_eq!(store.load(&b).await.unwrap(), Some((state(20, 2), v2)));
    // The file sits where the Table store's keys say, and records the blob's full name.
    let keys = entity_keys(&b);
    let file = dir.path().join(&keys.partition_key).join(format!("{}.json", keys.row_key));
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("a/y=2025/PT1H.json"), "{text}");
}

#[tokio::test]
async fn stale_versions_and_wrong_inserts_conflict_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).await.unwrap();
    let b = blob("b/PT1H.json");
    let conflict = |r: ServiceResult<Version>| assert_eq!(r.unwrap_err().kind, ErrorKind::Conflict);
    // Update of an absent entry.
    conflict(store.save(&b, &state(1, 1), Some(&Version("1".into()))).await);
    let v1 = store.save(&b, &state(10, 1), None).await.unwrap();
    // Insert when present.
    conflict(store.save(&b, &state(99, 9), None).await);
    let v2 = store.save(&b, &state(20, 2), Some(&v1)).await.unwrap();
    // Stale and garbage versions.
    conflict(store.save(&b, &state(99, 9), Some(&v1)).await);
    conflict(store.save(&b, &state(99, 9), Some(&Version("not a version".into()))).await);
    assert_eq!(store.load(&b).await.unwrap(), Some((state(20, 2), v2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalOffsetStore::open(dir.path()).await.unwrap());
    let tasks: Vec<_> = (0..16u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.save(&blob("race/PT1H.json"), &state(i, 1), None).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(v) => winners.push((i as u64, v)),
            Err(e) => assert_eq!(e.kind, ErrorKind::Conflict, "{e}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let (offset, version) = winners.pop().unwrap();
    assert_eq!(store.load(&blob("race/PT1H.json")).await.unwrap(), Some((state(offset, 1), version)));
}

#[tokio::test]
async fn state_survives_reopen_and_a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = blob("c/PT1H.json");
    let store = LocalOffsetStore::open(dir.path()).await.unwrap();
    let v1 = store.save(&b, &state(5, 1), None).await.unwrap();
    let err = LocalOffsetStore::open(dir.path()).await.err().expect("directory is locked");
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains(".lock"), "{err}");
    drop(store);
    let store = LocalOffsetStore::open(dir.path()).await.unwrap();
    assert_eq!(store.load(&b).await.unwrap(), Some((state(5, 1), v1.clone())));
    store.save(&b, &state(6, 2), Some(&v1)).await.unwrap();
}

#[tokio::test]
async fn a_temp_file_left_by_a_crash_is_ignored_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let (saved, unsaved) = (blob("d/PT1H.json"), blob("e/PT1H.json"));
    let store = LocalOffsetStore::open(dir.path()).await.unwrap();
    let v1 = store.save(&saved, &state(5, 1), None).await.unwrap();
    // What a crash between "write temp" and "rename" leaves: a torn temp beside each target.
    let mut strays = Vec::new();
    for b in [&saved, &unsaved] {
        let (_, path) = store.locate(b);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        let stray = path.with_file_name(format!(".{name}.4242.0.tmp"));
        std::fs::write(&stray, b"{\"blob\": \"d/PT1H.json\", \"vers").unwrap();
        strays.push(stray);
    }
    assert_eq!(store.load(&saved).await.unwrap(), Some((state(5, 1), v1.clone())));
    assert_eq!(store.load(&unsaved).await.unwrap(), None);
    assert_eq!(store.sweep(i64::MAX).await.unwrap(), 1, "only the real entry is swept");
    drop(store);
    LocalOffsetStore::open(dir.path()).await.unwrap();
    assert!(strays.iter().all(|s| !s.exists()), "reopening removes crash leftovers");
}

#[tokio::test]
async fn a_corrupt_file_is_a_permanent_error_naming_it_never_absent() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).await.unwrap();
    let (b, other) = (blob("f/PT1H.json"), blob("g/PT1H.json"));
    store.save(&b, &state(5, 1), None).await.unwrap();
    let (_, path) = store.locate(&b);
    std::fs::write(&path, b"{\"blob\":\"f/PT1H.json\",\"version\":3,\"sta").unwrap();
    let err = store.load(&b).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains(path.to_str().unwrap()), "{err}");
    // An insert must not paper over it either, nor may the sweep delete it.
    assert_eq!(store.save(&b, &state(0, 1), None).await.unwrap_err().kind, ErrorKind::Permanent);
    assert_eq!(store.sweep(i64::MAX).await.unwrap(), 0);
    assert!(path.exists());
    // A well-formed file for another blob in this one's place is refused too.
    store.save(&other, &state(1, 1), None).await.unwrap();
    std::fs::copy(store.locate(&other).1, &path).unwrap();
    let err = store.load(&b).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permanent);
    assert!(err.message.contains("g/PT1H.json"), "{err}");
}

#[tokio::test]
async fn sweep_deletes_only_entries_older_than_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalOffsetStore::open(dir.path()).await.unwrap();
    let mut versions = Vec::new();
    for i in 0..20 {
        versions.push(store.save(&blob(&format!("s/{i}/PT1H.json")), &state(i, i as i64 * 100), None).await.unwrap());
    }
    assert_eq!(store.sweep(500).await.unwrap(), 5);
    for i in 0..20 {
        let loaded = store.load(&blob(&format!("s/{i}/PT1H.json"))).await.unwrap();
        assert_eq!(loaded.is_some(), i >= 5, "entry {i}");
    }
    // A swept blob can be inserted afresh, and a version from before the sweep must not match the
    // new incarnation (a counter restarting at 1 would let a stale writer win).
    let b = blob("s/1/PT1H.json");
    let v = store.save(&b, &state(1, 1000), None).await.unwrap();
    assert_ne!(v, versions[1]);
    assert_eq!(store.save(&b, &state(2, 1000), Some(&versions[1])).await.unwrap_err().kind, ErrorKind::Conflict);
}

#[tokio::test]
async fn sweep_keeps_offsets_of_blobs_still_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("logs");
    for name in ["a/PT1H.json", "insights-logs-x/b/PT1H.json"] {
        std::fs::create_dir_all(root.join(name).parent().unwrap()).unwrap();
        std::fs::write(root.join(name), b"{}").unwrap();
    }
    let store = LocalOffsetStore::open(dir.path().join("offsets")).await.unwrap().sweeping_only_gone(&root);
    for name in ["a/PT1H.json", "insights-logs-x/b/PT1H.json", "gone/PT1H.json"] {
        store.save(&blob(name), &state(1, 0), None).await.unwrap();
    }
    assert_eq!(store.sweep(1_000).await.unwrap(), 1, "only the offset of the file that is gone");
    assert!(store.load(&blob("gone/PT1H.json")).await.unwrap().is_none());
    assert!(store.load(&blob("a/PT1H.json")).await.unwrap().is_some());
    assert!(store.load(&blob("insights-logs-x/b/PT1H.json")).await.unwrap().is_some());
}
