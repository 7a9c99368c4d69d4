//! The Azure blob store against Azurite: range reads of blobs grown the way flow logging grows
//! them, properties, listings, missing blobs and the account/container allow-list.
mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::http::RequestContent;
use common::*;
use flowlog::app::simulate::block_writer::BlockAppender;
use flowlog::azure::blob_clients::BlobTransport;
use flowlog::azure::blob_store::{AzureBlobAccount, AzureBlobStore, AzureBlobStoreOptions};
use flowlog::pipeline::blob_store::BlobStore;
use flowlog::pipeline::error::ErrorKind;
use futures::StreamExt;

const HEAD: &[u8] = br#"{"records":["#;
const TAIL: &[u8] = b"]}";

fn record(i: usize) -> Vec<u8> {
    let body = format!(r#"{{"time":"2025-01-01T00:{i:02}:00Z","n":{i},"pad":"{}"}}"#, "x".repeat(i * 3));
    if i == 0 { body.into_bytes() } else { format!(",{body}").into_bytes() }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[tokio::test]
async fn range_reads_return_exactly_the_bytes_each_block_list_commit_added() {
    let (container, client) = new_container("grow").await;
    let path = "resourceId=/X/y=2025/m=01/d=01/h=00/m=00/macAddress=00AA/PT1H.json";
    let blob = blob_name(&container, path);
    let writer = BlockAppender::new(&client, path);
    // Small sub-ranges force one read to span several GETs; the default store reads each in one.
    let small = blob_store(&[&container], AzureBlobStoreOptions { request_bytes: 7, ..Default::default() });
    let big = blob_store(&[&container], AzureBlobStoreOptions::default());

    let mut length = writer.create(HEAD, TAIL).await.expect("create");
    let mut offset = 0u64;
    let mut expected_content = [HEAD, TAIL].concat();
    for i in 0..5 {
        let block = record(i);
        length = writer.append_before_tail(&block).await.expect("append");
        expected_content.splice(expected_content.len() - 2.., block.iter().copied().chain(TAIL.iter().copied()));
        let props = small.properties(&blob).await.expect("properties");
        assert_eq!(props.content_length, length);
        assert_eq!(props.content_length, expected_content.len() as u64);

        let range = offset..length - 2;
        let got = read_all(small.read_range(&blob, range.clone()).await.expect("read"), 7).await;
        let expected = if i == 0 { [HEAD, &block].concat() } else { block.clone() };
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected), "growth {i}");
        let got_big = read_all(big.read_range(&blob, range).await.expect("read"), usize::MAX).await;
        assert_eq!(got_big, expected);
        offset = length - 2;
    }
    // The whole blob is what the writer says it committed, tail last.
    let whole = read_all(big.read_range(&blob, 0..length).await.expect("read"), usize::MAX).await;
    assert_eq!(whole, expected_content);
    assert!(whole.ends_with(b"}]}"));
    // An empty range is an empty stream, not a request for the whole blob.
    assert!(read_all(small.read_range(&blob, 3..3).await.expect("read"), 7).await.is_empty());
}

#[tokio::test]
async fn properties_carry_the_creation_time_and_a_recreated_blob_gets_a_new_one() {
    let (container, client) = new_container("props").await;
    let path = "a/PT1H.json";
    let blob = blob_name(&container, path);
    let store = blob_store(&[&container], AzureBlobStoreOptions::default());
    let before = now_ms();
    let writer = BlockAppender::new(&client, path);
    writer.create(HEAD, TAIL).await.expect("create");
    let first = store.properties(&blob).await.expect("properties");
    assert_eq!(first.content_length, 14);
    let created = first.created_ms.expect("creation time");
    // The header has whole seconds: compare at that resolution (plus clock slack).
    assert!(created >= before - 1_000 - 5_000 && created <= now_ms() + 5_000, "{created} vs {before}");

    // x-ms-creation-time has a resolution of one second, so a blob recreated within the same
    // second is indistinguishable by it: wait for the next second of Azurite's (shared) clock.
    // This is not synchronisation with anything asynchronous, only the header's resolution.
    let next_second = (created / 1000 + 1) * 1000;
    let wait = (next_second - now_ms()).max(0) as u64 + 20;
    tokio::time::sleep(Duration::from_millis(wait)).await;

    client.blob_client(path).delete(None).await.expect("delete");
    let err = store.properties(&blob).await.expect_err("deleted blob");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    writer.create(HEAD, TAIL).await.expect("recreate");
    let second = store.properties(&blob).await.expect("properties");
    assert!(second.created_ms.expect("creation time") > created, "{second:?} vs {first:?}");
}

