//! Dead letters on Azure Blob against Azurite: written durably, readable back as the same
//! JSON document, and overwritten (not duplicated) when the same failure is recorded again.
mod common;

use common::*;
use flowlog::azure::blob_clients::BlobTransport;
use flowlog::azure::dead_letter::{AzureDeadLetters, dead_letter_path};
use flowlog::azure::{AccountEndpoint, StorageAuth};
use flowlog::pipeline::dead_letter::{DeadLetter, DeadLetterKind, DeadLetterStore, RawEncoding};
use flowlog::pipeline::error::ServiceResult;
use futures::TryStreamExt;

fn letter(raw: &[u8], at: &str) -> DeadLetter {
    DeadLetter::new(DeadLetterKind::Record, "expected ',' or ']' at byte 7".into(), at.into())
        .about(
            Some("devstoreaccount1/insights-logs-flowlogflowevent/x/PT1H.json".into()),
            Some((12, 12 + raw.len() as u64)),
            "partition 3 sequence 42".into(),
        )
        .with_raw(raw, 1024)
}

async fn read_back(container: &str, path: &str) -> DeadLetter {
    let response = admin_container(container).blob_client(path).download(None).await.expect("download");
    let bytes: Vec<bytes::Bytes> = response.body.try_collect().await.expect("body");
    serde_json::from_slice(&bytes.concat()).expect("a DeadLetter JSON document")
}

async fn count_blobs(container: &str) -> usize {
    let mut pages = admin_container(container).list_blobs(None).expect("list").into_pages();
    let mut n = 0;
    while let Some(page) = pages.try_next().await.expect("page") {
        n += page.into_model().expect("model").blob_items.len();
    }
    n
}

/// A dead-letter store of the emulator account's key, at `endpoint`.
fn dead_letters(endpoint: &AccountEndpoint, container: &str) -> ServiceResult<AzureDeadLetters> {
    AzureDeadLetters::new(endpoint, container, &StorageAuth::emulator(), &BlobTransport::new())
}

#[tokio::test]
async fn dead_letters_are_written_as_json_and_rewritten_in_place() {
    let container = unique_name("deadletters");
    let store = dead_letters(&blob_endpoint(), &container).expect("store");
    store.ensure_container().await.expect("create container");
    store.ensure_container().await.expect("ensure_container is idempotent");

    let text = letter(br#"{"records":[{"oops"#, "2025-03-04T05:06:07Z");
    store.put(&text).await.expect("put");
    let path = dead_letter_path(&text);
    assert!(path.starts_with("2025/03/04/05/record/"), "{path}");
    assert_eq!(read_back(&container, &path).await, text);

    // Binary input is kept as base64 and survives the trip as well.
    let binary = letter(&[0xff, 0xfe, 0x00, 0x7b], "2025-03-04T06:00:00Z");
    assert_eq!(binary.raw_encoding, RawEncoding::Base64);
    store.put(&binary).await.expect("put");
    assert_eq!(read_back(&container, &dead_letter_path(&binary)).await, binary);

    // The same failure recorded again (a retry after a crash) replaces the first document.
    let again = DeadLetter { error: "second attempt".into(), ..text.clone() };
    store.put(&again).await.expect("put again");
    assert_eq!(dead_letter_path(&again), path);
    assert_eq!(read_back(&container, &path).await.error, "second attempt");
    assert_eq!(count_blobs(&container).await, 2);
}

#[tokio::test]
async fn writing_to_a_missing_container_fails_loudly() {
    let container = unique_name("nodeadletters");
    let store = dead_letters(&blob_endpoint(), &container).expect("store");
    let err = store.put(&letter(b"x", "2025-03-04T05:06:07Z")).await.expect_err("no container");
    assert_eq!(err.kind, flowlog::pipeline::error::ErrorKind::NotFound, "{err}");
    let other = AccountEndpoint::parse("http://127.0.0.1:9/otheraccount").expect("endpoint");
    assert!(dead_letters(&other, "c1x").is_err(), "key of another account");
}
