//! The Table offset store against Azurite: exact round trips, ETag compare-and-swap between
//! concurrent writers, insert races, the retention sweep, and connections kept open.
mod common;

use std::sync::atomic::Ordering;

use common::counting_relay::counting_relay;
use common::*;
use flowlog::azure::StorageAuth;
use flowlog::azure::table::TableOffsetStore;
use flowlog::domain::blob_name::BlobName;
use flowlog::domain::offset::OffsetState;
use flowlog::pipeline::error::ErrorKind;
use flowlog::pipeline::offset_store::{OffsetStore, Version};

/// A store on a fresh table. Each call builds its own client, like a separate daemon replica.
async fn store_on(table: &str) -> TableOffsetStore {
    let store = TableOffsetStore::new(&table_endpoint(), table, &StorageAuth::emulator()).expect("store");
    store.ensure_table().await.expect("ensure_table");
    store
}

fn state(offset: u64, updated_at_ms: i64) -> OffsetState {
    OffsetState {
        generation: 0,
        open_tuples: 0,
        pending: None,
        offset,
        blob_created_ms: Some(1_735_689_600_000),
        last_content_length: offset + 2,
        rows_emitted: offset / 10,
        updated_at_ms,
        content: None,
    }
}

fn blob(i: usize) -> BlobName {
    BlobName::new(format!(
        "devstoreaccount1/insights-logs-flowlogflowevent/flowLogResourceID=/X/y=2025/m=01/d=01/h={i:02}/m=00/macAddress=00AA/PT1H.json"
    ))
}

#[tokio::test]
async fn offsets_round_trip_exactly_and_versions_advance() {
    let table = unique_name("offsets");
    let store = store_on(&table).await;
    store.ensure_table().await.expect("ensure_table is idempotent");
    let b = blob(0);
    assert!(store.load(&b).await.expect("load").is_none());

    // Values beyond Int32 and Double precision must come back exactly (Edm.Int64).
    let first = OffsetState {
        generation: 2,
        open_tuples: 0,
        pending: None,
        offset: (1 << 53) + 1,
        blob_created_ms: None,
        last_content_length: (1 << 40) + 3,
        rows_emitted: u64::from(u32::MAX) + 7,
        updated_at_ms: 1_735_689_600_123,
        content: None,
    };
    let v1 = store.save(&b, &first, None).await.expect("insert");
    let (loaded, version) = store.load(&b).await.expect("load").expect("present");
    assert_eq!((&loaded, &version), (&first, &v1));

    let second = state(1 << 33, 1_735_689_700_000);
    let v2 = store.save(&b, &second, Some(&v1)).await.expect("replace");
    assert_ne!(v1, v2);
    assert_eq!(store.load(&b).await.expect("load"), Some((second, v2)));
}

#[tokio::test]
async fn the_second_of_two_concurrent_writers_gets_a_conflict() {
    let table = unique_name("cas");
    let (a, b) = (store_on(&table).await, store_on(&table).await);
    let name = blob(1);
    a.save(&name, &state(100, 1), None).await.expect("insert");
    let (_, va) = a.load(&name).await.expect("load").expect("present");
    let (_, vb) = b.load(&name).await.expect("load").expect("present");
    assert_eq!(va, vb);

    let va2 = a.save(&name, &state(200, 2), Some(&va)).await.expect("first writer wins");
    let err = b.save(&name, &state(150, 2), Some(&vb)).await.expect_err("stale version");
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    assert!(err.message.contains("412"), "{err}");

    // The loser reloads and sees the winner's state and version.
    let (stored, v) = b.load(&name).await.expect("load").expect("present");
    assert_eq!((stored.offset, &v), (200, &va2));
    // A made-up ETag is a conflict as well, never an overwrite.
    let bogus = Version("W/\"datetime'2000-01-01T00%3A00%3A00.0000000Z'\"".into());
    assert_eq!(b.save(&name, &state(1, 3), Some(&bogus)).await.expect_err("bogus").kind, ErrorKind::Conflict);
}

