//! Persistence: events written with a data directory survive an emulator restart with the
//! same sequence numbers, offsets, enqueued times, keys and bodies, and numbering continues.

mod common;

use azure_messaging_eventhubs::{EventDataBatchOptions, StartLocation, models::EventData};
use common::*;
use eventhubs_emulator::{EmulatorConfig, EmulatorHandle};

type Snapshot = Vec<(i64, Option<String>, Option<std::time::SystemTime>, Option<String>, String)>;

/// Everything a consumer sees on a partition, from the start.
async fn read_all(emulator: &EmulatorHandle, partition: &str, count: usize) -> Snapshot {
    let consumer = consumer(emulator, None, None).await;
    let receiver = within(
        "open receiver",
        consumer.open_receiver_on_partition(partition.into(), position(StartLocation::Earliest, false)),
    )
    .await
    .unwrap();
    let events = receive(&receiver, count).await;
    within("close receiver", receiver.close()).await.unwrap();
    within("close consumer", consumer.close()).await.unwrap();
    events
        .iter()
        .map(|e| {
            let key = e.partition_key().clone();
            (e.sequence_number().unwrap(), e.offset().clone(), e.enqueued_time(), key, body(e))
        })
        .collect()
}

#[tokio::test]
async fn events_survive_a_restart_with_their_positions() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig::new(default_hubs()).with_data_dir(dir.path());

    let first = start_with(config.clone()).await;
    let producer = producer(&first).await;
    send_to_partition(&producer, "1", "single", 2).await;
    let options = EventDataBatchOptions { partition_id: Some("1".into()), ..Default::default() };
    let batch = within("create batch", producer.create_batch(Some(options))).await.unwrap();
    for i in 0..3 {
        let event = EventData::builder().with_body(format!("batched{i}").into_bytes()).build();
        assert!(batch.try_add_event_data(event, None).unwrap());
    }
    within("send batch", producer.send_batch(batch, None)).await.unwrap();
    let before = read_all(&first, "1", 5).await;
    let properties = within("properties", producer.get_partition_properties("1")).await.unwrap();
    within("close producer", producer.close()).await.unwrap();
    first.shutdown().await;

    let second = start_with(config).await;
    let after = read_all(&second, "1", 5).await;
    assert_eq!(after, before, "same events, positions and times after the restart");
    let producer = common::producer(&second).await;
    let restored = within("properties", producer.get_partition_properties("1")).await.unwrap();
    assert_eq!(restored.last_enqueued_sequence_number, properties.last_enqueued_sequence_number);
    assert_eq!(restored.last_enqueued_offset, properties.last_enqueued_offset);
    assert_eq!(restored.last_enqueued_time_utc, properties.last_enqueued_time_utc);
    // Numbering continues where it stopped.
    send_to_partition(&producer, "1", "later", 1).await;
    let continued = within("properties", producer.get_partition_properties("1")).await.unwrap();
    assert_eq!(continued.last_enqueued_sequence_number, 5);
    let last_offset: u64 = properties.last_enqueued_offset.parse().unwrap();
    assert!(continued.last_enqueued_offset.parse::<u64>().unwrap() > last_offset);
    // Other partitions stay empty.
    let empty = within("properties", producer.get_partition_properties("0")).await.unwrap();
    assert!(empty.is_empty);
    within("close producer", producer.close()).await.unwrap();
    second.shutdown().await;
}
