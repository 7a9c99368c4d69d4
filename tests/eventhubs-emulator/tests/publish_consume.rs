//! Publishing (single, batch, partition id, partition key, round robin, size limit) and
//! consuming from every start position kind, through the official SDK only.

mod common;

use azure_messaging_eventhubs::{EventDataBatchOptions, OpenReceiverOptions, StartLocation, models::EventData};
use common::*;
use eventhubs_emulator::{BATCH_MESSAGE_FORMAT, partition_for_key};
use std::time::{Duration, SystemTime};

fn event(text: &str) -> EventData {
    EventData::builder().with_body(text.as_bytes().to_vec()).add_property("origin".to_string(), "test").build()
}

#[tokio::test]
async fn single_sends_to_a_partition_arrive_in_order_with_annotations() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "2", "e", 3).await;
    let consumer = consumer(&emulator, None, None).await;
    let receiver = within(
        "open receiver",
        consumer.open_receiver_on_partition("2".into(), position(StartLocation::Earliest, false)),
    )
    .await
    .unwrap();
    let events = receive(&receiver, 3).await;
    assert_eq!(events.iter().map(body).collect::<Vec<_>>(), ["e0", "e1", "e2"]);
    assert_eq!(events.iter().map(|e| e.sequence_number().unwrap()).collect::<Vec<_>>(), [0, 1, 2]);
    // Offsets are increasing decimal strings, read by the SDK only when sent as AMQP strings.
    let offsets: Vec<u64> = events.iter().map(|e| e.offset().as_ref().unwrap().parse().unwrap()).collect();
    assert!(offsets.windows(2).all(|w| w[0] < w[1]), "offsets {offsets:?}");
    assert!(events.iter().all(|e| e.enqueued_time().is_some() && e.partition_key().is_none()));
    let counters = emulator.control().counters();
    assert_eq!(counters.hubs[HUB].partitions["2"].events_received, 3);
    assert_eq!(counters.hub_events(HUB), 3);
    within("close receiver", receiver.close()).await.unwrap();
    within("close consumer", consumer.close()).await.unwrap();
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

#[tokio::test]
async fn batches_are_unpacked_into_events_and_keys_hash_to_one_partition() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    // A batch for partition 1.
    let options = EventDataBatchOptions { partition_id: Some("1".into()), ..Default::default() };
    let batch = within("create batch", producer.create_batch(Some(options))).await.unwrap();
    for i in 0..5 {
        assert!(batch.try_add_event_data(event(&format!("b{i}")), None).unwrap());
    }
    within("send batch", producer.send_batch(batch, None)).await.unwrap();
    // Two batches with one partition key land together on the key's partition.
    for round in 0..2 {
        let options = EventDataBatchOptions { partition_key: Some("device-7".into()), ..Default::default() };
        let batch = within("create keyed batch", producer.create_batch(Some(options))).await.unwrap();
        for i in 0..3 {
            assert!(batch.try_add_event_data(event(&format!("k{round}{i}")), None).unwrap());
        }
        within("send keyed batch", producer.send_batch(batch, None)).await.unwrap();
    }
    let keyed = partition_for_key("device-7", 4).to_string();
    let counters = emulator.control().counters();
    let partitions = &counters.hubs[HUB].partitions;
    assert_eq!(partitions["1"].batches_received, 1);
    assert_eq!(partitions[&keyed].batches_received, if keyed == "1" { 3 } else { 2 });
    assert_eq!(counters.hub_events(HUB), 11);
    let consumer = consumer(&emulator, Some("analytics"), None).await;
    let receiver = within(
        "open receiver",
        consumer.open_receiver_on_partition(keyed.clone(), position(StartLocation::Earliest, true)),
    )
    .await
    .unwrap();
    let skip = if keyed == "1" { 5 } else { 0 };
    let events = receive(&receiver, skip + 6).await.split_off(skip);
    assert_eq!(events.iter().map(body).collect::<Vec<_>>(), ["k00", "k01", "k02", "k10", "k11", "k12"]);
    assert!(events.iter().all(|e| e.partition_key().as_deref() == Some("device-7")));
    // Application properties pass through the batch envelope unchanged.
    let props = events[0].event_data().properties().unwrap();
    assert!(props.contains_key("origin"));
    within("close receiver", receiver.close()).await.unwrap();
    let partition = within("partition properties", producer.get_partition_properties(&keyed)).await.unwrap();
    assert_eq!(partition.last_enqueued_sequence_number, skip as i64 + 5);
    within("close consumer", consumer.close()).await.unwrap();
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
    assert_eq!(BATCH_MESSAGE_FORMAT, 0x8001_3700);
}

#[tokio::test]
async fn sends_without_partition_or_key_go_round_robin() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    for i in 0..8 {
        within("send", producer.send_event(event(&format!("r{i}")), None)).await.unwrap();
    }
    for id in ["0", "1", "2", "3"] {
        let p = within("partition properties", producer.get_partition_properties(id)).await.unwrap();
        assert_eq!(p.last_enqueued_sequence_number, 1, "partition {id} holds two events");
    }
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

