//! Offset store on Azure Table storage (`azure_data_tables` 0.21): one entity per blob, ETag
//! compare-and-swap.
//!
//! Keys come from `entity_keys` (a hash: blob paths hold characters keys may not). Insert when
//! absent (409 = someone else inserted first), replace with If-Match otherwise (412 = someone
//! else wrote since our load). Numbers are written as `Edm.Int64`, whose JSON form is a string
//! with an `@odata.type` annotation: the SDK serializes plain serde, and an unannotated JSON
//! number is stored as Int32 or Double, which would lose exactness past 2^31 or 2^53.
pub mod entity;
pub mod probe;
pub mod transport;

use futures::StreamExt;

use azure_core_legacy::Etag;
use azure_data_tables::IfMatchCondition;
use azure_data_tables::clients::{TableClient, TableServiceClient, TableServiceClientBuilder};
use azure_data_tables::prelude::{Filter, Select};
use azure_storage::CloudLocation;

use crate::azure::errors::{from_legacy, legacy_error_code};
use crate::azure::storage_counter::StorageCounter;
use crate::azure::table::entity::{KeysOnly, OffsetEntity, StoredOffset};
use crate::azure::{AccountEndpoint, StorageAuth};
use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::domain::offset::keys::entity_keys;
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};
use crate::pipeline::offset_store::{OffsetStore, Version};

/// Deletes issued at once by a sweep.
const SWEEP_CONCURRENCY: usize = 16;

pub struct TableOffsetStore {
    table: TableClient,
}

impl TableOffsetStore {
    /// A store on table `table` of the account at `endpoint` (e.g.
    /// `https://ACCOUNT.table.core.windows.net` or Azurite's `http://127.0.0.1:PORT/devstoreaccount1`).
    /// Call [`ensure_table`](Self::ensure_table) once at start.
    pub fn new(endpoint: &AccountEndpoint, table: &str, auth: &StorageAuth) -> ServiceResult<Self> {
        Self::counted(endpoint, table, auth, None)
    }

    /// [`new`](Self::new), with every HTTP try of the store counted by `counter`.
    pub fn counted(
        endpoint: &AccountEndpoint,
        table: &str,
        auth: &StorageAuth,
        counter: Option<StorageCounter>,
    ) -> ServiceResult<Self> {
        Self::build(endpoint, table, auth, counter, true)
    }

    /// A store whose requests are tried once: probes report the first failure as it is.
    pub fn without_retries(endpoint: &AccountEndpoint, table: &str, auth: &StorageAuth) -> ServiceResult<Self> {
        Self::build(endpoint, table, auth, None, false)
    }

    fn build(
        endpoint: &AccountEndpoint,
        table: &str,
        auth: &StorageAuth,
        counter: Option<StorageCounter>,
        retries: bool,
    ) -> ServiceResult<Self> {
        if !is_table_name(table) {
            return Err(ServiceError::permanent(format!(
                "invalid table name {table:?}: 3-63 letters or digits, starting with a letter"
            )));
        }
        if let Some(account) = auth.key_account()
            && account != endpoint.account()
        {
            return Err(ServiceError::permanent(format!("account key is for {account}, table endpoint is {endpoint}")));
        }
        let location =
            CloudLocation::Custom { account: endpoint.account().to_string(), uri: endpoint.url().to_string() };
        let mut builder = TableServiceClientBuilder::with_location(location, auth.table_credentials()?);
        let mut options = azure_core_legacy::ClientOptions::new(transport::pooled()?);
        if let Some(counter) = counter {
            // A per-retry policy: it runs after the SDK's retry policy, once per try.
            options.per_retry_policies_mut().push(counter.legacy_policy());
        }
        if !retries {
            options = options.retry(azure_core_legacy::RetryOptions::none());
        }
        builder = builder.client_options(options);
        let service: TableServiceClient = builder.build();
        Ok(TableOffsetStore { table: service.table_client(table) })
    }

    /// Creates the table unless it exists.
    pub async fn ensure_table(&self) -> ServiceResult<()> {
        match self.table.create().await {
            Ok(_) => Ok(()),
            Err(e) if legacy_error_code(&e) == Some("TableAlreadyExists") => Ok(()),
            Err(e) => Err(from_legacy(&format!("creating table {}", self.table.table_name()), &e)),
        }
    }
}

