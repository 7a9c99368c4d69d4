//! Event Hubs probes: a hub's partitions (management), a receive link on a consumer group, and
//! the output link's max message size. Clients are opened without the SDK's retries and closed
//! (bounded) before returning.
use std::time::Duration;

use azure_messaging_eventhubs::{
    ConsumerClient, OpenReceiverOptions, ProducerClient, RetryOptions, StartLocation, StartPosition,
};
use futures::StreamExt;

use super::{FailureClass, ProbeError, of_eventhubs};
use crate::azure::eventhubs::HubTarget;

/// Bound on closing a probe's client: a close is courtesy, not part of the verdict.
const CLOSE: Duration = Duration::from_secs(2);

/// What a receive link attempt showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// An event arrived: the link is open.
    Received,
    /// No refusal while watched: the link is open and the partition quiet.
    Quiet,
    /// The service refused because a receiver with an owner level (a running flowlog) holds
    /// the partition: the consumer group exists and is in use.
    HeldByOwner,
}

/// Attempts of a probe whose failure says nothing about the hub: SDK 0.15 sometimes loses a
/// fresh connection's session while it opens ("Connection dropped", seen against the emulator
/// under load), and a new connection succeeds. Classified failures are answers: never retried.
const ATTEMPTS: usize = 3;

async fn again<T, F, Fut>(mut probe: F) -> Result<T, ProbeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProbeError>>,
{
    let mut attempt = 1;
    loop {
        match probe().await {
            Err(e) if e.class == FailureClass::Other && attempt < ATTEMPTS => attempt += 1,
            result => return result,
        }
    }
}

fn no_retries() -> RetryOptions {
    RetryOptions { max_retries: 0, ..RetryOptions::default() }
}

fn app_id() -> String {
    format!("flowlog-check-{}", env!("CARGO_PKG_VERSION"))
}

async fn consumer(target: &HubTarget, consumer_group: &str) -> Result<ConsumerClient, ProbeError> {
    let mut builder = ConsumerClient::builder()
        .with_application_id(app_id())
        .with_consumer_group(consumer_group.to_string())
        .with_retry_options(no_retries());
    if let Some(endpoint) = &target.custom_endpoint {
        builder = builder.with_custom_endpoint(endpoint.clone());
    }
    builder.open(&target.namespace, target.hub.clone(), target.credential.clone()).await.map_err(|e| of_eventhubs(&e))
}

async fn producer(target: &HubTarget) -> Result<ProducerClient, ProbeError> {
    let mut builder = ProducerClient::builder().with_application_id(app_id()).with_retry_options(no_retries());
    if let Some(endpoint) = &target.custom_endpoint {
        builder = builder.with_custom_endpoint(endpoint.clone());
    }
    builder.open(&target.namespace, &target.hub, target.credential.clone()).await.map_err(|e| of_eventhubs(&e))
}

/// The hub's partition ids, from its management node (which also proves the token is accepted).
pub async fn partitions(target: &HubTarget) -> Result<Vec<String>, ProbeError> {
    again(|| partitions_once(target)).await
}

async fn partitions_once(target: &HubTarget) -> Result<Vec<String>, ProbeError> {
    let client = consumer(target, "$Default").await?;
    let result = client.get_eventhub_properties().await.map(|p| p.partition_ids).map_err(|e| of_eventhubs(&e));
    let _ = tokio::time::timeout(CLOSE, client.close()).await;
    result
}

/// Opens a receive link on `partition` of `consumer_group` at the latest event and watches it
/// for `watch`: the service refuses an unknown consumer group when the link attaches.
pub async fn receive_link(
    target: &HubTarget,
    consumer_group: &str,
    partition: &str,
    watch: Duration,
) -> Result<LinkState, ProbeError> {
    again(|| receive_link_once(target, consumer_group, partition, watch)).await
}

async fn receive_link_once(
    target: &HubTarget,
    consumer_group: &str,
    partition: &str,
    watch: Duration,
) -> Result<LinkState, ProbeError> {
    let client = consumer(target, consumer_group).await?;
    let options = OpenReceiverOptions {
        start_position: Some(StartPosition { location: StartLocation::Latest, inclusive: false }),
        prefetch: Some(1),
        ..Default::default()
    };
    let result = match client.open_receiver_on_partition(partition.to_string(), Some(options)).await {
        Err(e) => Err(of_eventhubs(&e)),
        Ok(receiver) => {
            let seen = {
                let mut events = receiver.stream_events();
                tokio::time::timeout(watch, events.next()).await
            };
            let state = match seen {
                Err(_) | Ok(None) => Ok(LinkState::Quiet),
                Ok(Some(Ok(_))) => Ok(LinkState::Received),
                Ok(Some(Err(e))) => {
                    let text = e.to_string().to_ascii_lowercase();
                    if text.contains("epoch") || text.contains("owner level") {
                        Ok(LinkState::HeldByOwner)
                    } else {
                        Err(of_eventhubs(&e))
                    }
                }
            };
            let _ = tokio::time::timeout(CLOSE, receiver.close()).await;
            state
        }
    };
    let _ = tokio::time::timeout(CLOSE, client.close()).await;
    result
}

/// Opens a send link to the hub and measures its max message size (bytes).
pub async fn send_link(target: &HubTarget, limit: Duration) -> Result<(usize, u64), ProbeError> {
    again(|| send_link_once(target, limit)).await
}

async fn send_link_once(target: &HubTarget, limit: Duration) -> Result<(usize, u64), ProbeError> {
    let client = producer(target).await?;
    let result = async {
        let partitions = client.get_eventhub_properties().await.map_err(|e| of_eventhubs(&e))?.partition_ids.len();
        let size = crate::azure::link_size::measure(&client, &target.describe(), limit).await.map_err(|f| {
            let class = match f.error.kind {
                crate::pipeline::error::ErrorKind::NotFound => FailureClass::NotFound,
                _ => FailureClass::of_text(&f.error.message),
            };
            ProbeError::new(class, f.error.message)
        })?;
        Ok((partitions, size))
    }
    .await;
    let _ = tokio::time::timeout(CLOSE, client.close()).await;
    result
}
