//! Every fault-injection mode, observed through the official SDK as the error (or recovery)
//! it would see from Azure.

mod common;

use azure_core_amqp::AmqpErrorCondition;
use azure_messaging_eventhubs::models::EventData;
use azure_messaging_eventhubs::{SendEventOptions, StartLocation};
use common::*;
use eventhubs_emulator::StaticTokenCredential;
use futures::StreamExt;
use std::time::{Duration, Instant};

fn to(partition: &str) -> Option<SendEventOptions> {
    Some(SendEventOptions { partition_id: Some(partition.into()) })
}

fn event(text: &str) -> EventData {
    EventData::builder().with_body(text.as_bytes().to_vec()).build()
}

#[tokio::test]
async fn server_busy_is_retried_by_the_sdk_and_surfaces_when_it_persists() {
    let emulator = start().await;
    let control = emulator.control();
    let producer = producer(&emulator).await; // 3 retries
    control.server_busy(2);
    within("send through two throttles", producer.send_event(event("a"), to("0"))).await.unwrap();
    assert_eq!(control.counters().hubs[HUB].rejected_sends, 2);

    let impatient = producer_with(&emulator, HUB, StaticTokenCredential::default(), fast_retries(1)).await.unwrap();
    control.server_busy(100);
    let error = within("throttled send", impatient.send_event(event("b"), to("0"))).await.unwrap_err();
    assert_eq!(condition(&error), Some(AmqpErrorCondition::ServerBusyError), "{error:?}");
    control.clear_faults();
    // Throttling for a while (shorter than the 3 retries' backoff): the SDK rides it out.
    let rejected = control.counters().hubs[HUB].rejected_sends;
    control.server_busy_for(Duration::from_millis(200));
    within("send through a throttled period", producer.send_event(event("t"), to("0"))).await.unwrap();
    assert!(control.counters().hubs[HUB].rejected_sends > rejected);
    within("send after throttling", impatient.send_event(event("c"), to("0"))).await.unwrap();
    let partition = within("properties", producer.get_partition_properties("0")).await.unwrap();
    assert_eq!(partition.last_enqueued_sequence_number, 2, "only a, t and c were stored");
    within("close", impatient.close()).await.unwrap();
    within("close", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

#[tokio::test]
async fn delayed_acknowledgements_hold_sends_back() {
    let emulator = start().await;
    let control = emulator.control();
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "1", "warm", 1).await;
    control.delay_acks(Duration::from_millis(400));
    let started = Instant::now();
    within("slow send", producer.send_event(event("slow"), to("1"))).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400), "acknowledged after {:?}", started.elapsed());
    // A caller with a tighter deadline than the acknowledgement sees its timeout fire.
    let hurried = tokio::time::timeout(Duration::from_millis(100), producer.send_event(event("late"), to("1"))).await;
    assert!(hurried.is_err(), "send completed before the delayed acknowledgement");
    control.delay_acks(Duration::ZERO);
    let fresh = producer_with(&emulator, HUB, StaticTokenCredential::default(), fast_retries(3)).await.unwrap();
    within("send after the delay is lifted", fresh.send_event(event("quick"), to("1"))).await.unwrap();
    within("close", fresh.close()).await.unwrap();
    emulator.shutdown().await;
}

