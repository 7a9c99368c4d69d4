//! The account SAS signer against Azurite: tokens signed with the well-known key are accepted,
//! for Blob and Table, while tampered, expired or under-privileged ones are refused.
mod common;

use azure_core::http::RequestContent;
use common::*;
use flowlog::azure::blob_clients::container_client;
use flowlog::azure::blob_store::{AzureBlobAccount, AzureBlobStore, AzureBlobStoreOptions};
use flowlog::azure::table::TableOffsetStore;
use flowlog::azure::{AccountKey, AccountSas, SasToken, StorageAuth};
use flowlog::domain::offset::OffsetState;
use flowlog::pipeline::blob_store::BlobStore;
use flowlog::pipeline::error::ErrorKind;
use flowlog::pipeline::offset_store::OffsetStore;
use time::{Duration, OffsetDateTime};

fn sas(services: &str, permissions: &str, expiry: OffsetDateTime) -> SasToken {
    AccountSas {
        services: services.into(),
        resource_types: "sco".into(),
        permissions: permissions.into(),
        start: None,
        expiry,
        ip: None,
        protocol: Some("https,http".into()),
    }
    .sign(&AccountKey::emulator())
}

fn in_an_hour() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::hours(1)
}

fn store_with(container: &str, token: SasToken) -> AzureBlobStore {
    let account = AzureBlobAccount {
        endpoint: blob_endpoint(),
        containers: vec![container.to_string()],
        auth: StorageAuth::Sas(token),
    };
    AzureBlobStore::new(vec![account], AzureBlobStoreOptions::default()).expect("store")
}

#[tokio::test]
async fn azurite_accepts_our_signature_and_refuses_a_tampered_one() {
    let (container, client) = new_container("sas").await;
    client.blob_client("a/PT1H.json").upload(RequestContent::from(b"{}".to_vec()), None).await.expect("upload");
    let blob = blob_name(&container, "a/PT1H.json");

    let good = sas("b", "rl", in_an_hour());
    let props = store_with(&container, good.clone()).properties(&blob).await.expect("signed SAS accepted");
    assert_eq!(props.content_length, 2);

    // Change one character of the signature: the service must refuse it (403 is Permanent).
    let query = good.query();
    let tampered_query = query.replacen("sig=", "sig=A", 1);
    let tampered = SasToken::parse(&tampered_query).expect("parse");
    let err = store_with(&container, tampered).properties(&blob).await.expect_err("tampered");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.message.contains("403"), "{err}");
    let signature = query.split("sig=").nth(1).unwrap_or_default();
    assert!(!err.message.contains(signature), "the signature leaked into {err}");

    let expired = sas("b", "rl", OffsetDateTime::now_utc() - Duration::minutes(1));
    let err = store_with(&container, expired).properties(&blob).await.expect_err("expired");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn permissions_in_the_token_are_enforced() {
    let (container, _) = new_container("sasperm").await;
    let read_only = StorageAuth::Sas(sas("b", "rl", in_an_hour()));
    let client = container_client(&blob_endpoint(), &container, &read_only, "").expect("client");
    let err = client.blob_client("x/PT1H.json").upload(RequestContent::from(b"{}".to_vec()), None).await;
    let err = flowlog::azure::errors::from_azure("upload", &err.expect_err("read-only SAS cannot write"));
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.message.contains("403"), "{err}");
}

#[tokio::test]
async fn the_table_store_works_with_a_sas_token_too() {
    let table = unique_name("sastable");
    let auth = StorageAuth::Sas(sas("t", "racwdlu", in_an_hour()));
    let store = TableOffsetStore::new(&table_endpoint(), &table, &auth).expect("store");
    store.ensure_table().await.expect("create table with SAS");
    let blob = flowlog::domain::blob_name::BlobName::from("devstoreaccount1/c/PT1H.json");
    let state = OffsetState {
        offset: 12,
        blob_created_ms: None,
        last_content_length: 14,
        rows_emitted: 1,
        updated_at_ms: 1,
        generation: 0,
        open_tuples: 0,
        content: None,
        pending: None,
    };
    let version = store.save(&blob, &state, None).await.expect("insert with SAS");
    assert_eq!(store.load(&blob).await.expect("load"), Some((state, version)));
}
