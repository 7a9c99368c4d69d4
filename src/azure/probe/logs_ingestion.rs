//! The Logs Ingestion probe: one call carrying an empty JSON array (`[]`), which reaches the
//! token check, the rule and its stream without storing a row. The fake endpoint answers it 204;
//! a service that refuses an empty array (400) has still authenticated the token and found the
//! rule and stream (those are checked first: 401, 403, 404), so a 400 passes too, with its text.
use bytes::Bytes;

use super::{FailureClass, ProbeError};
use crate::azure::logs_ingestion::{Answer, Client};

/// Posts `[]` once and says what answered, or why it failed.
pub async fn empty_call(client: &Client) -> Result<String, ProbeError> {
    let http = client.http();
    let answer = client
        .post(&http, Bytes::from_static(b"[]"), false)
        .await
        .map_err(|e| ProbeError::new(FailureClass::Credential, e.to_string()))?;
    let target = client.target();
    match answer {
        Answer::Accepted => Ok("an empty call was accepted (204)".into()),
        Answer::Refused { status: 400, detail } => Ok(format!(
            "authenticated, rule and stream found; the empty probe array was refused as expected (400 {detail})"
        )),
        Answer::Refused { status: 401, detail } => {
            Err(ProbeError::new(FailureClass::Credential, format!("401 {detail}")))
        }
        Answer::Refused { status: 403, detail } => {
            Err(ProbeError::new(FailureClass::Forbidden, format!("403 {detail}")))
        }
        Answer::Refused { status: 404, detail } => Err(ProbeError::new(
            FailureClass::NotFound,
            format!("404 for rule {} stream {}: {detail}", target.dcr_immutable_id, target.stream),
        )),
        Answer::Refused { status, detail } => Err(ProbeError::new(FailureClass::Other, format!("{status} {detail}"))),
        Answer::TooLarge => Err(ProbeError::new(FailureClass::Other, "413 for an empty array".to_string())),
        Answer::Throttled { .. } => Err(ProbeError::new(FailureClass::Unavailable, "429 (throttled)".to_string())),
        Answer::ServerError { status, .. } => Err(ProbeError::new(FailureClass::Unavailable, format!("{status}"))),
        Answer::Unanswered => {
            Err(ProbeError::new(FailureClass::Timeout, format!("no answer within {} s", target.timeout.as_secs_f32())))
        }
        Answer::Failed(text) => Err(ProbeError::new(FailureClass::of_text(&text), text)),
    }
}