#[tokio::test]
async fn exactly_one_of_two_racing_inserts_wins() {
    let table = unique_name("race");
    let (a, b) = (store_on(&table).await, store_on(&table).await);
    let name = blob(2);
    let (sa, sb) = (state(10, 1), state(20, 1));
    let (ra, rb) = tokio::join!(a.save(&name, &sa, None), b.save(&name, &sb, None));
    let (winner, loser) = match (ra, rb) {
        (Ok(v), Err(e)) => ((v, 10), e),
        (Err(e), Ok(v)) => ((v, 20), e),
        (ra, rb) => panic!("expected exactly one winner: {ra:?} / {rb:?}"),
    };
    assert_eq!(loser.kind, ErrorKind::Conflict, "{loser}");
    assert!(loser.message.contains("409"), "{loser}");
    let (stored, version) = a.load(&name).await.expect("load").expect("present");
    assert_eq!((stored.offset, version), (winner.1, winner.0));
}

#[tokio::test]
async fn sweep_deletes_only_entries_older_than_the_cutoff() {
    let table = unique_name("sweep");
    let store = store_on(&table).await;
    for i in 0..6 {
        let updated = if i % 2 == 0 { 1_000 + i as i64 } else { 9_000 + i as i64 };
        store.save(&blob(i), &state(i as u64, updated), None).await.expect("insert");
    }
    assert_eq!(store.sweep(5_000).await.expect("sweep"), 3);
    for i in 0..6 {
        let present = store.load(&blob(i)).await.expect("load").is_some();
        assert_eq!(present, i % 2 == 1, "blob {i}");
    }
    assert_eq!(store.sweep(5_000).await.expect("sweep again"), 0);

    // A writer whose entry was swept after its load loses the race instead of resurrecting it.
    let (_, v) = store.load(&blob(1)).await.expect("load").expect("present");
    assert_eq!(store.sweep(i64::MAX).await.expect("sweep all"), 3);
    let err = store.save(&blob(1), &state(5, 10_000), Some(&v)).await.expect_err("swept");
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
}

#[tokio::test]
async fn a_missing_table_is_an_error_not_an_empty_store() {
    let table = unique_name("absent");
    let store = TableOffsetStore::new(&table_endpoint(), &table, &StorageAuth::emulator()).expect("store");
    let err = store.load(&blob(0)).await.expect_err("no table");
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
    assert!(TableOffsetStore::new(&table_endpoint(), "1bad-name", &StorageAuth::emulator()).is_err());
}

#[tokio::test]
async fn offset_loads_and_writes_reuse_one_connection() {
    // The SDK's own HTTP client keeps no idle connection: every request opened one (and, against
    // Azure, a TLS session), which was most of a quiet blob's Table cost.
    let (url, accepted) = counting_relay(&table_endpoint()).await;
    let endpoint = flowlog::azure::AccountEndpoint::parse(&url).expect("relay endpoint");
    let store = TableOffsetStore::new(&endpoint, &unique_name("pooled"), &StorageAuth::emulator()).expect("store");
    store.ensure_table().await.expect("ensure_table");
    for i in 0..10 {
        let b = blob(i);
        assert!(store.load(&b).await.expect("load").is_none(), "a 404 answer must leave the connection usable");
        let v = store.save(&b, &state(10, 1), None).await.expect("insert");
        store.save(&b, &state(20, 2), Some(&v)).await.expect("replace");
    }
    let conflict = store.save(&blob(0), &state(30, 3), None).await.expect_err("a second insert conflicts");
    assert_eq!(conflict.kind, ErrorKind::Conflict);
    assert_eq!(store.load(&blob(0)).await.expect("load").map(|(s, _)| s.offset), Some(20));
    let opened = accepted.load(Ordering::SeqCst);
    assert!(opened <= 2, "32 sequential Table requests opened {opened} connections");
}
