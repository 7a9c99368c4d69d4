//! Grows a block blob the way NSG/VNet flow logging does: a head block, one block per record,
//! and a tail block that every append keeps last.
//!
//! Each append stages the new block and re-commits the committed block list with the new block
//! inserted before the tail (Put Block + Put Block List), so bytes before `length - tail` never
//! change. The tests use it to build realistic blobs; `flowlog simulate --azure` reuses it.
use azure_core::http::RequestContent;
use azure_storage_blob::models::{
    BlockBlobClientCommitBlockListOptions, BlockBlobClientCommitBlockListResultHeaders, BlockListHeaders,
    BlockListType, BlockLookupList,
};
use azure_storage_blob::{BlobContainerClient, BlockBlobClient};

use crate::azure::blob_store::unquoted_etag;
use crate::azure::errors::{error_code, from_azure};
use crate::pipeline::error::{ServiceError, ServiceResult};

/// Block ids of one blob must all have the same length: 16 hex digits.
fn block_id(n: u64) -> Vec<u8> {
    format!("{n:016x}").into_bytes()
}

const HEAD_ID: u64 = 0;
const TAIL_ID: u64 = u64::MAX;

/// Appends blocks before the tail block of one block blob.
pub struct BlockAppender {
    client: BlockBlobClient,
    name: String,
}

impl BlockAppender {
    pub fn new(container: &BlobContainerClient, path: &str) -> Self {
        let client = container.blob_client(path).block_blob_client();
        BlockAppender { client, name: path.to_string() }
    }

    /// Creates the blob as `head` followed by `tail`, replacing any existing content.
    /// Returns the content length.
    pub async fn create(&self, head: &[u8], tail: &[u8]) -> ServiceResult<u64> {
        self.stage(HEAD_ID, head).await?;
        self.stage(TAIL_ID, tail).await?;
        let list = BlockLookupList { latest: Some(vec![block_id(HEAD_ID), block_id(TAIL_ID)]), ..Default::default() };
        self.commit(list, None).await?;
        Ok((head.len() + tail.len()) as u64)
    }

    /// Inserts `block` before the last committed block and returns the new content length.
    /// A concurrent commit by another writer makes this fail with `Conflict` (If-Match).
    pub async fn append_before_tail(&self, block: &[u8]) -> ServiceResult<u64> {
        Ok(self.append_tagged(block).await?.0)
    }

    /// [`Self::append_before_tail`], also returning the blob's new ETag (unquoted, as a
    /// BlobCreated event carries it) when the service sent one.
    pub async fn append_tagged(&self, block: &[u8]) -> ServiceResult<(u64, Option<String>)> {
        let context = format!("reading block list of {}", self.name);
        let response =
            self.client.get_block_list(BlockListType::Committed, None).await.map_err(|e| from_azure(&context, &e))?;
        let etag = response.etag().map_err(|e| from_azure(&context, &e))?;
        let committed =
            response.into_model().map_err(|e| from_azure(&context, &e))?.committed_blocks.unwrap_or_default();
        if committed.is_empty() {
            return Err(ServiceError::permanent(format!("{} has no committed blocks: create it first", self.name)));
        }
        let mut length = block.len() as u64;
        let mut ids = Vec::with_capacity(committed.len() + 1);
        for b in &committed {
            match (b.name.clone(), b.size.and_then(|s| u64::try_from(s).ok())) {
                (Some(id), Some(size)) => {
                    length += size;
                    ids.push(id);
                }
                _ => return Err(ServiceError::permanent(format!("block list of {} lacks names or sizes", self.name))),
            }
        }
        // Ids count up with the number of blocks: unique as long as the list only grows.
        let n = (committed.len() - 1) as u64;
        if ids.contains(&block_id(n)) {
            return Err(ServiceError::permanent(format!(
                "{} was not written by this writer (block id clash)",
                self.name
            )));
        }
        self.stage(n, block).await?;
        ids.insert(ids.len() - 1, block_id(n));
        // "Latest" picks the staged block for the new id and the committed one for the others;
        // the list order is the content order.
        let etag = self.commit(BlockLookupList { latest: Some(ids), ..Default::default() }, etag).await?;
        Ok((length, etag))
    }

    async fn stage(&self, n: u64, data: &[u8]) -> ServiceResult<()> {
        self.client
            .stage_block(&block_id(n), data.len() as u64, RequestContent::from(data.to_vec()), None)
            .await
            .map_err(|e| from_azure(&format!("staging block of {}", self.name), &e))?;
        Ok(())
    }

    /// Commits `list`; returns the blob's new ETag, unquoted.
    async fn commit(
        &self,
        list: BlockLookupList,
        if_match: Option<azure_core::http::Etag>,
    ) -> ServiceResult<Option<String>> {
        let context = format!("committing block list of {}", self.name);
        let content = list.try_into().map_err(|e| from_azure(&context, &e))?;
        let options = BlockBlobClientCommitBlockListOptions { if_match, ..Default::default() };
        let response = self.client.commit_block_list(content, Some(options)).await.map_err(|e| {
            let mut err = from_azure(&context, &e);
            if error_code(&e) == Some("InvalidBlockList") {
                err.message.push_str(" (a staged block vanished: concurrent writer?)");
            }
            err
        })?;
        let etag = response.etag().map_err(|e| from_azure(&context, &e))?;
        Ok(etag.map(|e| unquoted_etag(e.as_ref())))
    }
}
