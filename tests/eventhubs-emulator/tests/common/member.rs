//! A running `EventProcessor` for the scenario tests, with a driver that reads every
//! partition client it hands out and records what each one saw.

use super::scenario::Setup;
use super::*;
use azure_core::time::Duration as AzDuration;
use azure_messaging_eventhubs::error::ErrorKind;
use azure_messaging_eventhubs::models::StartPositions;
use azure_messaging_eventhubs::{CheckpointStore, EventProcessor};
use eventhubs_emulator::EmulatorHandle;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Store = Arc<dyn CheckpointStore + Send + Sync>;

/// A running processor plus what its partition clients observed.
pub struct Member {
    pub name: String,
    pub processor: Arc<EventProcessor>,
    /// (partition, body) of every event received.
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
    /// (partition, ended by the processor or by a steal) for every stream that ended with an
    /// error, (partition, false) for streams that just ended.
    pub lost: Arc<Mutex<Vec<(String, bool)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Member {
    /// Starts a processor named `name` (its owner id) with 200 ms load-balancing cycles so the
    /// scenario settles in seconds; new partitions start at the earliest event, later ones from
    /// their checkpoint.
    pub async fn start(name: &str, emulator: &EmulatorHandle, store: Store, setup: &Setup) -> Self {
        // With stealing, no retries: SDK 0.15 treats a stolen link as a link-state error and
        // re-attaches, which steals the partition right back. Without, keep retries: the SDK
        // needs them to recover its per-partition sessions after revoking a partition.
        let retries = fast_retries(if setup.stealing { 0 } else { 3 });
        let consumer = consumer_with(emulator, None, Some(name), retries).await;
        let positions = StartPositions {
            per_partition: HashMap::new(),
            default: azure_messaging_eventhubs::StartPosition {
                location: azure_messaging_eventhubs::StartLocation::Earliest,
                inclusive: false,
            },
        };
        let processor = within(
            "build processor",
            EventProcessor::builder()
                .with_load_balancing_strategy(setup.strategy)
                .with_update_interval(AzDuration::milliseconds(200))
                .with_partition_expiration_duration(setup.expiration)
                .with_start_positions(positions)
                .build(consumer, store),
        )
        .await
        .expect("processor builds");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let lost = Arc::new(Mutex::new(Vec::new()));
        let runner = processor.clone();
        let run = tokio::spawn(async move {
            if let Err(error) = runner.run().await {
                tracing::warn!(?error, "processor run ended with an error");
            }
        });
        // The SDK's partition streams are not `Send`: read them on the scenario's LocalSet.
        let driver = tokio::task::spawn_local(drive(processor.clone(), seen.clone(), lost.clone()));
        Self { name: name.to_string(), processor, seen, lost, tasks: vec![run, driver] }
    }

    /// Bodies received from `partition`.
    pub fn bodies(&self, partition: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|(p, _)| p == partition).map(|(_, b)| b.clone()).collect()
    }

    /// Partitions whose stream was revoked or stolen.
    pub fn stolen(&self) -> Vec<String> {
        let lost = self.lost.lock().unwrap();
        lost.iter().filter(|(_, stolen)| *stolen).map(|(p, _)| p.clone()).collect()
    }

    /// Partitions whose stream ended, for whatever reason.
    pub fn ended(&self) -> Vec<String> {
        self.lost.lock().unwrap().iter().map(|(p, _)| p.clone()).collect()
    }

    /// Stops load balancing (ownership is no longer renewed); open links stay until stolen.
    pub async fn stop(&self) {
        within("processor shutdown", self.processor.shutdown()).await.unwrap();
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Takes partition clients as the processor hands them out and reads each in its own task,
/// checkpointing every event.
async fn drive(
    processor: Arc<EventProcessor>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    lost: Arc<Mutex<Vec<(String, bool)>>>,
) {
    while let Ok(client) = processor.next_partition_client().await {
        let (seen, lost) = (seen.clone(), lost.clone());
        tokio::task::spawn_local(async move {
            let partition = client.get_partition_id().to_string();
            let stream = client.stream_events();
            futures::pin_mut!(stream);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(event) => {
                        seen.lock().unwrap().push((partition.clone(), body(&event)));
                        if let Err(error) = client.update_checkpoint(&event).await {
                            tracing::warn!(?error, "checkpoint failed");
                        }
                    }
                    Err(error) => {
                        // Revoked by the processor (ConsumerDisconnected) or stolen by owner level.
                        let stolen = matches!(error.kind, ErrorKind::ConsumerDisconnected(_)) || is_stolen(&error);
                        if !stolen {
                            tracing::warn!(%partition, %error, "partition stream failed");
                        }
                        lost.lock().unwrap().push((partition.clone(), stolen));
                        return;
                    }
                }
            }
            tracing::info!(%partition, "partition stream ended");
            lost.lock().unwrap().push((partition, false));
        });
    }
}
