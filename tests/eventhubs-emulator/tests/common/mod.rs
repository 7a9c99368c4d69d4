//! Shared helpers for the SDK-driven emulator tests: starting the emulator, opening SDK clients
//! against it, bounding every SDK call in time and polling with deadlines.
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod binary;
pub mod member;
pub mod raw;
pub mod sas;
pub mod scenario;

use azure_core::time::Duration as AzDuration;
use azure_messaging_eventhubs::{
    ConsumerClient, EventReceiver, OpenReceiverOptions, ProducerClient, RetryOptions, StartLocation, StartPosition,
    models::ReceivedEventData,
};
use eventhubs_emulator::{Emulator, EmulatorConfig, EmulatorHandle, HubConfig, NAMESPACE, StaticTokenCredential};
use futures::StreamExt;
use std::future::Future;
use std::time::Duration;

/// Hub used by most tests: 4 partitions and an extra consumer group.
pub const HUB: &str = "telemetry";
/// Bound for one SDK call: far above what any call takes against the emulator.
pub const STEP: Duration = Duration::from_secs(20);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn default_hubs() -> Vec<HubConfig> {
    vec![HubConfig::new(HUB, 4).with_consumer_group("analytics")]
}

/// Starts an in-memory emulator with `config` on a free port.
pub async fn start_with(config: EmulatorConfig) -> EmulatorHandle {
    init_tracing();
    Emulator::start(config, "127.0.0.1:0").await.expect("emulator starts")
}

/// Starts an in-memory emulator serving [`HUB`].
pub async fn start() -> EmulatorHandle {
    start_with(EmulatorConfig::new(default_hubs())).await
}

/// Awaits `fut`, failing the test with `what` if it takes longer than [`STEP`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {STEP:?}: {what}"),
    }
}

/// Polls `check` every 50 ms until it returns true, failing after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "condition not reached within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Retries quickly so fault tests stay short (the SDK default backs off for up to a minute).
pub fn fast_retries(max_retries: u32) -> RetryOptions {
    RetryOptions {
        initial_delay: AzDuration::milliseconds(50),
        max_delay: AzDuration::milliseconds(400),
        max_retries,
        max_total_elapsed: AzDuration::seconds(10),
    }
}

pub async fn producer(emulator: &EmulatorHandle) -> ProducerClient {
    producer_with(emulator, HUB, StaticTokenCredential::default(), fast_retries(3)).await.expect("producer opens")
}

pub async fn producer_with(
    emulator: &EmulatorHandle,
    hub: &str,
    credential: StaticTokenCredential,
    retries: RetryOptions,
) -> azure_messaging_eventhubs::Result<ProducerClient> {
    within(
        "open producer",
        ProducerClient::builder().with_custom_endpoint(emulator.endpoint()).with_retry_options(retries).open(
            NAMESPACE,
            hub,
            credential.into_arc(),
        ),
    )
    .await
}

pub async fn consumer(
    emulator: &EmulatorHandle,
    consumer_group: Option<&str>,
    instance: Option<&str>,
) -> ConsumerClient {
    consumer_with(emulator, consumer_group, instance, fast_retries(3)).await
}

pub async fn consumer_with(
    emulator: &EmulatorHandle,
    consumer_group: Option<&str>,
    instance: Option<&str>,
    retries: RetryOptions,
) -> ConsumerClient {
    let mut builder = ConsumerClient::builder().with_custom_endpoint(emulator.endpoint()).with_retry_options(retries);
    if let Some(group) = consumer_group {
        builder = builder.with_consumer_group(group.to_string());
    }
    if let Some(instance) = instance {
        // The application id becomes the connection id, which the processor uses as owner id.
        // (Not the instance id: it becomes every receiver's link name, and a re-attach while
        // the old link is still detaching then fails with "Link name is not unique".)
        builder = builder.with_application_id(instance.to_string());
    }
    within("open consumer", builder.open(NAMESPACE, HUB.to_string(), StaticTokenCredential::default().into_arc()))
        .await
        .expect("consumer opens")
}

pub fn position(location: StartLocation, inclusive: bool) -> Option<OpenReceiverOptions> {
    Some(OpenReceiverOptions { start_position: Some(StartPosition { location, inclusive }), ..Default::default() })
}

/// Receives exactly `n` events (each wait bounded by [`STEP`]).
pub async fn receive(receiver: &EventReceiver, n: usize) -> Vec<ReceivedEventData> {
    let stream = receiver.stream_events();
    futures::pin_mut!(stream);
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        let next = within(&format!("event {} of {n}", events.len() + 1), stream.next()).await;
        events.push(next.expect("stream ended").expect("event received"));
    }
    events
}

/// Body of an event as UTF-8.
pub fn body(event: &ReceivedEventData) -> String {
    String::from_utf8_lossy(event.event_data().body().unwrap_or_default()).into_owned()
}

/// Every AMQP error in the chain of an SDK error (the SDK wraps them in azure_core errors).
fn amqp_errors(error: &azure_messaging_eventhubs::EventHubsError) -> Vec<&azure_core_amqp::AmqpError> {
    let mut found = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(amqp) = e.downcast_ref::<azure_core_amqp::AmqpError>() {
            found.push(amqp);
        }
        next = e.source();
    }
    found
}

/// The AMQP error condition an SDK error carries, wherever the SDK put it.
pub fn condition(error: &azure_messaging_eventhubs::EventHubsError) -> Option<azure_core_amqp::AmqpErrorCondition> {
    use azure_core_amqp::AmqpErrorKind;
    use azure_messaging_eventhubs::error::ErrorKind;
    if let ErrorKind::SendRejected(Some(d)) | ErrorKind::ConsumerDisconnected(Some(d)) = &error.kind {
        return Some(d.condition.clone());
    }
    amqp_errors(error).into_iter().find_map(|e| match e.kind() {
        AmqpErrorKind::AmqpDescribedError(d) => Some(d.condition.clone()),
        _ => None,
    })
}

/// The status code of a failed `$cbs`/`$management` call.
pub fn status(error: &azure_messaging_eventhubs::EventHubsError) -> Option<azure_core::http::StatusCode> {
    amqp_errors(error).into_iter().find_map(|e| match e.kind() {
        azure_core_amqp::AmqpErrorKind::ManagementStatusCode(code, _) => Some(*code),
        _ => None,
    })
}

/// Whether a receive error is an owner-level steal. SDK 0.15 reports `amqp:link:stolen` as a
/// link-state error (not `ConsumerDisconnected`, which it only yields for revoked partition
/// clients), so the condition is only visible in the error text.
pub fn is_stolen(error: &azure_messaging_eventhubs::EventHubsError) -> bool {
    format!("{error:?}").contains("LinkError(Stolen)")
}

/// Sends `n` single events with bodies `{prefix}{i}` to one partition.
pub async fn send_to_partition(producer: &ProducerClient, partition: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let event = azure_messaging_eventhubs::models::EventData::builder()
            .with_body(format!("{prefix}{i}").into_bytes())
            .build();
        let options = azure_messaging_eventhubs::SendEventOptions { partition_id: Some(partition.into()) };
        within("send event", producer.send_event(event, Some(options))).await.expect("send accepted");
    }
}
