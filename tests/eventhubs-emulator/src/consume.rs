//! Consumer links (`<hub>/ConsumerGroups/<cg>/Partitions/<id>`): resolve the selector filter to a
//! start position, enforce owner levels (epochs), and stream events with the annotations and
//! types the SDK reads while the client grants credit.

use crate::address::{StartFilter, parse_selector};
use crate::connection::LinkAuthorization;
use crate::server::{CLOSE_TIMEOUT, close_sender};
use crate::state::{Refused, State};
use crate::store::StoredEvent;
use fe2o3::link::Sender;
use fe2o3::link::delivery::Sendable;
use fe2o3_types::definitions::{self, AmqpError, ErrorCondition, LinkError};
use fe2o3_types::messaging::annotations::OwnedKey;
use fe2o3_types::messaging::message::__private::Deserializable;
use fe2o3_types::messaging::{Body, Message, MessageAnnotations};
use fe2o3_types::performatives::Attach;
use fe2o3_types::primitives::{Symbol, Timestamp, Value};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const EPOCH_PROPERTY: &str = "com.microsoft:epoch";

/// What a client asked for when attaching a receiver.
#[derive(Debug, Clone)]
pub(crate) struct ReceiverRequest {
    hub: String,
    consumer_group: String,
    partition: String,
    /// Selector filter, or an error description when it could not be parsed.
    filter: Result<StartFilter, String>,
    epoch: Option<i64>,
}

impl ReceiverRequest {
    pub fn from_attach(attach: &Attach, hub: String, consumer_group: String, partition: String) -> Self {
        let expression =
            attach.source.as_ref().and_then(|s| s.filter.as_ref()).and_then(|f| f.values().find_map(selector_string));
        let filter = expression.map_or(Ok(StartFilter::default()), |e| parse_selector(&e));
        let epoch = attach.properties.as_ref().and_then(|p| match p.get(&Symbol::from(EPOCH_PROPERTY))? {
            Value::Long(v) => Some(*v),
            Value::Int(v) => Some(i64::from(*v)),
            _ => None,
        });
        Self { hub, consumer_group, partition, filter, epoch }
    }
}