#[tokio::test]
async fn batches_fill_to_the_max_message_size_and_oversize_events_are_rejected() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    let options = EventDataBatchOptions { partition_id: Some("0".into()), ..Default::default() };
    let batch = within("create batch", producer.create_batch(Some(options))).await.unwrap();
    let chunk = "x".repeat(10_000);
    let mut added = 0;
    while batch.try_add_event_data(event(&chunk), None).unwrap() {
        added += 1;
    }
    // 1 MiB of 10 kB events, minus framing overhead.
    assert!((95..=104).contains(&added), "{added} events fit");
    within("send full batch", producer.send_batch(batch, None)).await.unwrap();
    let counters = emulator.control().counters();
    assert_eq!(counters.hubs[HUB].partitions["0"].events_received, added);
    // A single event above 1 MiB is rejected with the condition Azure uses for it...
    let big = EventData::builder().with_body(vec![0u8; 1_100_000]).build();
    let options = azure_messaging_eventhubs::SendEventOptions { partition_id: Some("0".into()) };
    let error = within("oversize send", producer.send_event(big, Some(options))).await.unwrap_err();
    assert_eq!(condition(&error), Some(azure_core_amqp::AmqpErrorCondition::LinkPayloadSizeExceeded), "{error:?}");
    // Also when the SDK splits it in more than two chunks.
    let bigger = EventData::builder().with_body(vec![0u8; 2_500_000]).build();
    let options = azure_messaging_eventhubs::SendEventOptions { partition_id: Some("0".into()) };
    let error = within("oversize send", producer.send_event(bigger, Some(options))).await.unwrap_err();
    assert_eq!(condition(&error), Some(azure_core_amqp::AmqpErrorCondition::LinkPayloadSizeExceeded));
    let counters = emulator.control().counters();
    assert_eq!((counters.oversize_rejected, counters.hubs[HUB].rejected_sends), (2, 2));
    // ...and the link stays usable.
    send_to_partition(&producer, "0", "after", 1).await;
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

#[tokio::test]
async fn receivers_start_at_every_position_kind() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "3", "p", 2).await;
    let consumer = consumer(&emulator, None, None).await;
    // Learn positions of the first events from the service itself.
    let first = {
        let r =
            within("open", consumer.open_receiver_on_partition("3".into(), position(StartLocation::Earliest, false)))
                .await
                .unwrap();
        let events = receive(&r, 2).await;
        within("close", r.close()).await.unwrap();
        events
    };
    // Later events get a strictly later enqueued time (poll the clock, no fixed sleep).
    let t1 = first[1].enqueued_time().unwrap();
    wait_until("clock passes the last enqueued time", Duration::from_secs(2), || async {
        SystemTime::now() > t1 + Duration::from_millis(2)
    })
    .await;
    send_to_partition(&producer, "3", "p", 3).await; // sequence numbers 2, 3, 4
    let offset1 = first[1].offset().clone().unwrap();
    let cases = [
        (StartLocation::Earliest, false, 0),
        (StartLocation::Offset(offset1.clone()), false, 2),
        (StartLocation::Offset(offset1), true, 1),
        (StartLocation::SequenceNumber(1), false, 2),
        (StartLocation::SequenceNumber(1), true, 1),
        (StartLocation::EnqueuedTime(t1), false, 2),
    ];
    for (location, inclusive, expected) in cases {
        let what = format!("{location:?} inclusive={inclusive}");
        let r = within(&what, consumer.open_receiver_on_partition("3".into(), position(location, inclusive)))
            .await
            .unwrap();
        let got = receive(&r, 1).await[0].sequence_number().unwrap();
        assert_eq!(got, expected, "{what}");
        within("close", r.close()).await.unwrap();
    }
    // Latest: only events sent after the link attached arrive.
    let latest = within(
        "open latest",
        consumer.open_receiver_on_partition(
            "3".into(),
            Some(OpenReceiverOptions { start_position: None, ..Default::default() }),
        ),
    )
    .await
    .unwrap();
    let attached = emulator.control().counters().receivers_attached;
    let reading = tokio::spawn(async move {
        let events = receive(&latest, 1).await;
        (latest, events)
    });
    let control = emulator.control();
    wait_until("latest receiver attached", Duration::from_secs(10), || {
        let control = control.clone();
        async move { control.counters().receivers_attached > attached }
    })
    .await;
    send_to_partition(&producer, "3", "new", 1).await;
    let (latest, events) = within("latest event", reading).await.unwrap();
    assert_eq!(events[0].sequence_number(), Some(5));
    assert_eq!(body(&events[0]), "new0");
    within("close", latest.close()).await.unwrap();
    within("close consumer", consumer.close()).await.unwrap();
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

/// The store as tests inspect it: every body, by partition and in sequence order, batches
/// unpacked, nothing from another hub.
#[tokio::test]
async fn stored_bodies_are_what_the_hub_holds_in_partition_and_sequence_order() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "3", "p", 2).await;
    let options = EventDataBatchOptions { partition_id: Some("0".into()), ..Default::default() };
    let batch = within("create batch", producer.create_batch(Some(options))).await.unwrap();
    for i in 0..3 {
        assert!(batch.try_add_event_data(event(&format!("b{i}")), None).unwrap());
    }
    within("send batch", producer.send_batch(batch, None)).await.unwrap();
    send_to_partition(&producer, "3", "q", 1).await;
    let stored = emulator.stored_bodies(HUB).expect("the hub exists");
    let text: Vec<Vec<&str>> =
        stored.iter().map(|p| p.iter().map(|b| std::str::from_utf8(b).unwrap()).collect()).collect();
    assert_eq!(text, [vec!["b0", "b1", "b2"], vec![], vec![], vec!["p0", "p1", "q0"]]);
    assert!(emulator.stored_bodies("no-such-hub").is_none());
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}
