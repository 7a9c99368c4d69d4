//! The Event Hubs change feed: the SDK's EventProcessor against the emulator, with the Blob
//! checkpoint store on Azurite. Order and positions per partition, checkpoints and resume,
//! two replicas sharing partitions and taking over, a partition moving to another replica, a
//! stolen link and a forced detach.
mod common;
#[path = "common/eventhubs.rs"]
mod hubs;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_messaging_eventhubs::{CheckpointStore, ProcessorStrategy};
use eventhubs_emulator::{EmulatorHandle, NAMESPACE};
use flowlog::azure::feed::{EventHubsFeed, EventHubsFeedHandle, EventHubsFeedOptions, EventHubsPartition};
use flowlog::azure::sources::AllowedSources;
use flowlog::pipeline::change_feed::{ChangeFeed, EventBody, FeedEvent, FeedPartition};
use flowlog::pipeline::metrics::Metrics;
use hubs::*;
use tokio_util::sync::CancellationToken;

const HUB: &str = "input";

struct Setup {
    emulator: EmulatorHandle,
    store: Arc<dyn CheckpointStore + Send + Sync>,
    allowed: AllowedSources,
}

async fn setup(partitions: u32) -> Setup {
    let emulator = start_emulator(hubs(HUB, partitions)).await;
    let store = common::checkpoint_store("ckpt").await;
    let allowed = AllowedSources::parse(&[format!("{}/flowlogs", common::blob_endpoint())]).unwrap();
    Setup { emulator, store, allowed }
}

