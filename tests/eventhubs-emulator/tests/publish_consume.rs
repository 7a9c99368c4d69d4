//! Publishing (single, batch, partition id, partition key, round robin, size limit) and
//! consuming from every start position kind, through the official SDK only.

mod common;

use azure_messaging_eventhubs::{EventDataBatchOptions, SendEventOptions, StartLocation, models::EventData};
use common::*;

fn event(text: &str) -> EventData {
    EventData::builder().with_body(text.as_bytes().to_vec()).build()
}

#[tokio::test]
async fn single_send_to_partition_is_received_with_annotations() {
    let emulator = start().await;
    let producer = producer(&emulator).await;
    for text in ["a", "b", "c"] {
        let options = SendEventOptions { partition_id: Some("2".into()) };
        within("send", producer.send_event(event(text), Some(options))).await.unwrap();
    }
    let consumer = consumer(&emulator, None, None).await;
    let receiver = within(
        "open receiver",
        consumer.open_receiver_on_partition("2".into(), position(StartLocation::Earliest, false)),
    )
    .await
    .unwrap();
    let events = receive(&receiver, 3).await;
    let bodies: Vec<String> = events.iter().map(body).collect();
    assert_eq!(bodies, ["a", "b", "c"]);
    let seqs: Vec<i64> = events.iter().map(|e| e.sequence_number().unwrap()).collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert!(events.iter().all(|e| e.offset().is_some() && e.enqueued_time().is_some()));
    let counters = emulator.control().counters();
    assert_eq!(counters.hubs[HUB].partitions["2"].events_received, 3);
    within("close receiver", receiver.close()).await.unwrap();
    within("close consumer", consumer.close()).await.unwrap();
    within("close producer", producer.close()).await.unwrap();
    emulator.shutdown().await;
}
