//! Event Hubs plumbing shared by the change feed and the row sink: where a hub is, bounded SDK
//! calls, and the classification of `azure_messaging_eventhubs` errors into `ServiceError` kinds.
//!
//! SDK 0.15's send, close and management calls have no timeout of their own, so every call goes
//! through [`bounded`]; an elapsed timeout is Transient (the engine retries with backoff).
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core_amqp::{AmqpError, AmqpErrorCondition, AmqpErrorKind};
use azure_messaging_eventhubs::error::ErrorKind as HubKind;
use azure_messaging_eventhubs::{EventHubsError, ProducerClient, RetryOptions};

use super::errors::{from_azure, redact};
use crate::pipeline::error::{ErrorKind, ServiceError, ServiceResult};

/// One Event Hub and how to reach it.
#[derive(Clone)]
pub struct HubTarget {
    /// Fully qualified namespace, `NAME.servicebus.windows.net`.
    pub namespace: String,
    pub hub: String,
    pub credential: Arc<dyn TokenCredential>,
    /// `amqp://127.0.0.1:PORT` for the test emulator; `None` in production.
    pub custom_endpoint: Option<String>,
    /// The SDK's own retries (`None` = SDK defaults: 8 retries within 60 s).
    pub retry: Option<RetryOptions>,
    /// Bound on each SDK call (send, create batch, management, close).
    pub call_timeout: Duration,
}

impl HubTarget {
    /// `namespace` is fully qualified (`NAME.servicebus.windows.net`, or a sovereign cloud's
    /// suffix); a bare `NAME` gets the public cloud suffix.
    pub fn new(namespace: &str, hub: &str, credential: Arc<dyn TokenCredential>) -> Self {
        let namespace = namespace.trim().trim_start_matches("sb://").trim_end_matches('/');
        let namespace =
            if namespace.contains('.') { namespace.to_string() } else { format!("{namespace}.servicebus.windows.net") };
        HubTarget {
            namespace,
            hub: hub.to_string(),
            credential,
            custom_endpoint: None,
            retry: None,
            call_timeout: Duration::from_secs(60),
        }
    }

    pub fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.hub)
    }
}

impl std::fmt::Debug for HubTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubTarget")
            .field("namespace", &self.namespace)
            .field("hub", &self.hub)
            .field("custom_endpoint", &self.custom_endpoint)
            .field("call_timeout", &self.call_timeout)
            .finish_non_exhaustive()
    }
}

/// Awaits an SDK call for at most `limit`; a timeout and the SDK's errors become `ServiceError`s.
pub async fn bounded<T>(
    context: &str,
    limit: Duration,
    call: impl Future<Output = Result<T, EventHubsError>>,
) -> ServiceResult<T> {
    bounded_call(context, limit, call).await.map_err(|f| f.error)
}

/// A failed call, and whether the client's connection should be replaced before the next one.
#[derive(Debug)]
pub struct CallFailure {
    pub error: ServiceError,
    pub reconnect: bool,
}

/// [`bounded`], also telling whether to replace the client: SDK 0.15 never re-establishes a
/// lost connection, so after a transport failure or a hung call every later call on the same
/// client fails too.
pub async fn bounded_call<T>(
    context: &str,
    limit: Duration,
    call: impl Future<Output = Result<T, EventHubsError>>,
) -> Result<T, CallFailure> {
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(CallFailure { error: from_eventhubs(context, &e), reconnect: needs_new_connection(&e) }),
        Err(_) => Err(CallFailure {
            error: ServiceError::transient(format!("{context}: no answer within {limit:?}")),
            reconnect: true,
        }),
    }
}

/// Whether an error leaves the connection unusable. Answers from the service (rejections,
/// throttling, management status codes, a stolen link) mean the connection works.
pub fn needs_new_connection(err: &EventHubsError) -> bool {
    if matches!(
        err.kind,
        HubKind::SendRejected(_) | HubKind::ConsumerDisconnected(_) | HubKind::InvalidManagementResponse
    ) {
        return false;
    }
    for amqp in amqp_errors(err) {
        match amqp.kind() {
            AmqpErrorKind::AmqpDescribedError(d) => {
                return matches!(
                    d.condition,
                    AmqpErrorCondition::ConnectionForced
                        | AmqpErrorCondition::ConnectionFramingError
                        | AmqpErrorCondition::ProtonIo
                );
            }
            AmqpErrorKind::ManagementStatusCode(..) | AmqpErrorKind::SendRejected => return false,
            _ => {}
        }
    }
    true
}

/// Whether the error says another receiver took the partition (`amqp:link:stolen`) or the
/// processor revoked it: ownership is lost, not a failure. SDK 0.15 usually reports a stolen
/// link as a link-state error that carries fe2o3's condition only in its text
/// (`RemoteClosedWithError(Error { condition: LinkError(Stolen), .. })`).
pub fn is_ownership_lost(err: &EventHubsError) -> bool {
    matches!(err.kind, HubKind::ConsumerDisconnected(_))
        || amqp_errors(err).iter().any(|e| {
            matches!(e.kind(), AmqpErrorKind::AmqpDescribedError(d) if d.condition == AmqpErrorCondition::LinkStolen)
        })
        || {
            let text = err.to_string();
            text.contains("LinkError(Stolen)") || text.contains("amqp:link:stolen")
        }
}