fn options(owner: &str, strategy: ProcessorStrategy) -> EventHubsFeedOptions {
    EventHubsFeedOptions {
        owner_id: Some(owner.into()),
        update_interval: Duration::from_millis(200),
        partition_expiration: Duration::from_secs(3),
        strategy,
        lag_interval: Some(Duration::from_millis(100)),
        call_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

async fn start(
    s: &Setup,
    options: EventHubsFeedOptions,
    metrics: Arc<Metrics>,
) -> (EventHubsFeed, EventHubsFeedHandle) {
    let start = EventHubsFeed::start(
        target(&s.emulator, HUB),
        s.store.clone(),
        s.allowed.clone(),
        options,
        metrics,
        CancellationToken::new(),
    );
    within("start feed", start).await.expect("feed starts")
}

fn url(path: &str) -> String {
    format!("{}/flowlogs/{path}/PT1H.json", common::blob_endpoint())
}

/// Publishes one Event Grid message per entry of `lengths` to `partition`; entry `n` > 1
/// puts `n` events in one message (an array), for blobs `{tag}{i}`.
async fn publish(s: &Setup, partition: &str, tag: &str, sizes: &[usize]) {
    let mut input = InputSender::new(&s.emulator, HUB).await;
    for (i, n) in sizes.iter().enumerate() {
        let events: Vec<_> = (0..*n).map(|k| blob_created(&url(&format!("{tag}{i}")), 100 + k as u64)).collect();
        input.send(partition, serde_json::to_vec(&events).unwrap()).await;
    }
    input.close().await;
}

async fn next_partitions(feed: &mut EventHubsFeed, n: usize) -> Vec<EventHubsPartition> {
    let mut parts = Vec::new();
    while parts.len() < n {
        parts.push(within("next partition", feed.next_partition()).await.unwrap().expect("a partition"));
    }
    parts.sort_by(|a, b| a.id().cmp(b.id()));
    parts
}

async fn take(part: &mut EventHubsPartition, n: usize) -> Vec<FeedEvent> {
    let mut events = Vec::new();
    while events.len() < n {
        events.extend(within("next batch", part.next_batch(10)).await.unwrap().expect("partition still owned"));
    }
    events
}

fn blob(e: &FeedEvent) -> String {
    match &e.body {
        EventBody::Changed(c) => {
            assert!(c.enqueued_ms.is_some_and(|t| t > 0), "enqueued time set");
            c.blob.to_string()
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn events_arrive_in_order_acks_checkpoint_and_a_restart_resumes_after_them() {
    let s = setup(2).await;
    publish(&s, "0", "a", &[1, 2, 1]).await;
    publish(&s, "1", "b", &[1, 1]).await;
    let metrics = Arc::new(Metrics::new());
    let (mut feed, handle) = start(&s, options("replica-a", ProcessorStrategy::Greedy), metrics.clone()).await;
    let mut parts = next_partitions(&mut feed, 2).await;
    let events = take(&mut parts[0], 4).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.position.sequence).collect();
    assert_eq!(seqs, [0, 1, 1, 2], "one message with two events yields two items with one position");
    let offsets: Vec<u64> = events.iter().map(|e| e.position.event_offset.parse().unwrap()).collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]) && offsets[1] == offsets[2] && offsets[0] < offsets[1]);
    let prefix = format!("{}/flowlogs", common::blob_endpoint().account());
    let names: Vec<String> = events.iter().map(blob).collect();
    assert_eq!(names, ["a0", "a1", "a1", "a2"].map(|b| format!("{prefix}/{b}/PT1H.json")));
    assert_eq!(take(&mut parts[1], 2).await.iter().map(|e| e.position.sequence).collect::<Vec<_>>(), [0, 1]);

    // Acknowledge up to the two-event message: the checkpoint store records it.
    within("ack", parts[0].ack(&events[2].position)).await.unwrap();
    let checkpoints = within("list", s.store.list_checkpoints(NAMESPACE, HUB, "$Default")).await.unwrap();
    let cp = checkpoints.iter().find(|c| c.partition_id == "0").expect("checkpoint of partition 0");
    assert_eq!((cp.sequence_number, cp.offset.as_deref()), (Some(1), Some(events[2].position.event_offset.as_str())));
    wait_until("lag reported", STEP, || metrics.render().contains("partition_lag_events{partition=\"0\"} 1")).await;

    drop(parts);
    within("close", handle.close()).await.unwrap();

    // A new replica resumes partition 0 after the checkpoint and redelivers unacked partition 1.
    let (mut feed, handle) = start(&s, options("replica-b", ProcessorStrategy::Greedy), Arc::new(Metrics::new())).await;
    let mut parts = next_partitions(&mut feed, 2).await;
    let resumed = take(&mut parts[0], 1).await;
    assert_eq!((resumed[0].position.sequence, blob(&resumed[0])), (2, format!("{prefix}/a2/PT1H.json")));
    assert_eq!(take(&mut parts[1], 2).await.iter().map(|e| e.position.sequence).collect::<Vec<_>>(), [0, 1]);
    drop(parts);
    within("close", handle.close()).await.unwrap();
    s.emulator.shutdown().await;
}

/// Drives a feed like the engine does: every partition handed out is drained until it ends.
fn drive(mut feed: EventHubsFeed) -> Arc<Mutex<BTreeSet<String>>> {
    let owned = Arc::new(Mutex::new(BTreeSet::new()));
    let record = owned.clone();
    tokio::spawn(async move {
        while let Ok(Some(mut part)) = feed.next_partition().await {
            let owned = record.clone();
            owned.lock().unwrap().insert(part.id().to_string());
            tokio::spawn(async move {
                while let Ok(Some(_)) = part.next_batch(10).await {}
                owned.lock().unwrap().remove(part.id());
            });
        }
    });
    owned
}

#[tokio::test]
async fn two_replicas_share_four_partitions_and_one_takes_over_when_the_other_stops() {
    let s = setup(4).await;
    let (feed_a, handle_a) =
        start(&s, options("replica-a", ProcessorStrategy::Balanced), Arc::new(Metrics::new())).await;
    let (feed_b, handle_b) =
        start(&s, options("replica-b", ProcessorStrategy::Balanced), Arc::new(Metrics::new())).await;
    let (a, b) = (drive(feed_a), drive(feed_b));
    let split = |a: &BTreeSet<String>, b: &BTreeSet<String>| a.len() == 2 && b.len() == 2 && a.is_disjoint(b);
    wait_until("two partitions each", Duration::from_secs(15), || split(&a.lock().unwrap(), &b.lock().unwrap())).await;

    within("close replica b", handle_b.close()).await.unwrap();
    wait_until("replica a owns all four", Duration::from_secs(15), || a.lock().unwrap().len() == 4).await;
    assert!(b.lock().unwrap().is_empty());
    within("close replica a", handle_a.close()).await.unwrap();
    s.emulator.shutdown().await;
}

#[tokio::test]
async fn a_partition_another_replica_claims_ends_here_and_its_acks_are_skipped() {
    let s = setup(2).await;
    publish(&s, "0", "x", &[1]).await;
    publish(&s, "1", "y", &[1]).await;
    let (mut feed_a, handle_a) =
        start(&s, options("replica-a", ProcessorStrategy::Greedy), Arc::new(Metrics::new())).await;
    let (ended_tx, mut ended_rx) = tokio::sync::mpsc::unbounded_channel();
    for mut part in next_partitions(&mut feed_a, 2).await {
        let first = take(&mut part, 1).await.remove(0);
        let ended = ended_tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(_)) = part.next_batch(10).await {}
            // Too late: the partition moved, so this must not touch the new owner's checkpoint.
            let acked = part.ack(&first.position).await;
            let _ = ended.send((part.id().to_string(), acked.is_ok()));
        });
    }
    // Replica b is below its share (2 partitions, 2 owners) and claims one from replica a.
    let (feed_b, handle_b) = start(&s, options("replica-b", ProcessorStrategy::Greedy), Arc::new(Metrics::new())).await;
    let b = drive(feed_b);
    let (lost, acked) = within("a partition of replica a ends", ended_rx.recv()).await.unwrap();
    assert!(acked);
    wait_until("replica b processes the moved partition", STEP, || b.lock().unwrap().contains(&lost)).await;
    let checkpoints = within("list", s.store.list_checkpoints(NAMESPACE, HUB, "$Default")).await.unwrap();
    assert!(checkpoints.iter().all(|c| c.partition_id != lost), "late ack wrote a checkpoint: {checkpoints:?}");
    within("close b", handle_b.close()).await.unwrap();
    within("close a", handle_a.close()).await.unwrap();
    s.emulator.shutdown().await;
}

