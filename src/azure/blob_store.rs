//! Blob store on Azure Blob Storage (`azure_storage_blob` 1.x): properties, bounded range reads
//! and listings, limited to configured accounts and containers.
//!
//! Blob names are `account/container/path`. Events are untrusted, so an account or container
//! that is not configured is refused before any request is made. A range is read as sequential
//! sub-range GETs of at most `request_bytes`, each streamed in the chunks the HTTP body arrives
//! in: memory stays bounded whatever the range. (The SDK's partitioned download would pin every
//! part to the first part's ETag; flow-log blobs keep growing while we read, and the bytes we
//! read never change, so that pin would only cause spurious 412s.)
use std::collections::HashMap;
use std::num::NonZero;
use std::ops::Range;

use azure_core::http::headers::HeaderName;
use azure_core::http::{AsyncResponseBody, StatusCode};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobClientGetPropertiesResultHeaders, BlobContainerClientListBlobsOptions,
};
use azure_storage_blob::{BlobClient, BlobContainerClient};
use futures::{StreamExt, TryStreamExt};
use time::OffsetDateTime;

use crate::azure::blob_clients::{BlobTransport, counted_container_client};
use crate::azure::endpoint::{is_container_name, split_blob_name};
use crate::azure::errors::from_azure;
use crate::azure::storage_counter::StorageCounter;
use crate::azure::{AccountEndpoint, StorageAuth};
use crate::domain::blob_name::BlobName;
use crate::pipeline::blob_store::{BlobListing, BlobProperties, BlobStore, ChunkStream, TailRead};
use crate::pipeline::error::{ServiceError, ServiceResult};

/// One storage account flowlog may read, and the containers it may read in it.
#[derive(Clone, Debug)]
pub struct AzureBlobAccount {
    pub endpoint: AccountEndpoint,
    pub containers: Vec<String>,
    pub auth: StorageAuth,
}

#[derive(Clone, Debug)]
pub struct AzureBlobStoreOptions {
    /// Largest single range GET; longer ranges are read as several sequential requests.
    pub request_bytes: u64,
    /// Blobs per listing page (`maxresults`); `None` = the service default (5,000).
    pub list_page_size: Option<u32>,
    /// Counts every HTTP try of the store's clients.
    pub counter: Option<StorageCounter>,
    /// The HTTP client the store's container clients share; `None` = one of the store's own.
    pub transport: Option<BlobTransport>,
}

impl Default for AzureBlobStoreOptions {
    fn default() -> Self {
        AzureBlobStoreOptions { request_bytes: 4 * 1024 * 1024, list_page_size: None, counter: None, transport: None }
    }
}

pub struct AzureBlobStore {
    /// Keyed by (account, container): the allow-list and the clients in one map.
    containers: HashMap<(String, String), BlobContainerClient>,
    options: AzureBlobStoreOptions,
}

impl AzureBlobStore {
    /// Builds one client per allowed container. Account SAS tokens signed from an account key
    /// get read and list permissions only.
    pub fn new(accounts: Vec<AzureBlobAccount>, options: AzureBlobStoreOptions) -> ServiceResult<Self> {
        if options.request_bytes == 0 {
            return Err(ServiceError::permanent("blob store request_bytes must be positive"));
        }
        let transport = options.transport.clone().unwrap_or_default();
        let mut containers = HashMap::new();
        for account in &accounts {
            for container in &account.containers {
                if !is_container_name(container) {
                    return Err(ServiceError::permanent(format!("invalid container name {container:?}")));
                }
                let client = counted_container_client(
                    &account.endpoint,
                    container,
                    &account.auth,
                    "rl",
                    options.counter.as_ref(),
                    &transport,
                )?;
                let key = (account.endpoint.account().to_string(), container.clone());
                if containers.insert(key, client).is_some() {
                    return Err(ServiceError::permanent(format!(
                        "container {container} of account {} configured twice",
                        account.endpoint.account()
                    )));
                }
            }
        }
        Ok(AzureBlobStore { containers, options })
    }

    /// The client for an allowed blob, or a Permanent error without any request.
    fn blob_client(&self, blob: &BlobName) -> ServiceResult<BlobClient> {
        let (account, container, path) = split_blob_name(blob.as_str())
            .ok_or_else(|| ServiceError::permanent(format!("blob name {blob} is not account/container/path")))?;
        let client = self.containers.get(&(account.to_string(), container.to_string())).ok_or_else(|| {
            ServiceError::permanent(format!("blob {blob}: account {account} container {container} is not configured"))
        })?;
        Ok(client.blob_client(path))
    }
}