/// The selector filter is `described(0x0000468C00000004, string)`; accept a bare string too.
fn selector_string(value: &Value) -> Option<String> {
    match value {
        Value::Described(d) => match &d.value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        },
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn error(condition: impl Into<ErrorCondition>, description: String) -> definitions::Error {
    definitions::Error::new(condition, Some(description), None)
}

/// Serves one consumer link until the client detaches, it is stolen, or faults detach it.
pub(crate) async fn serve(
    mut sender: Sender,
    request: ReceiverRequest,
    auth: LinkAuthorization,
    state: Arc<State>,
    scope: CancellationToken,
) {
    let ReceiverRequest { hub: hub_name, consumer_group, partition: pid, filter, epoch } = request;
    let epoch = epoch.or(state.config.default_owner_level);
    let target = state.hub(&hub_name).and_then(|hub| {
        let partition = hub.partition(&pid)?;
        hub.config.has_consumer_group(&consumer_group).then_some((hub, partition))
    });
    let Some((hub, partition)) = target else {
        let description = format!(
            "The messaging entity '{hub_name}/ConsumerGroups/{consumer_group}/Partitions/{pid}' could not be found."
        );
        return close_sender(sender, error(AmqpError::NotFound, description)).await;
    };
    let start = filter.and_then(|f| f.resolve(&partition));
    let mut next = match start {
        Ok(next) => next,
        Err(description) => {
            let condition = ErrorCondition::Custom(Symbol::from("com.microsoft:argument-error"));
            return close_sender(sender, error(condition, description)).await;
        }
    };
    let max_receivers = state.config.rules.max_receivers_per_partition;
    let claimed = match hub.claim(&consumer_group, &pid, epoch, max_receivers) {
        Ok(claimed) => claimed,
        Err(Refused::LowerOwnerLevel) => {
            tracing::debug!(hub = %hub_name, partition = %pid, ?epoch, "receiver refused: lower owner level");
            let description = format!(
                "Receiver with owner level {epoch:?} refused: a receiver with a higher owner level holds partition {pid} of '{consumer_group}'."
            );
            return close_sender(sender, error(LinkError::Stolen, description)).await;
        }
        Err(Refused::TooManyReceivers(max)) => {
            state.control.update(|c| c.receivers_refused += 1);
            // The service's wording (quoted in SDK issues), so clients that match on it work.
            let description = format!(
                "Exceeded the maximum number of allowed receivers per partition in a consumer group which is {max}. \
                 Partition: {pid}, consumer group: {consumer_group}."
            );
            return close_sender(sender, error(AmqpError::ResourceLimitExceeded, description)).await;
        }
    };
    state.control.update(|c| {
        c.receivers_stolen += claimed.displaced;
        c.receivers_attached += 1;
    });
    let claimed_displaced = claimed.displaced;
    let mut claim = claimed.claim;
    let mut stored = partition.subscribe();
    let mut detach_all = state.control.detach_signal();
    detach_all.borrow_and_update();
    tracing::debug!(hub = %hub_name, partition = %pid, ?epoch, next, displaced = claimed_displaced, "receiver attached");
    let fault = loop {
        let event = match partition.get(next) {
            Some(event) => event,
            None => {
                tokio::select! {
                    _ = scope.cancelled() => return,
                    _ = stored.changed() => continue,
                    _ = &mut claim.stolen => break stolen(epoch),
                    _ = detach_all.changed() => break detach_forced(),
                    _ = auth.lost() => {
                        state.control.update(|c| c.rule_refusals += 1);
                        break token_expired();
                    }
                    _ = sender.on_detach() => {
                        // Answer the client's detach, or it waits for the reply (the Python SDK
                        // for about 10 s on every receiver close).
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sender.close()).await;
                        return;
                    }
                }
            }
        };
        let sendable = Sendable::builder().message(delivery_message(&event)).settled(true).build();
        tokio::select! {
            _ = scope.cancelled() => return,
            _ = &mut claim.stolen => break stolen(epoch),
            _ = detach_all.changed() => break detach_forced(),
            _ = auth.lost() => {
                state.control.update(|c| c.rule_refusals += 1);
                break token_expired();
            }
            sent = sender.send(sendable) => {
                if sent.is_err() {
                    // The client detached or the connection went away.
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sender.close()).await;
                    return;
                }
                next += 1;
                state.control.partition(&hub.config.name, &pid, |c| c.events_delivered += 1);
            }
        }
    };
    drop(claim);
    close_sender(sender, fault).await;
}

fn stolen(epoch: Option<i64>) -> definitions::Error {
    error(
        LinkError::Stolen,
        format!(
            "New receiver with higher or equal owner level was created; this receiver (owner level {epoch:?}) was disconnected."
        ),
    )
}

/// The error a link gets when the token that authorized it expires without renewal.
pub(crate) fn token_expired() -> definitions::Error {
    error(
        AmqpError::UnauthorizedAccess,
        "The token authorizing this link has expired and was not renewed on $cbs.".into(),
    )
}

fn detach_forced() -> definitions::Error {
    error(LinkError::DetachForced, "Receiver detached by the emulator (fault injection).".into())
}

/// Decodes the stored message and adds the service annotations with the types the SDK reads:
/// sequence number long, offset STRING (a long is silently ignored), enqueued time timestamp.
fn delivery_message(event: &StoredEvent) -> Message<Body<Value>> {
    let mut message = match serde_amqp::from_slice::<Deserializable<Message<Body<Value>>>>(&event.message) {
        Ok(decoded) => decoded.0,
        Err(e) => {
            // Only messages that decoded on the way in are stored, so this is a bug.
            tracing::error!(error = %e, "stored message does not decode");
            Message::builder().body(Body::Empty).build()
        }
    };
    let annotations = message.message_annotations.get_or_insert_with(MessageAnnotations::default);
    let mut put = |key: &str, value: Value| {
        annotations.0.insert(OwnedKey::Symbol(Symbol::from(key)), value);
    };
    put("x-opt-sequence-number", Value::Long(event.sequence_number));
    put("x-opt-offset", Value::String(event.offset.to_string()));
    put("x-opt-enqueued-time", Value::Timestamp(Timestamp::from_milliseconds(event.enqueued_ms)));
    if let Some(key) = &event.partition_key {
        put("x-opt-partition-key", Value::String(key.clone()));
    }
    message
}