#[tokio::test]
async fn listing_pages_through_all_flow_log_blobs_under_a_prefix() {
    let (container, client) = new_container("list").await;
    let mut expected = Vec::new();
    for i in 0..5 {
        let path = format!("p/y=2025/h={i:02}/PT1H.json");
        let content = vec![b'x'; i + 1];
        client.blob_client(&path).upload(RequestContent::from(content), None).await.expect("upload");
        expected.push((blob_name(&container, &path), (i + 1) as u64));
    }
    for path in ["q/PT1H.json", "q/h=01/PT1H.json", "p/y=2025/notes.txt"] {
        client.blob_client(path).upload(RequestContent::from(b"{}".to_vec()), None).await.expect("upload");
    }
    let store = blob_store(&[&container], AzureBlobStoreOptions { list_page_size: Some(2), ..Default::default() });

    let listed = store.list(&format!("devstoreaccount1/{container}/p/")).await.expect("list");
    let got: Vec<_> = listed.iter().map(|l| (l.blob.clone(), l.properties.content_length)).collect();
    assert_eq!(got, expected);
    assert!(listed.iter().all(|l| l.properties.created_ms.is_some()));
    // Prefixes may stop inside the account or container part of the name.
    assert_eq!(store.list(&format!("devstoreaccount1/{container}/")).await.expect("list").len(), 7);
    assert_eq!(store.list("devstore").await.expect("list").len(), 7);
    assert!(store.list("otheraccount/").await.expect("list").is_empty());
    assert!(store.list(&format!("devstoreaccount1/{container}/z")).await.expect("list").is_empty());
}

#[tokio::test]
async fn a_read_names_the_version_an_append_made_as_its_event_would() {
    // The engine skips an event whose ETag a finished read saw: the read's ETag and the one a
    // BlobCreated event carries (the simulator's, from the commit) must compare equal.
    let (container, client) = new_container("etag").await;
    let path = "resourceId=/X/y=2025/m=01/d=01/h=00/m=00/macAddress=00AB/PT1H.json";
    let blob = blob_name(&container, path);
    let writer = BlockAppender::new(&client, path);
    let store = blob_store(&[&container], AzureBlobStoreOptions::default());
    writer.create(HEAD, TAIL).await.expect("create");
    let (_, first) = writer.append_tagged(&record(0)).await.expect("append");
    let first = first.expect("the commit names the new ETag");
    assert!(!first.contains('"'), "unquoted, as in an event: {first}");
    assert_eq!(store.read_from(&blob, 0).await.expect("read").etag.as_deref(), Some(first.as_str()));
    let (_, second) = writer.append_tagged(&record(1)).await.expect("append");
    let second = second.expect("etag");
    assert_ne!(first, second, "every append is a new version");
    assert_eq!(store.read_from(&blob, 5).await.expect("read").etag, Some(second));
}

#[tokio::test]
async fn a_missing_blob_is_not_found() {
    let (container, _client) = new_container("missing").await;
    let store = blob_store(&[&container], AzureBlobStoreOptions::default());
    let blob = blob_name(&container, "nope/PT1H.json");
    let err = store.properties(&blob).await.expect_err("missing");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(err.message.contains("404"), "{err}");
    let mut stream = store.read_range(&blob, 0..10).await.expect("stream");
    let err = stream.next().await.expect("an item").expect_err("missing");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn a_range_beyond_the_blob_is_an_error_not_a_short_read() {
    let (container, client) = new_container("short").await;
    client.blob_client("a/PT1H.json").upload(RequestContent::from(b"0123456789".to_vec()), None).await.expect("up");
    let store = blob_store(&[&container], AzureBlobStoreOptions::default());
    let blob = blob_name(&container, "a/PT1H.json");
    for range in [5..20, 0..11, 12..15] {
        let stream = store.read_range(&blob, range.clone()).await.expect("stream");
        let results: Vec<_> = stream.collect().await;
        let err = results.into_iter().find_map(Result::err).unwrap_or_else(|| panic!("{range:?} read"));
        assert_eq!(err.kind, ErrorKind::Permanent, "{range:?}: {err}");
    }
}

#[tokio::test]
async fn blobs_outside_the_configured_containers_are_refused_without_a_request() {
    let (allowed, _) = new_container("allowed").await;
    let (other, other_client) = new_container("other").await;
    other_client.blob_client("a/PT1H.json").upload(RequestContent::from(b"{}".to_vec()), None).await.expect("up");
    let store = blob_store(&[&allowed], AzureBlobStoreOptions::default());
    // The blob exists, but its container is not configured: refused, however tempting.
    for name in [
        format!("devstoreaccount1/{other}/a/PT1H.json"),
        format!("evilaccount/{allowed}/a/PT1H.json"),
        "devstoreaccount1".to_string(),
        format!("devstoreaccount1/{allowed}/"),
    ] {
        let blob = flowlog::domain::blob_name::BlobName::new(name.as_str());
        let err = store.properties(&blob).await.expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Permanent, "{name}: {err}");
        let err = store.read_range(&blob, 0..1).await.err().expect("refused");
        assert_eq!(err.kind, ErrorKind::Permanent, "{name}: {err}");
    }

    // Same with an endpoint where nothing listens: a request would be a connection error.
    let nowhere = flowlog::azure::AccountEndpoint::parse("http://127.0.0.1:9/devstoreaccount1").expect("endpoint");
    let account = flowlog::azure::blob_store::AzureBlobAccount {
        endpoint: nowhere,
        containers: vec![allowed.clone()],
        auth: flowlog::azure::StorageAuth::emulator(),
    };
    let offline = flowlog::azure::blob_store::AzureBlobStore::new(vec![account], AzureBlobStoreOptions::default())
        .expect("store");
    let err = offline.properties(&blob_name(&other, "a/PT1H.json")).await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Permanent, "{err}");
    assert!(err.message.contains("not configured"), "{err}");
}