/// An ETag as Event Grid's `eTag` spells it: the HTTP header's value without its quotes
/// (`"0x8D4BCC2E4835CD0"` is `0x8D4BCC2E4835CD0` in a BlobCreated event).
pub fn unquoted_etag(etag: &str) -> String {
    etag.trim().trim_start_matches("W/").trim_matches('"').to_string()
}

fn unix_ms(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

impl BlobStore for AzureBlobStore {
    async fn properties(&self, blob: &BlobName) -> ServiceResult<BlobProperties> {
        let client = self.blob_client(blob)?;
        let context = format!("properties of {blob}");
        let response = client.get_properties(None).await.map_err(|e| from_azure(&context, &e))?;
        let content_length = response
            .content_length()
            .map_err(|e| from_azure(&context, &e))?
            .ok_or_else(|| ServiceError::permanent(format!("{context}: no Content-Length")))?;
        let created_ms = unix_ms(response.creation_time().map_err(|e| from_azure(&context, &e))?);
        Ok(BlobProperties { content_length, created_ms })
    }

    async fn read_range(&self, blob: &BlobName, range: Range<u64>) -> ServiceResult<ChunkStream> {
        let client = self.blob_client(blob)?;
        if range.start > range.end {
            return Err(ServiceError::permanent(format!("blob {blob}: inverted range {}..{}", range.start, range.end)));
        }
        let reader = RangeReader {
            client,
            name: blob.to_string(),
            next: range.start,
            end: range.end,
            request_bytes: self.options.request_bytes,
            body: None,
        };
        Ok(futures::stream::try_unfold(reader, RangeReader::next_chunk).boxed())
    }

    /// One GET of `bytes=start-(start+request_bytes-1)`: the service answers with what exists of
    /// that range, and its `Content-Range` total and `x-ms-creation-time` stand in for a
    /// properties request. Only a range starting past the end (416: the blob shrank, so it was
    /// recreated) costs a second request, for the properties.
    async fn read_from(&self, blob: &BlobName, start: u64) -> ServiceResult<TailRead> {
        let client = self.blob_client(blob)?;
        let context = format!("reading {blob} from byte {start}");
        let want = self.options.request_bytes;
        let options = BlobClientDownloadOptions {
            range: Some((start..start.saturating_add(want)).into()),
            parallel: Some(NonZero::<usize>::MIN),
            partition_size: NonZero::new(usize::try_from(want).unwrap_or(usize::MAX)),
            ..Default::default()
        };
        let response = match client.download(Some(options)).await {
            Ok(r) => r,
            Err(e) if e.http_status() == Some(StatusCode::RequestedRangeNotSatisfiable) => {
                return Ok(TailRead { properties: self.properties(blob).await?, chunks: None, etag: None });
            }
            Err(e) => return Err(from_azure(&context, &e)),
        };
        let received = response
            .properties
            .content_length
            .ok_or_else(|| ServiceError::permanent(format!("{context}: no Content-Length")))?;
        let total = match response.headers.get_optional_str(&HeaderName::from_static("content-range")) {
            Some(range) => content_range_total(range)
                .ok_or_else(|| ServiceError::permanent(format!("{context}: bad Content-Range {range:?}")))?,
            // A whole-blob answer (the SDK's retry for an empty blob read from 0).
            None => start + received,
        };
        if total < start || received != want.min(total - start) {
            return Err(ServiceError::permanent(format!(
                "{context}: response of {received} bytes for a blob of {total} bytes"
            )));
        }
        let properties = BlobProperties { content_length: total, created_ms: unix_ms(response.properties.created_on) };
        let etag = response.properties.etag.as_ref().map(|e| unquoted_etag(e.as_ref()));
        let reader = RangeReader {
            client,
            name: blob.to_string(),
            next: start + received,
            end: total,
            request_bytes: self.options.request_bytes,
            body: Some((response.body, received)),
        };
        let chunks = Some(futures::stream::try_unfold(reader, RangeReader::next_chunk).boxed());
        Ok(TailRead { properties, chunks, etag })
    }

    async fn list(&self, prefix: &str) -> ServiceResult<Vec<BlobListing>> {
        let mut found = Vec::new();
        for ((account, container), client) in &self.containers {
            // The prefix is in the logical namespace: it can stop inside the account or container
            // part, or go on into the blob path.
            let base = format!("{account}/{container}/");
            let path_prefix = match prefix.strip_prefix(base.as_str()) {
                Some(rest) => rest,
                None if base.starts_with(prefix) => "",
                None => continue,
            };
            let context = format!("listing {base}{path_prefix}");
            let options = BlobContainerClientListBlobsOptions {
                prefix: (!path_prefix.is_empty()).then(|| path_prefix.to_string()),
                maxresults: self.options.list_page_size.map(|n| n.min(5000) as i32),
                ..Default::default()
            };
            let mut pages = client.list_blobs(Some(options)).map_err(|e| from_azure(&context, &e))?.into_pages();
            while let Some(page) = pages.try_next().await.map_err(|e| from_azure(&context, &e))? {
                let page = page.into_model().map_err(|e| from_azure(&context, &e))?;
                for item in page.blob_items {
                    let (Some(name), Some(props)) = (item.name, item.properties) else { continue };
                    if !name.ends_with("PT1H.json") {
                        continue;
                    }
                    let content_length = props.content_length.unwrap_or(0);
                    let created_ms = unix_ms(props.creation_time);
                    found.push(BlobListing {
                        blob: BlobName::new(format!("{base}{name}")),
                        properties: BlobProperties { content_length, created_ms },
                    });
                }
            }
        }
        found.sort_by(|a, b| a.blob.cmp(&b.blob));
        Ok(found)
    }
}

/// The total length of `bytes FIRST-LAST/TOTAL`.
fn content_range_total(value: &str) -> Option<u64> {
    value.strip_prefix("bytes ")?.rsplit_once('/')?.1.trim().parse().ok()
}

/// State of one `read_range`: the next offset, and the body of the sub-range being streamed
/// with the bytes still expected from it.
struct RangeReader {
    client: BlobClient,
    name: String,
    next: u64,
    end: u64,
    request_bytes: u64,
    body: Option<(AsyncResponseBody, u64)>,
}

impl RangeReader {
    async fn next_chunk(mut self) -> ServiceResult<Option<(bytes::Bytes, Self)>> {
        loop {
            // The body is moved out while awaiting it: a borrow held across the await would make
            // the stream require `Sync`, which the SDK's body stream is not.
            if let Some((mut body, remaining)) = self.body.take() {
                match body.next().await {
                    Some(Ok(chunk)) if chunk.len() as u64 > remaining => {
                        return Err(ServiceError::permanent(format!("{}: response longer than requested", self.name)));
                    }
                    Some(Ok(chunk)) => {
                        self.body = Some((body, remaining - chunk.len() as u64));
                        if !chunk.is_empty() {
                            return Ok(Some((chunk, self)));
                        }
                    }
                    Some(Err(e)) => return Err(from_azure(&format!("reading {}", self.name), &e)),
                    None if remaining > 0 => {
                        return Err(ServiceError::transient(format!("{}: response ended early", self.name)));
                    }
                    None => {}
                }
                continue;
            }
            if self.next >= self.end {
                return Ok(None);
            }
            let stop = self.end.min(self.next.saturating_add(self.request_bytes));
            self.body = Some((request(&self.client, &self.name, self.next..stop).await?, stop - self.next));
            self.next = stop;
        }
    }
}

/// One range GET (`bytes=start-(end-1)`), as a single request.
async fn request(client: &BlobClient, name: &str, range: Range<u64>) -> ServiceResult<AsyncResponseBody> {
    let context = format!("reading {name} bytes {}..{}", range.start, range.end);
    let len = range.end - range.start;
    let options = BlobClientDownloadOptions {
        range: Some(range.into()),
        parallel: Some(NonZero::<usize>::MIN),
        // One partition as large as the range: the SDK then sends exactly one GET.
        partition_size: NonZero::new(usize::try_from(len).unwrap_or(usize::MAX)),
        ..Default::default()
    };
    let response = client.download(Some(options)).await.map_err(|e| from_azure(&context, &e))?;
    match response.properties.content_length {
        Some(n) if n != len => {
            Err(ServiceError::permanent(format!("{context}: response of {n} bytes, the range lies outside the blob")))
        }
        _ => Ok(response.body),
    }
}
