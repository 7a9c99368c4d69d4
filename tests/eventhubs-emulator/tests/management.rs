//! `$management` reads and `$cbs` authorization, through the official SDK only.

mod common;

use azure_core::http::StatusCode;
use azure_messaging_eventhubs::StartLocation;
use common::*;
use eventhubs_emulator::{EmulatorConfig, StaticTokenCredential};

#[tokio::test]
async fn hub_and_partition_properties_have_the_types_the_sdk_decodes() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    let hub = within("hub properties", producer.get_eventhub_properties()).await.unwrap();
    assert_eq!(hub.name, HUB);
    assert_eq!(hub.partition_ids, ["0", "1", "2", "3"]);
    assert!(hub.created_on.is_some());

    let empty = within("partition properties", producer.get_partition_properties("1")).await.unwrap();
    assert_eq!((empty.id.as_str(), empty.eventhub.as_str()), ("1", HUB));
    assert_eq!(empty.beginning_sequence_number, 0);
    assert_eq!(empty.last_enqueued_sequence_number, -1);
    assert_eq!(empty.last_enqueued_offset, "-1");
    assert!(empty.is_empty);

    send_to_partition(&producer, "1", "m", 2).await;
    let filled = within("partition properties", producer.get_partition_properties("1")).await.unwrap();
    assert_eq!(filled.last_enqueued_sequence_number, 1);
    assert!(!filled.is_empty);
    // The reported offset and time are those the last event carries.
    let consumer = consumer(&emulator, None, None).await;
    let receiver = within(
        "open receiver",
        consumer.open_receiver_on_partition("1".into(), position(StartLocation::Earliest, false)),
    )
    .await
    .unwrap();
    let last = receive(&receiver, 2).await.pop().unwrap();
    assert_eq!(Some(filled.last_enqueued_offset), last.offset().clone());
    assert_eq!(filled.last_enqueued_time_utc, last.enqueued_time());
    // The consumer reads the same figures.
    let again = within("partition properties", consumer.get_partition_properties("1")).await.unwrap();
    assert_eq!(again.last_enqueued_sequence_number, 1);

    let missing = within("unknown partition", producer.get_partition_properties("9")).await.unwrap_err();
    assert_eq!(status(&missing), Some(StatusCode::NotFound), "{missing:?}");
    within("close receiver", receiver.close()).await.unwrap();
    within("close consumer", consumer.close()).await.unwrap();
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_401_and_the_right_one_accepted() {
    let emulator = start_with(EmulatorConfig::new(default_hubs()).with_required_token("right-token")).await;
    let wrong = StaticTokenCredential::new("wrong-token");
    let outcome = match producer_with(&emulator, HUB, wrong, fast_retries(1)).await {
        // Authorization may happen lazily, on the first operation.
        Ok(producer) => within("properties with a bad token", producer.get_eventhub_properties()).await.map(|_| ()),
        Err(error) => Err(error),
    };
    let error = outcome.expect_err("a wrong token must be refused");
    assert_eq!(status(&error), Some(StatusCode::Unauthorized), "{error:?}");
    assert!(emulator.control().counters().unauthorized_tokens >= 1);

    let right = StaticTokenCredential::new("right-token");
    let producer = producer_with(&emulator, HUB, right, fast_retries(1)).await.unwrap();
    send_to_partition(&producer, "0", "ok", 1).await;
    within("properties", producer.get_eventhub_properties()).await.unwrap();
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}

/// SDK 0.15 re-authorizes 6 minutes (±5 s) before a token expires; with 6 min 5 s tokens the
/// refresh runs within seconds, on a new `$cbs` session, and the client keeps working.
#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    let emulator = start().await;
    let control = emulator.control();
    let credential = StaticTokenCredential::default().with_lifetime(azure_core::time::Duration::seconds(365));
    let producer = producer_with(&emulator, HUB, credential, fast_retries(1)).await.unwrap();
    send_to_partition(&producer, "0", "before", 1).await;
    let initial = control.counters().tokens_accepted;
    wait_until("a token refresh", std::time::Duration::from_secs(20), || {
        let control = control.clone();
        async move { control.counters().tokens_accepted > initial }
    })
    .await;
    send_to_partition(&producer, "0", "after", 1).await;
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}
