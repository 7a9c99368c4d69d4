//! `EventProcessor` with the Blob checkpoint store on Azurite: load balancing of 4 partitions
//! across 2 processors and takeover from checkpoints when one stops. Needs
//! `AZURITE_BLOB_ENDPOINT` (the test harness exports it; see `tests/tools/azurite.sh`).

mod common;

use azure_core::http::Url;
use azure_messaging_eventhubs::ProcessorStrategy;
use azure_messaging_eventhubs_checkpointstore_blob::BlobCheckpointStore;
use azure_storage_blob::BlobContainerClient;
use common::scenario::{Setup, load_balancing};
use common::*;
use std::time::{SystemTime, UNIX_EPOCH};

/// A new container on Azurite, authorized by an account SAS in its URL.
async fn container() -> BlobContainerClient {
    let endpoint = std::env::var("AZURITE_BLOB_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "AZURITE_BLOB_ENDPOINT is not set: start Azurite first \
             (`source tests/tools/azurite.sh && azurite_start`), it exports the variable"
        )
    });
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("checkpoints-{}-{nanos}", std::process::id());
    let url = format!("{}/{name}?{}", endpoint.trim_end_matches('/'), sas::account_sas());
    let client = BlobContainerClient::new(Url::parse(&url).unwrap(), None, None).expect("container client");
    within(&format!("create a container on Azurite at {endpoint}"), client.create(None))
        .await
        .expect("container created on Azurite");
    client
}

#[tokio::test]
async fn processors_balance_and_take_over_with_the_blob_store_on_azurite() {
    let store = BlobCheckpointStore::new(container().await);
    let emulator = start().await;
    // The Blob store renews ownership properly, so a short expiry and the balanced strategy
    // work (unlike with the SDK's in-memory store).
    let setup = Setup {
        expiration: azure_core::time::Duration::seconds(2),
        strategy: ProcessorStrategy::Balanced,
        stealing: false,
    };
    load_balancing(&emulator, store, setup).await;
    emulator.shutdown().await;
}