#[tokio::test]
async fn container_clients_of_one_transport_read_over_one_connection() {
    // Each Blob client used to build an HTTP client of its own (loading the system's root
    // certificates for it): a connection pool per container and per store.
    let (url, accepted) = common::counting_relay::counting_relay(&blob_endpoint()).await;
    let relay = flowlog::azure::AccountEndpoint::parse(&url).expect("relay endpoint");
    let mut containers = Vec::new();
    for i in 0..3 {
        let (name, client) = new_container("shared").await;
        let body = format!(r#"{{"n":{i}}}"#).into_bytes();
        client.blob_client("a/PT1H.json").upload(RequestContent::from(body), None).await.expect("upload");
        containers.push(name);
    }
    let transport = BlobTransport::new();
    let store = || {
        let account = AzureBlobAccount {
            endpoint: relay.clone(),
            containers: containers.clone(),
            auth: flowlog::azure::StorageAuth::emulator(),
        };
        let options = AzureBlobStoreOptions { transport: Some(transport.clone()), ..Default::default() };
        AzureBlobStore::new(vec![account], options).expect("store")
    };
    let stores = [store(), store(), store()];
    for round in 0..5 {
        for (i, container) in containers.iter().enumerate() {
            let blob = blob_name(container, "a/PT1H.json");
            for s in &stores {
                let got = read_all(s.read_range(&blob, 0..7).await.expect("read"), usize::MAX).await;
                assert_eq!(got, format!(r#"{{"n":{i}}}"#).into_bytes(), "round {round}, container {i}");
            }
        }
    }
    let opened = accepted.load(Ordering::SeqCst);
    assert!(opened <= 2, "45 sequential range reads through 9 container clients opened {opened} connections");
}

#[tokio::test]
async fn a_blob_stored_gzip_encoded_is_read_as_its_stored_bytes() {
    // Offsets are positions in the stored bytes: a shared transport that decompressed
    // `Content-Encoding: gzip` answers would return other bytes than the blob's length says.
    use std::io::Write;
    let (container, client) = new_container("encoded").await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"records":[]}"#).expect("gzip");
    let stored = gz.finish().expect("gzip");
    let options = azure_storage_blob::models::BlobClientUploadOptions {
        blob_content_encoding: Some("gzip".into()),
        ..Default::default()
    };
    let path = "a/PT1H.json";
    client.blob_client(path).upload(RequestContent::from(stored.clone()), Some(options)).await.expect("upload");
    let store = blob_store(&[&container], AzureBlobStoreOptions::default());
    let blob = blob_name(&container, path);
    assert_eq!(store.properties(&blob).await.expect("properties").content_length, stored.len() as u64);
    let whole = read_all(store.read_range(&blob, 0..stored.len() as u64).await.expect("read"), usize::MAX).await;
    assert_eq!(whole, stored);
    let tail = read_all(store.read_range(&blob, 10..stored.len() as u64).await.expect("read"), usize::MAX).await;
    assert_eq!(tail, stored[10..]);
}
