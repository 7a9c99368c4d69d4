//! The Table entity that stores one blob's offset, with exact `Edm.Int64` round-trips.
//!
//! Table storage stores an unannotated JSON number as Int32 or Double; an Int64 must be sent as
//! a string with `"<name>@odata.type": "Edm.Int64"`, and comes back that way with full metadata.
//! Reading accepts numbers too, so entities written by other tools still load.
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::blob_name::BlobName;
use crate::domain::offset::OffsetState;
use crate::domain::offset::keys::EntityKeys;
use crate::pipeline::error::{ServiceError, ServiceResult};

const INT64: &str = "Edm.Int64";

/// What `save` writes.
#[derive(Serialize)]
pub struct OffsetEntity<'a> {
    #[serde(rename = "PartitionKey")]
    partition_key: &'a str,
    #[serde(rename = "RowKey")]
    row_key: &'a str,
    blob: &'a str,
    #[serde(rename = "offset@odata.type")]
    offset_type: &'static str,
    offset: String,
    #[serde(rename = "blob_created_ms@odata.type", skip_serializing_if = "Option::is_none")]
    blob_created_ms_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blob_created_ms: Option<String>,
    #[serde(rename = "last_content_length@odata.type")]
    last_content_length_type: &'static str,
    last_content_length: String,
    #[serde(rename = "rows_emitted@odata.type")]
    rows_emitted_type: &'static str,
    rows_emitted: String,
    #[serde(rename = "updated_at_ms@odata.type")]
    updated_at_ms_type: &'static str,
    updated_at_ms: String,
    /// The retry mark as a JSON document, and its due time as a property the pending query can
    /// filter on (an update without them removes them: Table updates replace the entity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<String>,
    #[serde(rename = "pending_next_ms@odata.type", skip_serializing_if = "Option::is_none")]
    pending_next_ms_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_next_ms: Option<String>,
    /// Recreations seen (Int32; absent while 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u32>,
    /// Tuples of the open record already delivered (Int32; absent while 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    open_tuples: Option<u32>,
}

impl<'a> OffsetEntity<'a> {
    /// Fails (Permanent) for unsigned values beyond Int64, which Table storage cannot hold.
    pub fn new(keys: &'a EntityKeys, blob: &'a BlobName, state: &OffsetState) -> ServiceResult<Self> {
        let int64 = |name: &str, v: u64| {
            i64::try_from(v)
                .map(|v| v.to_string())
                .map_err(|_| ServiceError::permanent(format!("offset of {blob}: {name} {v} exceeds Int64")))
        };
        Ok(OffsetEntity {
            partition_key: &keys.partition_key,
            row_key: &keys.row_key,
            blob: blob.as_str(),
            offset_type: INT64,
            offset: int64("offset", state.offset)?,
            blob_created_ms_type: state.blob_created_ms.map(|_| INT64),
            blob_created_ms: state.blob_created_ms.map(|v| v.to_string()),
            last_content_length_type: INT64,
            last_content_length: int64("last_content_length", state.last_content_length)?,
            rows_emitted_type: INT64,
            rows_emitted: int64("rows_emitted", state.rows_emitted)?,
            updated_at_ms_type: INT64,
            updated_at_ms: state.updated_at_ms.to_string(),
            pending: state.pending.as_ref().and_then(|p| serde_json::to_string(p).ok()),
            pending_next_ms_type: state.pending.as_ref().map(|_| INT64),
            pending_next_ms: state.pending.as_ref().map(|p| p.next_attempt_ms.to_string()),
            generation: (state.generation > 0).then_some(state.generation),
            open_tuples: (state.open_tuples > 0).then_some(state.open_tuples),
        })
    }
}

