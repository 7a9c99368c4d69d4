//! Blob container probes: exists, create, a scratch write (then deleted), a listing and a read.
use std::num::NonZero;

use azure_core::http::RequestContent;
use azure_storage_blob::BlobContainerClient;
use azure_storage_blob::models::{BlobClientDownloadOptions, BlobContainerClientListBlobsOptions};
use futures::{StreamExt, TryStreamExt};

use super::{FailureClass, ProbeError, of_azure};
use crate::azure::blob_clients::{BlobTransport, probe_container_client};
use crate::azure::{AccountEndpoint, StorageAuth};

/// Where scratch blobs go; the name says what wrote them, should a delete ever fail.
const SCRATCH_PREFIX: &str = "flowlog-check/";

/// One container of one account, probed without retries.
pub struct ContainerProbe {
    client: BlobContainerClient,
}

/// What a listing found: how many blobs, and the flow-log blob read (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub blobs: usize,
    pub read: Option<String>,
}

impl ContainerProbe {
    pub fn new(
        endpoint: &AccountEndpoint,
        container: &str,
        auth: &StorageAuth,
        transport: &BlobTransport,
    ) -> Result<Self, ProbeError> {
        let client = probe_container_client(endpoint, container, auth, "rcwdl", transport)
            .map_err(|e| ProbeError::new(FailureClass::Other, e.message))?;
        Ok(ContainerProbe { client })
    }

    pub async fn exists(&self) -> Result<bool, ProbeError> {
        self.client.exists().await.map_err(|e| of_azure(&e))
    }

    pub async fn create(&self) -> Result<(), ProbeError> {
        match self.client.create(None).await {
            Ok(_) => Ok(()),
            Err(e) if crate::azure::errors::error_code(&e) == Some("ContainerAlreadyExists") => Ok(()),
            Err(e) => Err(of_azure(&e)),
        }
    }

    /// Writes a small scratch blob and deletes it again; returns its name.
    pub async fn write_scratch(&self) -> Result<String, ProbeError> {
        let name = format!("{SCRATCH_PREFIX}{}", scratch_id());
        let blob = self.client.blob_client(&name);
        blob.upload(RequestContent::from(b"flowlog check".to_vec()), None).await.map_err(|e| of_azure(&e))?;
        blob.delete(None).await.map_err(|e| of_azure(&e))?;
        Ok(name)
    }

    /// Lists the first page of blobs and reads the first bytes of the first `PT1H.json` on it.
    pub async fn list_and_read(&self) -> Result<Listed, ProbeError> {
        let options = BlobContainerClientListBlobsOptions { maxresults: Some(100), ..Default::default() };
        let mut pages = self.client.list_blobs(Some(options)).map_err(|e| of_azure(&e))?.into_pages();
        let Some(page) = pages.try_next().await.map_err(|e| of_azure(&e))? else {
            return Ok(Listed { blobs: 0, read: None });
        };
        let page = page.into_model().map_err(|e| of_azure(&e))?;
        let names: Vec<String> = page.blob_items.into_iter().filter_map(|item| item.name).collect();
        let Some(flow_log) = names.iter().find(|n| n.ends_with("PT1H.json")) else {
            return Ok(Listed { blobs: names.len(), read: None });
        };
        let options = BlobClientDownloadOptions {
            range: Some((0..12u64).into()),
            parallel: Some(NonZero::<usize>::MIN),
            ..Default::default()
        };
        let response = self.client.blob_client(flow_log).download(Some(options)).await.map_err(|e| of_azure(&e))?;
        let mut body = response.body;
        if let Some(chunk) = body.next().await {
            chunk.map_err(|e| of_azure(&e))?;
        }
        Ok(Listed { blobs: names.len(), read: Some(flow_log.clone()) })
    }
}

/// A name no other probe uses at the same time: process id and clock.
pub fn scratch_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}