/// Table names: 3-63 alphanumeric characters, starting with a letter.
pub fn is_table_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl OffsetStore for TableOffsetStore {
    async fn load(&self, blob: &BlobName) -> ServiceResult<Option<(OffsetState, Version)>> {
        let keys = entity_keys(blob);
        let context = format!("loading offset of {blob}");
        let client = self.table.partition_key_client(keys.partition_key).entity_client(keys.row_key);
        let response = match client.get::<StoredOffset>().await {
            Ok(response) => response,
            // A missing table is also a 404, but must not read as "never processed".
            Err(e) if legacy_error_code(&e) == Some("TableNotFound") => {
                return Err(ServiceError::permanent(format!("{context}: table {} not found", self.table.table_name())));
            }
            Err(e) => {
                let err = from_legacy(&context, &e);
                return if err.kind == ErrorKind::NotFound { Ok(None) } else { Err(err) };
            }
        };
        let stored = response.entity;
        if stored.blob != blob.as_str() {
            return Err(ServiceError::permanent(format!("{context}: entity holds blob {:?}", stored.blob)));
        }
        Ok(Some((stored.into_state(), Version(response.etag.to_string()))))
    }

    async fn save(&self, blob: &BlobName, state: &OffsetState, expected: Option<&Version>) -> ServiceResult<Version> {
        let keys = entity_keys(blob);
        let entity = OffsetEntity::new(&keys, blob, state)?;
        let etag = match expected {
            None => {
                let context = format!("inserting offset of {blob}");
                let insert =
                    self.table.insert::<_, serde_json::Value>(&entity).map_err(|e| from_legacy(&context, &e))?;
                insert.await.map_err(|e| from_legacy(&context, &e))?.etag
            }
            Some(version) => {
                let context = format!("replacing offset of {blob}");
                let client =
                    self.table.partition_key_client(keys.partition_key.clone()).entity_client(keys.row_key.clone());
                let condition = IfMatchCondition::Etag(Etag::from(version.0.clone()));
                let update = client.update(&entity, condition).map_err(|e| from_legacy(&context, &e))?;
                match update.await {
                    Ok(response) => response.etag,
                    Err(e) => {
                        let mut err = from_legacy(&context, &e);
                        // Swept or deleted since our load: the expected version is gone, a lost race.
                        if err.kind == ErrorKind::NotFound && legacy_error_code(&e) != Some("TableNotFound") {
                            err.kind = ErrorKind::Conflict;
                        }
                        return Err(err);
                    }
                }
            }
        };
        Ok(Version(etag.to_string()))
    }

    async fn pending(&self) -> ServiceResult<Vec<(BlobName, OffsetState)>> {
        self.marked().await
    }

    async fn sweep(&self, cutoff_ms: i64) -> ServiceResult<u64> {
        let context = format!("sweeping offsets older than {cutoff_ms} ms");
        let mut pages = self
            .table
            .query()
            .filter(Filter::new(format!("updated_at_ms lt {cutoff_ms}L")))
            .select(Select::new("PartitionKey,RowKey"))
            .into_stream::<KeysOnly>();
        let mut deleted = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_legacy(&context, &e))?;
            let results = futures::stream::iter(page.entities)
                .map(|entity| self.delete(entity))
                .buffer_unordered(SWEEP_CONCURRENCY)
                .collect::<Vec<_>>()
                .await;
            for result in results {
                deleted += u64::from(result?);
            }
        }
        Ok(deleted)
    }
}

impl TableOffsetStore {
    /// Every entity with a retry mark: only marked entities have `pending_next_ms`, and a filter
    /// on a property an entity lacks does not match it.
    async fn marked(&self) -> ServiceResult<Vec<(BlobName, OffsetState)>> {
        let context = "listing offsets with retry marks";
        let mut pages = self.table.query().filter(Filter::new("pending_next_ms ge 0L")).into_stream::<StoredOffset>();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_legacy(context, &e))?;
            for stored in page.entities {
                let blob = BlobName::new(stored.blob.as_str());
                let state = stored.into_state();
                if state.pending.is_some() {
                    found.push((blob, state));
                }
            }
        }
        Ok(found)
    }

    /// Deletes one swept entity if it is unchanged since the query: an entry updated meanwhile
    /// (412) or already gone (404) is left alone. Returns whether it was deleted.
    async fn delete(&self, entity: KeysOnly) -> ServiceResult<bool> {
        let client = self.table.partition_key_client(entity.partition_key).entity_client(entity.row_key);
        let mut delete = client.delete();
        if let Some(etag) = entity.etag {
            delete = delete.if_match(IfMatchCondition::Etag(Etag::from(etag)));
        }
        match delete.await {
            Ok(_) => Ok(true),
            Err(e) => match from_legacy("deleting swept offset", &e) {
                err if matches!(err.kind, ErrorKind::NotFound | ErrorKind::Conflict) => Ok(false),
                err => Err(err),
            },
        }
    }
}