/// Classifies an SDK error: throttling, timeouts and broken connections are Transient; oversize,
/// authorization and unknown entities are Permanent.
pub fn from_eventhubs(context: &str, err: &EventHubsError) -> ServiceError {
    let detail = redact(&err.to_string());
    let detail: String = detail.chars().take(600).collect();
    ServiceError::new(kind_of(err), format!("{context}: {detail}"))
}

fn kind_of(err: &EventHubsError) -> ErrorKind {
    match &err.kind {
        HubKind::ConsumerDisconnected(_) => return ErrorKind::Transient,
        HubKind::SendRejected(Some(d)) => return condition_kind(&d.condition),
        HubKind::SendRejected(None) | HubKind::InvalidManagementResponse => return ErrorKind::Permanent,
        HubKind::AzureCore(e) if amqp_errors(err).is_empty() => return core_kind(e),
        _ => {}
    }
    // The most specific answer in the chain decides: a described error or status code from the
    // service, else an `azure_core` error the AMQP stack wrapped.
    let chain = amqp_errors(err);
    for amqp in &chain {
        match amqp.kind() {
            AmqpErrorKind::AmqpDescribedError(d) => return condition_kind(&d.condition),
            AmqpErrorKind::ManagementStatusCode(code, _) => {
                return ServiceError::from_status(u16::from(*code), String::new()).kind;
            }
            AmqpErrorKind::SendRejected => return ErrorKind::Permanent,
            _ => {}
        }
    }
    if let Some(e) = chain.iter().find_map(|a| match a.kind() {
        AmqpErrorKind::AzureCore(e) => Some(e),
        _ => None,
    }) {
        return core_kind(e);
    }
    // Anything else comes from the transport or the client's state: retrying is the safe side,
    // and the engine bounds retries before dead-lettering.
    ErrorKind::Transient
}

/// `azure_core` errors from the AMQP stack are mostly "could not ensure sender/connection"
/// (kind Other) after a transport failure: Transient, unless they carry an HTTP answer.
fn core_kind(e: &azure_core::Error) -> ErrorKind {
    match e.kind() {
        azure_core::error::ErrorKind::HttpResponse { .. } | azure_core::error::ErrorKind::DataConversion => {
            from_azure("", e).kind
        }
        _ => ErrorKind::Transient,
    }
}

fn condition_kind(condition: &AmqpErrorCondition) -> ErrorKind {
    use AmqpErrorCondition as C;
    match condition {
        C::ServerBusyError
        | C::TimeoutError
        | C::InternalError
        | C::ConnectionForced
        | C::LinkDetachForced
        | C::LinkStolen
        | C::ResourceLimitExceeded
        | C::OperationCancelled
        | C::PartitionNotOwnedError
        | C::StoreLockLostError
        | C::ConnectionRedirect
        | C::LinkRedirect
        | C::ProtonIo
        | C::ConnectionFramingError => ErrorKind::Transient,
        C::UnknownValue(v) if v.contains("server-busy") || v.contains("timeout") => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    }
}

/// Every AMQP error in the chain (the SDK wraps them in its own and in `azure_core` errors).
pub(crate) fn amqp_errors(err: &EventHubsError) -> Vec<&AmqpError> {
    let mut found = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(amqp) = e.downcast_ref::<AmqpError>() {
            found.push(amqp);
        }
        next = e.source();
    }
    found
}

/// Opens a producer on `target` (connecting at once, bounded by its call timeout).
pub async fn open_producer(target: &HubTarget) -> ServiceResult<ProducerClient> {
    let mut builder = ProducerClient::builder().with_application_id(format!("flowlog-{}", env!("CARGO_PKG_VERSION")));
    if let Some(endpoint) = &target.custom_endpoint {
        builder = builder.with_custom_endpoint(endpoint.clone());
    }
    if let Some(retry) = &target.retry {
        builder = builder.with_retry_options(retry.clone());
    }
    let context = format!("opening producer for {}", target.describe());
    bounded(&context, target.call_timeout, builder.open(&target.namespace, &target.hub, target.credential.clone()))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core_amqp::AmqpDescribedError;

    fn described(condition: AmqpErrorCondition) -> EventHubsError {
        let d = AmqpDescribedError::new(condition, Some("d".into()), Default::default());
        EventHubsError::from(AmqpError::from(AmqpErrorKind::AmqpDescribedError(d)))
    }

    #[test]
    fn throttling_is_transient_oversize_and_auth_are_permanent() {
        let kind = |c| from_eventhubs("send", &described(c)).kind;
        assert_eq!(kind(AmqpErrorCondition::ServerBusyError), ErrorKind::Transient);
        assert_eq!(kind(AmqpErrorCondition::TimeoutError), ErrorKind::Transient);
        assert_eq!(kind(AmqpErrorCondition::LinkPayloadSizeExceeded), ErrorKind::Permanent);
        assert_eq!(kind(AmqpErrorCondition::UnauthorizedAccess), ErrorKind::Permanent);
        assert!(is_ownership_lost(&described(AmqpErrorCondition::LinkStolen)));
        assert!(!is_ownership_lost(&described(AmqpErrorCondition::ServerBusyError)));
    }

    #[tokio::test]
    async fn a_call_that_never_answers_is_transient() {
        let never = std::future::pending::<Result<(), EventHubsError>>();
        let err = bounded("send", Duration::from_millis(10), never).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transient);
    }
}
