//! Owner levels (epochs) on receivers, through the official SDK: what SDK 0.15 actually puts
//! on the wire, and stealing with `amqp:link:stolen` when the emulator assumes an owner level.

mod common;

use azure_messaging_eventhubs::{OpenReceiverOptions, StartLocation, StartPosition};
use common::*;
use eventhubs_emulator::EmulatorConfig;
use futures::StreamExt;

fn with_owner_level(owner_level: i64) -> Option<OpenReceiverOptions> {
    Some(OpenReceiverOptions {
        owner_level: Some(owner_level),
        start_position: Some(StartPosition { location: StartLocation::Earliest, inclusive: false }),
        ..Default::default()
    })
}

/// SDK 0.15 (on fe2o3 0.14) drops receiver link properties, so `owner_level` never reaches the
/// service: two receivers with the same owner level both keep reading, as they would on Azure.
#[tokio::test]
async fn sdk_0_15_owner_levels_do_not_reach_the_wire() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "0", "e", 2).await;
    // Two clients: one client keeps one link per partition and would share it.
    let one = consumer(&emulator, None, None).await;
    let two = consumer(&emulator, None, None).await;
    let first = within("open", one.open_receiver_on_partition("0".into(), with_owner_level(5))).await.unwrap();
    let second = within("open", two.open_receiver_on_partition("0".into(), with_owner_level(5))).await.unwrap();
    assert_eq!(receive(&first, 1).await[0].sequence_number(), Some(0));
    assert_eq!(receive(&second, 2).await[1].sequence_number(), Some(1));
    assert_eq!(receive(&first, 1).await[0].sequence_number(), Some(1), "the first was not stolen");
    assert_eq!(emulator.control().counters().receivers_stolen, 0);
    within("close", first.close()).await.unwrap();
    within("close", second.close()).await.unwrap();
    within("close", one.close()).await.unwrap();
    within("close", two.close()).await.unwrap();
    within("close", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

/// With an assumed owner level, a newer receiver steals the partition: the older one's stream
/// fails with `amqp:link:stolen` (the SDK would re-attach and steal back if it had retries
/// left, so the clients here have none).
#[tokio::test]
async fn a_newer_receiver_steals_the_partition_with_link_stolen() {
    let emulator = start_with(EmulatorConfig::new(default_hubs()).with_default_owner_level(0)).await;
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "1", "e", 1).await;
    let old = consumer_with(&emulator, None, None, fast_retries(0)).await;
    let new = consumer_with(&emulator, None, None, fast_retries(0)).await;
    let earliest = || position(StartLocation::Earliest, false);
    let held = within("open", old.open_receiver_on_partition("1".into(), earliest())).await.unwrap();
    {
        let stream = held.stream_events();
        futures::pin_mut!(stream);
        within("first event", stream.next()).await.unwrap().unwrap();
        let thief = within("open", new.open_receiver_on_partition("1".into(), earliest())).await.unwrap();
        assert_eq!(body(&receive(&thief, 1).await[0]), "e0");
        let error = within("stolen", stream.next()).await.expect("stream item").expect_err("link stolen");
        assert!(is_stolen(&error), "{error:?}");
        within("close", thief.close()).await.unwrap();
    }
    assert_eq!(emulator.control().counters().receivers_stolen, 1);
    within("close", producer.close()).await.unwrap();
    emulator.shutdown().await;
}