#[tokio::test]
async fn a_forced_detach_is_recovered_without_handing_out_old_positions_again() {
    let s = setup(1).await;
    publish(&s, "0", "d", &[1, 1]).await;
    let (mut feed, handle) = start(&s, options("replica-a", ProcessorStrategy::Greedy), Arc::new(Metrics::new())).await;
    let mut part = next_partitions(&mut feed, 1).await.remove(0);
    assert_eq!(take(&mut part, 2).await.iter().map(|e| e.position.sequence).collect::<Vec<_>>(), [0, 1]);
    let attached = s.emulator.control().counters().receivers_attached;
    s.emulator.control().detach_receivers();
    wait_until("receiver re-attached", STEP, || s.emulator.control().counters().receivers_attached > attached).await;
    publish(&s, "0", "e", &[1]).await;
    // The SDK re-attached at its original start and redelivers 0 and 1; only 2 is new.
    let next = take(&mut part, 1).await;
    assert_eq!(next.iter().map(|e| e.position.sequence).collect::<Vec<_>>(), [2]);
    drop(part);
    within("close", handle.close()).await.unwrap();
    s.emulator.shutdown().await;
}

/// An exclusive (owner level 1) receiver on `partition`, opened with a raw AMQP client: SDK 0.15
/// cannot open one, because fe2o3 0.14's link builder drops the link properties that carry the
/// owner level (`Builder::name` resets them, and the SDK sets them before the name).
async fn epoch_receiver(
    emulator: &EmulatorHandle,
    partition: &str,
) -> (fe2o3_amqp::connection::ConnectionHandle<()>, fe2o3_amqp::session::SessionHandle<()>, fe2o3_amqp::Receiver) {
    use fe2o3_amqp::sasl_profile::SaslProfile;
    use fe2o3_amqp::types::definitions::Fields;
    use fe2o3_amqp::types::messaging::Source;
    use fe2o3_amqp::types::primitives::{Symbol, Value};
    let endpoint = emulator.endpoint();
    let open = fe2o3_amqp::Connection::builder()
        .container_id("thief")
        .sasl_profile(SaslProfile::Anonymous)
        .open(endpoint.as_str());
    let mut connection = within("thief connects", open).await.expect("raw AMQP connection");
    let mut session = within("thief session", fe2o3_amqp::Session::begin(&mut connection)).await.unwrap();
    let address = format!("amqps://{NAMESPACE}/{HUB}/ConsumerGroups/$Default/Partitions/{partition}");
    within("thief puts a token", put_token(&mut session, &address)).await;
    let mut properties = Fields::new();
    properties.insert(Symbol::from("com.microsoft:epoch"), Value::Long(1));
    let attach = fe2o3_amqp::Receiver::builder()
        .name("thief")
        .source(Source::builder().address(address).build())
        .properties(properties)
        .attach(&mut session);
    let receiver = within("thief attaches", attach).await.expect("epoch receiver attaches");
    (connection, session, receiver)
}

/// Authorizes links to `audience` on the session's connection, as every client must where the
/// service checks tokens (the emulator's token rule): one `put-token` on a `$cbs` link pair.
async fn put_token(session: &mut fe2o3_amqp::session::SessionHandle<()>, audience: &str) {
    let status = eventhubs_emulator::put_token(session, audience, "thief-token", Duration::from_secs(3600)).await;
    assert_eq!(status.expect("put-token answered"), 202, "put-token accepted");
}

#[tokio::test]
async fn a_stolen_link_ends_the_partition() {
    let s = setup(1).await;
    publish(&s, "0", "s", &[1]).await;
    let (mut feed, handle) = start(&s, options("replica-a", ProcessorStrategy::Greedy), Arc::new(Metrics::new())).await;
    let mut part = next_partitions(&mut feed, 1).await.remove(0);
    assert_eq!(take(&mut part, 1).await[0].position.sequence, 0);
    let thief = epoch_receiver(&s.emulator, "0").await;
    assert!(within("partition ends", part.next_batch(10)).await.unwrap().is_none());
    assert_eq!(s.emulator.control().counters().receivers_stolen, 1);
    drop((part, thief));
    within("close", handle.close()).await.unwrap();
    s.emulator.shutdown().await;
}
