//! The feed's connections and background tasks: opening consumers, keeping the processor's load
//! balancing alive, and the lag gauge.
use std::sync::Arc;
use std::time::Duration;

use azure_messaging_eventhubs::{ConsumerClient, EventProcessor};
use tokio_util::sync::CancellationToken;

use super::{Shared, lock};
use crate::azure::eventhubs::{CallFailure, HubTarget, bounded, bounded_call, from_eventhubs};
use crate::pipeline::error::ServiceResult;

pub(super) async fn open_consumer(
    target: &HubTarget,
    consumer_group: &str,
    application_id: &str,
) -> ServiceResult<ConsumerClient> {
    let mut builder = ConsumerClient::builder()
        .with_consumer_group(consumer_group.to_string())
        .with_application_id(application_id.to_string());
    if let Some(endpoint) = &target.custom_endpoint {
        builder = builder.with_custom_endpoint(endpoint.clone());
    }
    if let Some(retry) = &target.retry {
        builder = builder.with_retry_options(retry.clone());
    }
    let context = format!("opening consumer for {}", target.describe());
    let open = builder.open(&target.namespace, target.hub.clone(), target.credential.clone());
    bounded(&context, target.call_timeout, open).await
}

/// The connection probe: the hub's properties, a management call on the receiving connection.
pub(super) async fn probe_consumer(consumer: Arc<ConsumerClient>, limit: Duration) -> Result<(), CallFailure> {
    bounded_call("probing the input hub connection", limit, consumer.get_eventhub_properties()).await.map(drop)
}

/// Keeps load balancing running: `run` returns on its first error, so run it again after a pause.
pub(super) async fn run_processor(processor: Arc<EventProcessor>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            r = processor.run() => r,
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %from_eventhubs("load balancing", &e), "event processor stopped; restarting it")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Sets `partition_lag_events` = last enqueued − last checkpointed, for the owned partitions.
pub(super) async fn lag_loop(shared: Arc<Shared>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let owned: Vec<(String, i64)> = lock(&shared.processed).iter().map(|(k, v)| (k.clone(), *v)).collect();
        let Ok(connection) = shared.receivers().await else { continue };
        let client = connection.client;
        for (id, processed) in owned {
            let context = format!("reading properties of partition {id}");
            match bounded(&context, shared.options.call_timeout, client.get_partition_properties(&id)).await {
                Ok(p) => shared.metrics.set_partition_lag(&id, (p.last_enqueued_sequence_number - processed).max(0)),
                Err(e) => tracing::debug!(error = %e, "partition lag not updated"),
            }
        }
    }
}