/// SDK 0.15 does not re-establish a lost connection: after the emulator drops it (AMQP close
/// or TCP reset alike), every later call on the same client fails with a connection error, and
/// only a new client works. Code under test must therefore recreate its clients; this test pins
/// that behaviour so an SDK upgrade that changes it is noticed.
#[tokio::test]
async fn dropped_connections_break_sdk_clients_until_they_are_recreated() {
    let emulator = start().await;
    let control = emulator.control();
    for (round, reset) in [false, true].into_iter().enumerate() {
        let producer = producer(&emulator).await;
        send_to_partition(&producer, "2", "before", 1).await;
        let consumer = consumer(&emulator, None, None).await;
        // Start at this round's only event so no later event sits in the prefetch buffer.
        let first = position(StartLocation::SequenceNumber(2 * round as i64), true);
        let receiver = within("open receiver", consumer.open_receiver_on_partition("2".into(), first)).await.unwrap();
        assert_eq!(body(&receive(&receiver, 1).await[0]), "before0");

        let dropped = control.counters().connections_dropped;
        if reset {
            control.reset_connections()
        } else {
            control.drop_connections()
        }
        wait_until("both connections dropped", Duration::from_secs(10), || {
            let control = control.clone();
            async move { control.counters().connections_dropped >= dropped + 2 }
        })
        .await;
        for attempt in 0..2 {
            let outcome = within("send after drop", producer.send_event(event("lost"), to("2"))).await;
            assert!(outcome.is_err(), "round {round} attempt {attempt}: the SDK reconnected after all");
        }
        {
            let stream = receiver.stream_events();
            futures::pin_mut!(stream);
            let item = within("receive after drop", stream.next()).await;
            assert!(matches!(item, Some(Err(_))), "round {round}: receiver kept working: {item:?}");
        }

        let fresh = producer_with(&emulator, HUB, StaticTokenCredential::default(), fast_retries(3)).await.unwrap();
        send_to_partition(&fresh, "2", "after", 1).await;
        let fresh_consumer = common::consumer(&emulator, None, None).await;
        let sequence = (round as i64 + 1) * 2 - 1; // one "before" and one "after" per round
        let r = within(
            "open receiver",
            fresh_consumer
                .open_receiver_on_partition("2".into(), position(StartLocation::SequenceNumber(sequence), true)),
        )
        .await
        .unwrap();
        assert_eq!(body(&receive(&r, 1).await[0]), "after0");
        within("close receiver", r.close()).await.unwrap();
        within("close consumer", fresh_consumer.close()).await.unwrap();
        within("close producer", fresh.close()).await.unwrap();
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn refused_connections_fail_clients_until_the_window_ends() {
    let emulator = start().await;
    let control = emulator.control();
    control.refuse_connections(Duration::from_secs(60));
    let outcome = match producer_with(&emulator, HUB, StaticTokenCredential::default(), fast_retries(0)).await {
        Ok(producer) => within("send while refused", producer.send_event(event("x"), to("0"))).await,
        Err(error) => Err(error),
    };
    let error = outcome.expect_err("no connection can be made while refusing");
    assert!(control.counters().connections_refused >= 1, "{error:?}");

    // SDK 0.15 connects when a client opens and does not retry that: poll until the window
    // has passed and a client opens again.
    control.refuse_connections(Duration::from_millis(300));
    let deadline = Instant::now() + Duration::from_secs(10);
    let producer = loop {
        match producer_with(&emulator, HUB, StaticTokenCredential::default(), fast_retries(0)).await {
            Ok(producer) => break producer,
            Err(error) => assert!(Instant::now() < deadline, "still refused: {error:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    within("send after the refusal", producer.send_event(event("y"), to("0"))).await.unwrap();
    within("close", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

/// `amqp:link:detach-forced` (what Azure sends when it moves a partition or idles a link out)
/// makes the SDK re-attach transparently with the receiver's original start position, so the
/// stream goes on and may repeat events.
#[tokio::test]
async fn detached_receivers_are_reattached_from_their_start_position() {
    let emulator = start().await;
    let control = emulator.control();
    let producer = producer(&emulator).await;
    send_to_partition(&producer, "3", "e", 1).await;
    let consumer = consumer(&emulator, None, None).await;
    let receiver = within(
        "open receiver",
        consumer.open_receiver_on_partition("3".into(), position(StartLocation::Earliest, false)),
    )
    .await
    .unwrap();
    {
        let stream = receiver.stream_events();
        futures::pin_mut!(stream);
        within("first event", stream.next()).await.unwrap().unwrap();
        control.detach_receivers();
        send_to_partition(&producer, "3", "f", 1).await;
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("f0") {
            let event = within("event after detach", stream.next()).await.expect("stream item");
            seen.push(body(&event.expect("the SDK hides the detach")));
        }
        assert_eq!(seen, ["e0", "f0"], "re-attached from Earliest, so e0 came again");
    }
    assert_eq!(control.counters().receivers_attached, 2);
    within("close receiver", receiver.close()).await.unwrap();
    within("close consumer", consumer.close()).await.unwrap();
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}
