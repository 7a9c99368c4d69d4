//! Event Grid decoding (pure): an Event Hubs message body → one `EventBody` per event in it.
//!
//! Event Grid writes one event per message as a JSON array (EventGridSchema: `eventType`,
//! `subject`, `topic`, `data`; CloudEvents 1.0: `type`, `subject`, `source`, `data`); any array
//! length and a bare object are accepted. Only `Microsoft.Storage.BlobCreated` is acted on.
//! Events are untrusted: the blob must lie in an allowed account/container, and every field we
//! rely on is checked, so nothing an event says can panic or widen what flowlog reads.
use serde_json::Value;

use crate::azure::sources::AllowedSources;
use crate::domain::format::error::bounded_quote as quote;
use crate::pipeline::change_feed::{BlobChanged, EventBody};

pub const BLOB_CREATED: &str = "Microsoft.Storage.BlobCreated";

/// Decodes a message body. Always yields at least one item, so every message has a position the
/// engine acknowledges.
pub fn decode(body: &[u8], allowed: &AllowedSources) -> Vec<EventBody> {
    let invalid = |reason: String| vec![EventBody::Invalid { reason, raw: body.to_vec() }];
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return invalid(format!("event body is not JSON: {e}")),
    };
    match value {
        Value::Array(events) if events.is_empty() => {
            vec![EventBody::Ignored { reason: "empty Event Grid event array".into() }]
        }
        Value::Array(events) => {
            let many = events.len() > 1;
            events
                .iter()
                .enumerate()
                .map(|(i, ev)| match decode_one(ev, allowed) {
                    Decoded::Body(b) => b,
                    Decoded::Invalid(reason) => EventBody::Invalid {
                        reason: if many { format!("event {i} of {}: {reason}", events.len()) } else { reason },
                        // The offending event alone: the others of the array are handled on their own.
                        raw: if many { serde_json::to_vec(ev).unwrap_or_default() } else { body.to_vec() },
                    },
                })
                .collect()
        }
        Value::Object(_) => match decode_one(&value, allowed) {
            Decoded::Body(b) => vec![b],
            Decoded::Invalid(reason) => invalid(reason),
        },
        _ => invalid("event body is neither a JSON array nor an object".into()),
    }
}

enum Decoded {
    Body(EventBody),
    Invalid(String),
}

fn decode_one(ev: &Value, allowed: &AllowedSources) -> Decoded {
    match blob_created(ev, allowed) {
        Ok(Some(changed)) => Decoded::Body(EventBody::Changed(changed)),
        Ok(None) => {
            let ty = event_type(ev).unwrap_or_default();
            Decoded::Body(EventBody::Ignored { reason: format!("event type {} is not {BLOB_CREATED}", quote(ty)) })
        }
        Err(reason) => Decoded::Invalid(reason),
    }
}

/// EventGridSchema names it `eventType`, CloudEvents `type`.
fn event_type(ev: &Value) -> Option<&str> {
    ev.get("eventType").or_else(|| ev.get("type")).and_then(Value::as_str)
}

/// `Ok(None)` for a well-formed event of another type.
fn blob_created(ev: &Value, allowed: &AllowedSources) -> Result<Option<BlobChanged>, String> {
    if !ev.is_object() {
        return Err("event is not a JSON object".into());
    }
    let ty = event_type(ev).ok_or("event has no string eventType (EventGridSchema) or type (CloudEvents)")?;
    if ty != BLOB_CREATED {
        return Ok(None);
    }
    let data = ev.get("data").filter(|d| d.is_object()).ok_or("BlobCreated event has no data object")?;
    let content_length = match data.get("contentLength") {
        Some(v) if v.as_u64().is_some() => v.as_u64().unwrap_or_default(),
        Some(v) if v.as_i64().is_some_and(|n| n < 0) => return Err(format!("negative data.contentLength {v}")),
        Some(v) => return Err(format!("data.contentLength {v} is not a non-negative integer")),
        None => return Err("BlobCreated event has no data.contentLength".into()),
    };
    let sequencer = match data.get("sequencer") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(format!("data.sequencer {v} is not a string")),
    };
    let etag = match data.get("eTag") {
        Some(Value::String(s)) if !s.is_empty() => Some(crate::azure::blob_store::unquoted_etag(s)),
        _ => None,
    };
    let blob = match data.get("url") {
        Some(Value::String(url)) => allowed.blob_from_url(url)?,
        Some(v) if !v.is_null() => return Err(format!("data.url {v} is not a string")),
        _ => blob_from_subject(ev, allowed)?,
    };
    Ok(Some(BlobChanged { blob, content_length, sequencer, etag, enqueued_ms: None }))
}

/// Fallback without `data.url`: `subject` = `/blobServices/default/containers/C/blobs/PATH`, the
/// account from the storage-account resource id in `topic` (EventGridSchema) or `source`
/// (CloudEvents). The subject carries the blob name unencoded.
fn blob_from_subject(ev: &Value, allowed: &AllowedSources) -> Result<crate::domain::blob_name::BlobName, String> {
    let subject =
        ev.get("subject").and_then(Value::as_str).ok_or("BlobCreated event has neither data.url nor subject")?;
    let rest = subject
        .strip_prefix("/blobServices/default/containers/")
        .ok_or_else(|| format!("subject {} does not name a blob", quote(subject)))?;
    let (container, path) =
        rest.split_once("/blobs/").ok_or_else(|| format!("subject {} does not name a blob", quote(subject)))?;
    let resource = ev.get("topic").or_else(|| ev.get("source")).and_then(Value::as_str).unwrap_or_default();
    let account = storage_account(resource).ok_or_else(|| {
        format!("no storage account in topic/source {} for subject {}", quote(resource), quote(subject))
    })?;
    allowed.blob_from_parts(account, container, path)
}

/// The account name of `/subscriptions/../providers/Microsoft.Storage/storageAccounts/NAME`.
fn storage_account(resource: &str) -> Option<&str> {
    let mut parts = resource.split('/');
    parts.by_ref().find(|p| p.eq_ignore_ascii_case("storageAccounts"))?;
    parts.next().filter(|a| !a.is_empty())
}

#[cfg(test)]
#[path = "eventgrid_tests.rs"]
mod tests;