/// What `load` reads (annotations and system properties are ignored).
#[derive(Deserialize)]
pub struct StoredOffset {
    pub blob: String,
    #[serde(deserialize_with = "int64")]
    offset: i64,
    #[serde(default, deserialize_with = "opt_int64")]
    blob_created_ms: Option<i64>,
    #[serde(deserialize_with = "int64")]
    last_content_length: i64,
    #[serde(deserialize_with = "int64")]
    rows_emitted: i64,
    #[serde(deserialize_with = "int64")]
    updated_at_ms: i64,
    #[serde(default)]
    pending: Option<String>,
    #[serde(default)]
    generation: Option<u32>,
    #[serde(default)]
    open_tuples: Option<u32>,
}

impl StoredOffset {
    /// Negative counters cannot be written by flowlog; read them as 0 rather than wrap around.
    pub fn into_state(self) -> OffsetState {
        OffsetState {
            offset: u64::try_from(self.offset).unwrap_or(0),
            blob_created_ms: self.blob_created_ms,
            last_content_length: u64::try_from(self.last_content_length).unwrap_or(0),
            rows_emitted: u64::try_from(self.rows_emitted).unwrap_or(0),
            updated_at_ms: self.updated_at_ms,
            // Content marks are for blobs rewritable in place (local files); Azure blobs are
            // told apart by creation time, so the entity does not carry them.
            content: None,
            // A mark that does not parse (written by a newer version) is dropped, not fatal:
            // the next event for the blob retries it anyway.
            pending: self.pending.as_deref().and_then(|p| serde_json::from_str(p).ok()),
            generation: self.generation.unwrap_or(0),
            open_tuples: self.open_tuples.unwrap_or(0),
        }
    }
}

/// Keys and ETag of an entity found by the sweep query.
#[derive(Deserialize)]
pub struct KeysOnly {
    #[serde(rename = "PartitionKey")]
    pub partition_key: String,
    #[serde(rename = "RowKey")]
    pub row_key: String,
    #[serde(rename = "odata.etag", default)]
    pub etag: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Int64Repr {
    Text(String),
    Number(i64),
}

fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Int64Repr::deserialize(d)? {
        Int64Repr::Number(n) => Ok(n),
        Int64Repr::Text(s) => s.parse().map_err(|_| serde::de::Error::custom(format!("not an Int64: {s:?}"))),
    }
}

fn opt_int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    int64(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::offset::keys::entity_keys;

    #[test]
    fn int64_values_round_trip_exactly_through_json() {
        let blob = BlobName::from("a/c/PT1H.json");
        let keys = entity_keys(&blob);
        let state = OffsetState {
            generation: 3,
            open_tuples: 9,
            pending: None,
            offset: (1 << 53) + 1,
            blob_created_ms: Some(-5),
            last_content_length: i64::MAX as u64,
            rows_emitted: 7,
            updated_at_ms: 1_700_000_000_123,
            content: None,
        };
        let json = serde_json::to_value(OffsetEntity::new(&keys, &blob, &state).unwrap()).unwrap();
        assert_eq!(json["offset"], "9007199254740993");
        assert_eq!(json["offset@odata.type"], "Edm.Int64");
        let back: StoredOffset = serde_json::from_value(json).unwrap();
        assert_eq!(back.into_state(), state);

        let none = OffsetState { blob_created_ms: None, ..state };
        let json = serde_json::to_value(OffsetEntity::new(&keys, &blob, &none).unwrap()).unwrap();
        assert!(json.get("blob_created_ms").is_none() && json.get("blob_created_ms@odata.type").is_none());
        let back: StoredOffset = serde_json::from_value(json).unwrap();
        assert_eq!(back.into_state(), none);
        let too_big = OffsetState { offset: u64::MAX, ..none };
        assert!(OffsetEntity::new(&keys, &blob, &too_big).is_err());
    }

    #[test]
    fn plain_numbers_are_accepted_on_read() {
        let json = r#"{"blob":"b","offset":12,"last_content_length":14,"rows_emitted":1,"updated_at_ms":5}"#;
        let s: StoredOffset = serde_json::from_str(json).unwrap();
        assert_eq!((s.offset, s.blob_created_ms), (12, None));
    }
}
