//! Offsets table probes for `flowlog check` and the daemon's start: whether the table exists,
//! creating it, and a compare-and-swap round trip on a scratch entity, deleted afterwards.
use azure_core_legacy::Etag;
use azure_data_tables::IfMatchCondition;

use super::TableOffsetStore;
use super::entity::OffsetEntity;
use crate::azure::errors::legacy_error_code;
use crate::azure::probe::storage::scratch_id;
use crate::azure::probe::{FailureClass, ProbeError, of_legacy};
use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::domain::offset::keys::entity_keys;

impl TableOffsetStore {
    /// Whether the table exists: a read of a key nobody writes tells a missing table
    /// (`TableNotFound`) from a missing entity.
    pub async fn probe_exists(&self) -> Result<bool, ProbeError> {
        let client = self.table.partition_key_client("flowlog-check").entity_client("absent");
        match client.get::<serde_json::Value>().await {
            Ok(_) => Ok(true),
            Err(e) if legacy_error_code(&e) == Some("TableNotFound") => Ok(false),
            Err(e) => match of_legacy(&e) {
                err if err.class == FailureClass::NotFound => Ok(true),
                err => Err(err),
            },
        }
    }

    /// Creates the table unless it exists.
    pub async fn probe_create(&self) -> Result<(), ProbeError> {
        match self.table.create().await {
            Ok(_) => Ok(()),
            Err(e) if legacy_error_code(&e) == Some("TableAlreadyExists") => Ok(()),
            Err(e) => Err(of_legacy(&e)),
        }
    }

    /// Inserts a scratch entity, replaces it with its ETag, checks that the stale ETag is now
    /// refused (the compare-and-swap offsets rely on), and deletes it.
    pub async fn probe_round_trip(&self) -> Result<(), ProbeError> {
        let blob = BlobName::new(format!("flowlog-check/{}", scratch_id()));
        let keys = entity_keys(&blob);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let mut state = OffsetState { updated_at_ms: now as i64, ..OffsetState::default() };
        let other = |e: crate::pipeline::error::ServiceError| ProbeError::new(FailureClass::Other, e.message);
        let entity = OffsetEntity::new(&keys, &blob, &state).map_err(other)?;
        let insert = self.table.insert::<_, serde_json::Value>(&entity).map_err(|e| of_legacy(&e))?;
        let first = insert.await.map_err(|e| of_legacy(&e))?.etag;
        let client = self.table.partition_key_client(keys.partition_key.clone()).entity_client(keys.row_key.clone());
        state.offset = 12;
        let entity = OffsetEntity::new(&keys, &blob, &state).map_err(other)?;
        let stale = || IfMatchCondition::Etag(Etag::from(first.to_string()));
        let update = client.update(&entity, stale()).map_err(|e| of_legacy(&e))?;
        let result = match update.await {
            Err(e) => Err(of_legacy(&e)),
            Ok(_) => {
                let again = client.update(&entity, stale()).map_err(|e| of_legacy(&e))?;
                match again.await {
                    Err(e) if legacy_error_code(&e) == Some("UpdateConditionNotSatisfied") || is_412(&e) => Ok(()),
                    Err(e) => Err(of_legacy(&e)),
                    Ok(_) => Err(ProbeError::new(
                        FailureClass::Other,
                        "a replace with a stale ETag succeeded: this table does not do compare-and-swap",
                    )),
                }
            }
        };
        let deleted = client.delete().await.map(|_| ()).map_err(|e| of_legacy(&e));
        result.and(deleted)
    }
}

fn is_412(e: &azure_core_legacy::Error) -> bool {
    matches!(e.kind(), azure_core_legacy::error::ErrorKind::HttpResponse { status, .. } if u16::from(*status) == 412)
}
