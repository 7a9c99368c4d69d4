//! Publishing links (`<hub>` and `<hub>/Partitions/<id>`): unpacks batches, routes by partition
//! id, partition key or round robin, stores events and settles each transfer only once stored.

use crate::connection::LinkAuthorization;
use crate::hash::partition_for_key;
use crate::nodes::SETTLE_DELAY;
use crate::server::close_receiver;
use crate::state::{Hub, State};
use bytes::Bytes;
use fe2o3::link::Receiver;
use fe2o3_types::definitions::{self, AmqpError, ErrorCondition, LinkError};
use fe2o3_types::messaging::message::__private::{Deserializable, Serializable};
use fe2o3_types::messaging::{Body, Message, annotations::OwnedKey};
use fe2o3_types::primitives::{Symbol, Value};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Message format of a batched transfer: the body's data sections are complete messages.
pub const BATCH_MESSAGE_FORMAT: u32 = 0x8001_3700;

const PARTITION_KEY: &str = "x-opt-partition-key";

type AnyMessage = Message<Body<Value>>;

fn error(condition: impl Into<ErrorCondition>, description: impl Into<String>) -> definitions::Error {
    definitions::Error::new(condition, Some(description.into()), None)
}

/// The error Azure uses to throttle a namespace.
pub(crate) fn server_busy() -> definitions::Error {
    error(
        ErrorCondition::Custom(Symbol::from("com.microsoft:server-busy")),
        "The request was terminated because the namespace is being throttled (emulator fault). \
         Please wait 4 seconds and try again.",
    )
}

/// Serves one publishing link until the client detaches or the connection goes away.
pub(crate) async fn serve(
    mut receiver: Receiver,
    hub_name: String,
    partition: Option<String>,
    auth: LinkAuthorization,
    state: Arc<State>,
    scope: CancellationToken,
) {
    let hub = state.hub(&hub_name);
    let valid = match (&hub, &partition) {
        (Some(hub), Some(id)) => hub.partition(id).is_some(),
        (hub, None) => hub.is_some(),
        (None, Some(_)) => false,
    };
    let Some(hub) = hub.filter(|_| valid) else {
        let description = format!("The messaging entity '{hub_name}' (partition {partition:?}) could not be found.");
        close_receiver(receiver, error(AmqpError::NotFound, description)).await;
        return;
    };
    loop {
        let delivery = tokio::select! {
            _ = scope.cancelled() => return,
            _ = auth.lost() => {
                state.control.update(|c| c.rule_refusals += 1);
                return close_receiver(receiver, crate::consume::token_expired()).await;
            }
            delivery = receiver.recv::<Body<Value>>() => delivery,
        };
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(e) => {
                tracing::debug!(error = %e, "publishing link ended");
                break;
            }
        };
        let format = delivery.message_format().unwrap_or(0);
        let result = if state.control.take_server_busy() {
            Err(server_busy())
        } else {
            store(&hub, partition.as_deref(), format, delivery.message(), &state)
        };
        tokio::time::sleep(SETTLE_DELAY + state.control.ack_delay()).await;
        let settled = match result {
            Ok(()) => receiver.accept(&delivery).await,
            Err(error) => {
                tracing::debug!(?error, "send rejected");
                state.control.rejected_send(&hub.config.name);
                receiver.reject(&delivery, error).await
            }
        };
        if settled.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(crate::server::CLOSE_TIMEOUT, receiver.close()).await;
}

fn partition_key(message: &AnyMessage) -> Option<String> {
    let annotations = message.message_annotations.as_ref()?;
    match annotations.0.get(&OwnedKey::Symbol(Symbol::from(PARTITION_KEY)))? {
        Value::String(key) => Some(key.clone()),
        _ => None,
    }
}

/// Splits a transfer into events (encoded message, partition key), then appends them.
fn store(
    hub: &Hub,
    partition: Option<&str>,
    format: u32,
    message: &AnyMessage,
    state: &State,
) -> Result<(), definitions::Error> {
    // The limit applies to the whole transfer, as encoded by the client (see `wire`).
    let encoded = serde_amqp::to_vec(&Serializable(message))
        .map_err(|e| error(AmqpError::InternalError, format!("re-encoding: {e}")))?;
    let limit = state.config.max_message_size;
    if encoded.len() as u64 > limit {
        state.control.update(|c| c.oversize_rejected += 1);
        let description = format!(
            "The received message (size: {} bytes) exceeds the limit ({limit} bytes) currently allowed on the link.",
            encoded.len()
        );
        return Err(error(LinkError::MessageSizeExceeded, description));
    }
    let envelope_key = partition_key(message);
    let is_batch = format == BATCH_MESSAGE_FORMAT;
    let events: Vec<(Bytes, Option<String>)> = if is_batch {
        let Body::Data(sections) = &message.body else {
            return Err(error(AmqpError::DecodeError, "a batch must carry data sections"));
        };
        sections
            .iter()
            .map(|data| {
                let bytes = Bytes::copy_from_slice(&data.0);
                let inner: Deserializable<AnyMessage> = serde_amqp::from_slice(&bytes)
                    .map_err(|e| error(AmqpError::DecodeError, format!("batched message: {e}")))?;
                let key = partition_key(&inner.0).or_else(|| envelope_key.clone());
                Ok((bytes, key))
            })
            .collect::<Result<_, definitions::Error>>()?
    } else if format == 0 {
        vec![(Bytes::from(encoded), envelope_key.clone())]
    } else {
        return Err(error(AmqpError::NotImplemented, format!("message format {format:#x}")));
    };
    let target = match (partition, &envelope_key) {
        (Some(id), _) => hub.partition(id),
        (None, Some(key)) => {
            let index = partition_for_key(key, hub.partitions.len() as u32);
            hub.partitions.get(index as usize).cloned()
        }
        (None, None) => Some(hub.next_round_robin()),
    }
    .ok_or_else(|| error(AmqpError::NotFound, "partition not found"))?;
    let count = events.len() as u64;
    let bytes: u64 = events.iter().map(|(b, _)| b.len() as u64).sum();
    target.append(events).map_err(|e| error(AmqpError::InternalError, format!("storing events: {e}")))?;
    state.control.partition(&hub.config.name, &target.id, |c| {
        c.events_received += count;
        c.bytes_received += bytes;
        c.batches_received += u64::from(is_batch);
    });
    Ok(())
}
