//! Azurite test support: the harness's endpoints, unique resource names, and clients that
//! authenticate with account SAS tokens signed by Azurite's well-known key.
#![allow(dead_code)] // each test binary uses a different subset

pub mod counting_relay;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use azure_messaging_eventhubs::CheckpointStore;
use azure_storage_blob::BlobContainerClient;
use flowlog::azure::blob_clients::{BlobTransport, container_client};
use flowlog::azure::blob_store::{AzureBlobAccount, AzureBlobStore, AzureBlobStoreOptions};
use flowlog::azure::feed::blob_checkpoint_store;
use flowlog::azure::{AccountEndpoint, StorageAuth};

/// Reads an endpoint exported by `tests/run` (or `tests/tools/azurite.sh`). Missing means the
/// test cannot mean anything: fail loudly rather than skip.
fn endpoint(var: &str) -> AccountEndpoint {
    let value = std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: these tests need Azurite. Run them through tests/run, or \
             `source tests/tools/azurite.sh && azurite_start` first."
        )
    });
    AccountEndpoint::parse(&value).unwrap_or_else(|e| panic!("{var}={value} is not a storage endpoint: {e}"))
}

pub fn blob_endpoint() -> AccountEndpoint {
    endpoint("AZURITE_BLOB_ENDPOINT")
}

pub fn table_endpoint() -> AccountEndpoint {
    endpoint("AZURITE_TABLE_ENDPOINT")
}

/// A name no other test (in this or another process) uses: lowercase letters and digits,
/// starting with a letter, valid for containers and tables alike.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name =
        format!("{prefix}{}x{}x{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos % 1_000_000_000);
    assert!(name.len() <= 63 && name.starts_with(|c: char| c.is_ascii_lowercase()), "bad test name {name}");
    name
}

/// A client with every permission on `container` (signed SAS from the emulator key).
pub fn admin_container(container: &str) -> BlobContainerClient {
    container_client(&blob_endpoint(), container, &StorageAuth::emulator(), "racwdl").expect("container client")
}

/// Creates a fresh container and returns its name and an all-permissions client.
pub async fn new_container(prefix: &str) -> (String, BlobContainerClient) {
    let name = unique_name(prefix);
    let client = admin_container(&name);
    client.create(None).await.unwrap_or_else(|e| panic!("creating container {name}: {e}"));
    (name, client)
}

/// A Blob checkpoint store of the emulator account, in a new container named from `prefix`.
pub async fn checkpoint_store(prefix: &str) -> Arc<dyn CheckpointStore + Send + Sync> {
    let (container, _) = new_container(prefix).await;
    blob_checkpoint_store(&blob_endpoint(), &container, &StorageAuth::emulator(), None, &BlobTransport::new())
        .unwrap_or_else(|e| panic!("checkpoint store in {container}: {e}"))
}

/// A blob store allowed to read only `containers` of the emulator account.
pub fn blob_store(containers: &[&str], options: AzureBlobStoreOptions) -> AzureBlobStore {
    let account = AzureBlobAccount {
        endpoint: blob_endpoint(),
        containers: containers.iter().map(|c| c.to_string()).collect(),
        auth: StorageAuth::emulator(),
    };
    AzureBlobStore::new(vec![account], options).expect("blob store")
}

/// The logical blob name of `path` in `container` of the emulator account.
pub fn blob_name(container: &str, path: &str) -> flowlog::domain::blob_name::BlobName {
    flowlog::domain::blob_name::BlobName::new(format!("{}/{container}/{path}", blob_endpoint().account()))
}

/// Collects a range read, checking that no chunk exceeds `max_chunk` bytes.
pub async fn read_all(stream: flowlog::pipeline::blob_store::ChunkStream, max_chunk: usize) -> Vec<u8> {
    use futures::TryStreamExt;
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.expect("range read");
    assert!(chunks.iter().all(|c| c.len() <= max_chunk), "a chunk exceeded {max_chunk} bytes");
    chunks.concat()
}
