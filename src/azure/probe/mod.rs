//! Probes of the Azure dependencies a configuration names, for `flowlog check` and the daemon's
//! start: each tries one thing (a token, a hub's properties, a receive link, a container write, a
//! table round trip) once, without the SDKs' own retries, and returns what it found or a
//! [`ProbeError`] classified the way an operator fixes it. Time limits are the caller's.
pub mod hubs;
pub mod logs_ingestion;
pub mod storage;

use std::future::Future;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core_amqp::{AmqpErrorCondition, AmqpErrorKind};
use azure_messaging_eventhubs::EventHubsError;

use super::errors::{chain_text, redact};
use super::eventhubs::amqp_errors;
pub use crate::pipeline::probe::{FailureClass, ProbeError};

/// Longest detail kept from an SDK error.
const MAX_DETAIL: usize = 300;

/// Awaits `probe` for at most `limit`; past it, a [`FailureClass::Timeout`].
pub async fn bounded<T>(limit: Duration, probe: impl Future<Output = Result<T, ProbeError>>) -> Result<T, ProbeError> {
    match tokio::time::timeout(limit, probe).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::new(FailureClass::Timeout, format!("no answer within {} s", limit.as_secs_f32()))),
    }
}

/// Acquires a token for `scope` (e.g. `https://storage.azure.com/.default`).
pub async fn token(credential: &dyn TokenCredential, scope: &str) -> Result<(), ProbeError> {
    credential.get_token(&[scope], None).await.map(|_| ()).map_err(|e| {
        let text = chain_text(&e);
        // A token source that cannot be reached is still a credential problem to the operator,
        // but the transport class says more when there is one.
        let class = match FailureClass::of_text(&text) {
            FailureClass::Other => FailureClass::Credential,
            class => class,
        };
        ProbeError::new(class, detail(&text))
    })
}

/// Classifies an `azure_core` 1.x error (`azure_storage_blob`).
pub fn of_azure(err: &azure_core::Error) -> ProbeError {
    use azure_core::error::ErrorKind as K;
    match err.kind() {
        K::HttpResponse { status, error_code, .. } => {
            let status = u16::from(*status);
            http(status, error_code.as_deref())
        }
        K::Credential => ProbeError::new(FailureClass::Credential, detail(&chain_text(err))),
        _ => of_text(&chain_text(err), &format!("{err:?}")),
    }
}

/// Classifies an `azure_core` 0.21 error (`azure_data_tables`).
pub fn of_legacy(err: &azure_core_legacy::Error) -> ProbeError {
    use azure_core_legacy::error::ErrorKind as K;
    match err.kind() {
        K::HttpResponse { status, error_code } => http(u16::from(*status), error_code.as_deref()),
        K::Credential => ProbeError::new(FailureClass::Credential, detail(&chain_text(err))),
        _ => of_text(&chain_text(err), &format!("{err:?}")),
    }
}

/// Classifies an Event Hubs SDK error: the service's AMQP condition or management status when
/// there is one, else what the transport said.
pub fn of_eventhubs(err: &EventHubsError) -> ProbeError {
    let text = chain_text(err);
    for amqp in amqp_errors(err) {
        match amqp.kind() {
            AmqpErrorKind::AmqpDescribedError(d) => {
                let said = d.description.clone().unwrap_or_default();
                let class = match &d.condition {
                    AmqpErrorCondition::NotFound => FailureClass::NotFound,
                    AmqpErrorCondition::UnauthorizedAccess if names_claims(&said) => FailureClass::Forbidden,
                    AmqpErrorCondition::UnauthorizedAccess => FailureClass::Credential,
                    AmqpErrorCondition::ServerBusyError | AmqpErrorCondition::InternalError => {
                        FailureClass::Unavailable
                    }
                    _ => continue,
                };
                return ProbeError::new(class, detail(&format!("{}: {said}", d.condition)));
            }
            AmqpErrorKind::ManagementStatusCode(code, description) => {
                let status = u16::from(*code);
                let said = description.clone().unwrap_or_default();
                let class = match FailureClass::of_status(status, None) {
                    Some(FailureClass::Credential) if names_claims(&said) => Some(FailureClass::Forbidden),
                    class => class,
                };
                if let Some(class) = class {
                    return ProbeError::new(class, detail(&format!("status {status} {said}")));
                }
            }
            _ => {}
        }
    }
    // fe2o3 quotes the condition in its text when the SDK wraps it as a link-state error.
    if text.contains("amqp:not-found") || (text.contains("NotFound") && text.contains("could not be found")) {
        return ProbeError::new(FailureClass::NotFound, detail(&text));
    }
    if text.contains("amqp:unauthorized-access") || text.contains("UnauthorizedAccess") {
        return ProbeError::new(FailureClass::Credential, detail(&text));
    }
    of_text(&text, &format!("{err:?}"))
}

/// Event Hubs answers a valid token without the role's rights with `amqp:unauthorized-access`
/// (or a management 401) saying "'Listen' claim(s) are required to perform this operation":
/// a missing role, not a rejected credential.
fn names_claims(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    d.contains("claim(s) are required") || d.contains("claims required")
}

fn http(status: u16, code: Option<&str>) -> ProbeError {
    let class = FailureClass::of_status(status, code).unwrap_or(FailureClass::Other);
    ProbeError::new(class, format!("HTTP {status} {}", code.unwrap_or("(no error code)")))
}

/// Transport failures: the class from the Display chain, else from the Debug form (which names
/// the io error kind, e.g. `ConnectionRefused`, where Display does not).
fn of_text(display: &str, debug: &str) -> ProbeError {
    let class = match FailureClass::of_text(display) {
        FailureClass::Other => FailureClass::of_text(debug),
        class => class,
    };
    ProbeError::new(class, detail(display))
}

fn detail(text: &str) -> String {
    let text = redact(text);
    match text.char_indices().nth(MAX_DETAIL) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core_amqp::{AmqpDescribedError, AmqpError};

    fn described(condition: AmqpErrorCondition, description: &str) -> EventHubsError {
        let d = AmqpDescribedError::new(condition, Some(description.into()), Default::default());
        EventHubsError::from(AmqpError::from(AmqpErrorKind::AmqpDescribedError(d)))
    }

    #[test]
    fn event_hubs_answers_name_a_missing_entity_a_missing_role_or_a_rejected_token() {
        let missing = described(
            AmqpErrorCondition::NotFound,
            "The messaging entity 'ns:eventhub:hub~32766|nogroup' could not be found.",
        );
        assert_eq!(of_eventhubs(&missing).class, FailureClass::NotFound);
        assert!(of_eventhubs(&missing).detail.contains("nogroup"));
        let role = described(
            AmqpErrorCondition::UnauthorizedAccess,
            "Unauthorized access. 'Listen' claim(s) are required to perform this operation.",
        );
        assert_eq!(of_eventhubs(&role).class, FailureClass::Forbidden);
        let token = described(AmqpErrorCondition::UnauthorizedAccess, "InvalidIssuer: Token issuer is invalid.");
        assert_eq!(of_eventhubs(&token).class, FailureClass::Credential);
    }
}
