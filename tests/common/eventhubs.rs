//! Event Hubs test support: the in-process emulator, SDK clients and flowlog targets pointed at
//! it, time-bounded awaits and polling, and Event Grid message bodies.
#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::time::Duration;

use azure_core::time::Duration as AzDuration;
use azure_messaging_eventhubs::models::{EventData, ReceivedEventData};
use azure_messaging_eventhubs::{
    ConsumerClient, OpenReceiverOptions, ProducerClient, RetryOptions, SendEventOptions, StartLocation, StartPosition,
};
use eventhubs_emulator::{Emulator, EmulatorConfig, EmulatorHandle, HubConfig, NAMESPACE, StaticTokenCredential};
use flowlog::azure::eventhubs::HubTarget;
use futures::StreamExt;

/// Bound for one step of a test: far above what any call takes against the emulator.
pub const STEP: Duration = Duration::from_secs(20);

pub async fn start_emulator(config: EmulatorConfig) -> EmulatorHandle {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Emulator::start(config, "127.0.0.1:0").await.expect("the Event Hubs emulator starts")
}

pub fn hubs(name: &str, partitions: u32) -> EmulatorConfig {
    EmulatorConfig::new(vec![HubConfig::new(name, partitions)])
}

/// Awaits `fut`, failing the test with `what` after [`STEP`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {STEP:?}: {what}"),
    }
}

/// Polls `check` every 50 ms until it holds, failing after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "not reached within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Quick SDK retries so fault tests stay short.
pub fn fast_retries(max_retries: u32) -> RetryOptions {
    RetryOptions {
        initial_delay: AzDuration::milliseconds(20),
        max_delay: AzDuration::milliseconds(200),
        max_retries,
        max_total_elapsed: AzDuration::seconds(5),
    }
}

/// A flowlog hub target on the emulator.
pub fn target(emulator: &EmulatorHandle, hub: &str) -> HubTarget {
    let mut target = HubTarget::new(NAMESPACE, hub, StaticTokenCredential::default().into_arc());
    target.custom_endpoint = Some(emulator.endpoint());
    target.retry = Some(fast_retries(2));
    target.call_timeout = Duration::from_secs(10);
    target
}

pub async fn producer(emulator: &EmulatorHandle, hub: &str) -> ProducerClient {
    let open = ProducerClient::builder()
        .with_custom_endpoint(emulator.endpoint())
        .with_retry_options(fast_retries(2))
        .open(NAMESPACE, hub, StaticTokenCredential::default().into_arc());
    within("open producer", open).await.expect("producer opens")
}

pub async fn consumer(emulator: &EmulatorHandle, hub: &str) -> ConsumerClient {
    let open = ConsumerClient::builder()
        .with_custom_endpoint(emulator.endpoint())
        .with_retry_options(fast_retries(2))
        .open(NAMESPACE, hub.to_string(), StaticTokenCredential::default().into_arc());
    within("open consumer", open).await.expect("consumer opens")
}

pub async fn send_to_partition(producer: &ProducerClient, partition: &str, body: Vec<u8>) {
    try_send_to_partition(producer, partition, body).await.expect("send accepted");
}

pub async fn try_send_to_partition(
    producer: &ProducerClient,
    partition: &str,
    body: Vec<u8>,
) -> Result<(), azure_messaging_eventhubs::EventHubsError> {
    within("send event", try_send(producer, partition, body)).await
}

/// A test's producer of input events that stores each event exactly once. An SDK 0.15 client
/// loses its connection now and then when it opens a link (the emulator's README, known SDK
/// behaviour 12), and its send then fails or is never answered; a test's input must not depend
/// on that race. Whether the hub stored the event is read from the emulator's counters, so a
/// send made again on a new producer never stores it twice.
pub struct InputSender<'a> {
    emulator: &'a EmulatorHandle,
    hub: String,
    producer: ProducerClient,
}

impl<'a> InputSender<'a> {
    pub async fn new(emulator: &'a EmulatorHandle, hub: &str) -> Self {
        Self { emulator, hub: hub.to_string(), producer: producer(emulator, hub).await }
    }

    pub async fn send(&mut self, partition: &str, body: Vec<u8>) {
        for attempt in 1..=4 {
            let before = self.stored(partition);
            let sent = tokio::time::timeout(SEND_ATTEMPT, try_send(&self.producer, partition, body.clone())).await;
            if matches!(sent, Ok(Ok(()))) || self.stored(partition) > before {
                return;
            }
            eprintln!("SEND|attempt {attempt} to partition {partition} failed ({sent:?}); again on a new producer");
            self.producer = producer(self.emulator, &self.hub).await;
        }
        panic!("4 producers in a row could not send to partition {partition} of {}", self.hub);
    }

    pub async fn close(self) {
        let _ = within("close producer", self.producer.close()).await;
    }

    fn stored(&self, partition: &str) -> u64 {
        let counters = self.emulator.control().counters();
        counters.hubs.get(&self.hub).and_then(|h| h.partitions.get(partition)).map_or(0, |p| p.events_received)
    }
}

/// Bound for one send of [`InputSender`]: a send that is answered takes milliseconds.
const SEND_ATTEMPT: Duration = Duration::from_secs(5);

async fn try_send(
    producer: &ProducerClient,
    partition: &str,
    body: Vec<u8>,
) -> Result<(), azure_messaging_eventhubs::EventHubsError> {
    let event = EventData::builder().with_body(body).build();
    let options = SendEventOptions { partition_id: Some(partition.to_string()) };
    producer.send_event(event, Some(options)).await
}

/// Every event of `partition`, from the start (the count comes from the partition's properties).
pub async fn read_partition(consumer: &ConsumerClient, partition: &str) -> Vec<ReceivedEventData> {
    let props = within("partition properties", consumer.get_partition_properties(partition)).await.unwrap();
    if props.is_empty {
        return Vec::new();
    }
    let n = usize::try_from(props.last_enqueued_sequence_number + 1).unwrap();
    let options = OpenReceiverOptions {
        start_position: Some(StartPosition { location: StartLocation::Earliest, inclusive: false }),
        ..Default::default()
    };
    let receiver =
        within("open receiver", consumer.open_receiver_on_partition(partition.into(), Some(options))).await.unwrap();
    let mut events = Vec::with_capacity(n);
    {
        let stream = receiver.stream_events();
        futures::pin_mut!(stream);
        while events.len() < n {
            events.push(within("receive", stream.next()).await.expect("stream ended").expect("event"));
        }
    }
    within("close receiver", receiver.close()).await.unwrap();
    events
}

/// An Event Grid (EventGridSchema) BlobCreated message body for the blob at `url`.
pub fn blob_created(url: &str, content_length: u64) -> serde_json::Value {
    serde_json::json!({
        "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
        "subject": "/blobServices/default/containers/flowlogs/blobs/x",
        "eventType": "Microsoft.Storage.BlobCreated",
        "eventTime": "2025-01-01T00:00:00.0000000Z",
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "data": {
            "api": "PutBlockList",
            "contentLength": content_length,
            "blobType": "BlockBlob",
            "url": url,
            "sequencer": format!("{content_length:032}")
        },
        "dataVersion": "",
        "metadataVersion": "1"
    })
}
