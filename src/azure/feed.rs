//! Change feed on the input Event Hub: the SDK's `EventProcessor` balances partition ownership
//! between replicas through the Blob checkpoint store; every partition this replica wins becomes
//! an [`EventHubsPartition`] whose messages are decoded as Event Grid events.
//!
//! SDK 0.15 facts this module works around: `EventProcessor::run` returns on the first dispatch
//! error (a storage hiccup, a receiver that fails to open), so it is re-run with backoff;
//! `shutdown` only takes effect after a full update interval, so the run task is dropped instead;
//! nothing relinquishes ownership on close, so [`EventHubsFeedHandle::close`] clears this
//! replica's ownership records itself, letting other replicas take over without waiting for
//! expiry; `PartitionClient::stream_events` is not `Send`, so partitions receive through their
//! own receivers (see `partition`), and a watch on the ownership records ends the partitions
//! another replica claimed, since the processor's revocation only closes its own receiver.
//!
//! SDK 0.15 never re-establishes a lost connection. The processor's own connection is used only
//! at start (for the hub's partition ids): load balancing goes through the checkpoint store and
//! its partition clients' receivers are never attached, so only the receiving connection must be
//! rebuilt. A probe finds it lost (a TCP reset or an AMQP close leaves receivers waiting, without
//! an error, for a minute or more), and each pump opens a receiver on a new connection, with
//! backoff, after the last event it handed over (see `partition`); the partition stays owned
//! and handed out throughout, so ownership bookkeeping is untouched.
mod partition;
mod store;
mod tasks;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::time::Duration as AzDuration;
use azure_messaging_eventhubs::models::StartPositions;
use azure_messaging_eventhubs::{
    CheckpointStore, ConsumerClient, EventProcessor, ProcessorStrategy, StartLocation, StartPosition,
};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

pub use partition::EventHubsPartition;
pub use store::blob_checkpoint_store;

use crate::azure::eventhubs::{HubTarget, bounded, from_eventhubs};
use crate::azure::reconnecting::{Connection, Probing, Reconnecting, watch};
use crate::azure::sources::AllowedSources;
use crate::pipeline::change_feed::ChangeFeed;
use crate::pipeline::error::{ServiceError, ServiceResult};
use crate::pipeline::metrics::Metrics;

/// Tuning of the processor; the defaults suit production.
#[derive(Clone, Debug)]
pub struct EventHubsFeedOptions {
    pub consumer_group: String,
    /// This replica's owner id in the checkpoint store (also the AMQP connection name); a fresh
    /// unique id when `None`.
    pub owner_id: Option<String>,
    /// Load-balancing cycle.
    pub update_interval: Duration,
    /// Ownership not renewed for this long is up for grabs (must exceed `update_interval`).
    pub partition_expiration: Duration,
    pub strategy: ProcessorStrategy,
    pub prefetch: u32,
    /// Where partitions without a checkpoint start.
    pub start: StartLocation,
    /// Messages buffered per partition between the receiver and the engine.
    pub buffer_messages: usize,
    /// How often to read partition properties for the lag gauge; `None` turns it off.
    pub lag_interval: Option<Duration>,
    /// Bound on each SDK and checkpoint-store call.
    pub call_timeout: Duration,
    /// How often the receiving connection is probed, and how long a probe may wait.
    pub probing: Probing,
}

impl Default for EventHubsFeedOptions {
    fn default() -> Self {
        EventHubsFeedOptions {
            consumer_group: "$Default".into(),
            owner_id: None,
            update_interval: Duration::from_secs(10),
            partition_expiration: Duration::from_secs(60),
            strategy: ProcessorStrategy::Balanced,
            prefetch: 300,
            start: StartLocation::Earliest,
            buffer_messages: 256,
            lag_interval: Some(Duration::from_secs(30)),
            call_timeout: Duration::from_secs(60),
            probing: Probing::default(),
        }
    }
}

/// The owner level (epoch) the SDK's processor uses; receivers opened here use the same, so where
/// the service enforces it a newer owner's receiver takes the link over (`amqp:link:stolen`).
const OWNER_LEVEL: i64 = 0;

pub(crate) struct Details {
    pub namespace: String,
    pub hub: String,
    pub consumer_group: String,
    pub owner_id: String,
}

/// State shared by the feed, its partitions, their pumps and the handle.
pub(crate) struct Shared {
    details: Details,
    options: EventHubsFeedOptions,
    store: Arc<dyn CheckpointStore + Send + Sync>,
    allowed: AllowedSources,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    processor: Mutex<Option<Arc<EventProcessor>>>,
    target: HubTarget,
    /// The connection partition receivers (and lag reads) use: replaced after a transport
    /// failure (SDK 0.15 does not reconnect), taken and closed by `close`.
    receivers: Arc<Reconnecting<ConsumerClient>>,
    /// Per partition: the running pump's controls and a lock it holds while receiving.
    slots: Mutex<HashMap<String, Slot>>,
    pumps: Mutex<JoinSet<()>>,
    background: Mutex<Vec<JoinHandle<()>>>,
    /// Last checkpointed sequence number per owned partition, for the lag gauge.
    processed: Mutex<HashMap<String, i64>>,
}

impl Shared {
    fn spawn_pump(&self, pump: impl Future<Output = ()> + Send + 'static) {
        lock(&self.pumps).spawn(pump);
    }

    /// The receiving connection, opened afresh if the last one was discarded.
    async fn receivers(&self) -> ServiceResult<Connection<ConsumerClient>> {
        self.receivers
            .get(|| async {
                if self.stop.is_cancelled() {
                    return Err(ServiceError::transient("the feed is closing"));
                }
                let name = format!("{}-receivers", self.details.owner_id);
                tasks::open_consumer(&self.target, &self.details.consumer_group, &name).await
            })
            .await
    }

    /// Drops a broken receiving connection (unless it was already replaced).
    async fn discard_receivers(&self, broken: &Arc<ConsumerClient>) {
        self.receivers.discard(broken).await;
    }

    /// Stops any earlier pump of `partition` and returns the lock the new pump must hold.
    fn claim_slot(
        &self,
        partition: &str,
        stop: CancellationToken,
        lost: Arc<AtomicBool>,
    ) -> Arc<tokio::sync::Mutex<()>> {
        let mut slots = lock(&self.slots);
        let receiving = match slots.remove(partition) {
            Some(previous) => {
                previous.stop.cancel();
                previous.receiving
            }
            None => Arc::new(tokio::sync::Mutex::new(())),
        };
        slots.insert(partition.to_string(), Slot { stop, lost, receiving: receiving.clone() });
        receiving
    }

    fn note_processed(&self, partition: &str, sequence: i64) {
        lock(&self.processed).insert(partition.to_string(), sequence);
    }

    fn forget_partition(&self, partition: &str) {
        lock(&self.processed).remove(partition);
    }
}

/// The running pump of one partition, as the feed sees it.
struct Slot {
    stop: CancellationToken,
    lost: Arc<AtomicBool>,
    receiving: Arc<tokio::sync::Mutex<()>>,
}

/// Locks a std mutex; a poisoned lock only means a panic elsewhere, the data is still whole.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The change feed the engine consumes.
pub struct EventHubsFeed {
    shared: Arc<Shared>,
}

/// Closes the feed after the engine is done with it (the engine takes the feed by value).
pub struct EventHubsFeedHandle {
    shared: Arc<Shared>,
}

impl EventHubsFeed {
    /// Connects to the input hub and starts load balancing. `shutdown` stops handing out
    /// partitions and events; call [`EventHubsFeedHandle::close`] once the engine returned.
    pub async fn start(
        target: HubTarget,
        store: Arc<dyn CheckpointStore + Send + Sync>,
        allowed: AllowedSources,
        options: EventHubsFeedOptions,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> ServiceResult<(EventHubsFeed, EventHubsFeedHandle)> {
        if options.partition_expiration <= options.update_interval {
            return Err(ServiceError::permanent("partition expiration must exceed the load-balancing interval"));
        }
        let owner_id = options.owner_id.clone().unwrap_or_else(|| format!("flowlog-{}", azure_core::Uuid::new_v4()));
        let consumer = tasks::open_consumer(&target, &options.consumer_group, &owner_id).await?;
        let receivers =
            tasks::open_consumer(&target, &options.consumer_group, &format!("{owner_id}-receivers")).await?;
        let az = |d: Duration| AzDuration::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let builder = EventProcessor::builder()
            .with_load_balancing_strategy(options.strategy)
            .with_update_interval(az(options.update_interval))
            .with_partition_expiration_duration(az(options.partition_expiration))
            .with_prefetch(options.prefetch)
            .with_start_positions(StartPositions {
                per_partition: HashMap::new(),
                default: StartPosition { location: options.start.clone(), inclusive: false },
            });
        let context = format!("starting the event processor on {}", target.describe());
        let processor = bounded(&context, options.call_timeout, builder.build(consumer, store.clone())).await?;
        let shared = Arc::new(Shared {
            details: Details {
                namespace: target.namespace.clone(),
                hub: target.hub.clone(),
                consumer_group: options.consumer_group.clone(),
                owner_id,
            },
            options: options.clone(),
            store,
            allowed,
            metrics: metrics.clone(),
            stop: shutdown.child_token(),
            processor: Mutex::new(Some(processor.clone())),
            target: target.clone(),
            receivers: Arc::new(
                Reconnecting::new(format!("input hub {}", target.describe()), receivers).with_metrics(metrics.clone()),
            ),
            slots: Mutex::new(HashMap::new()),
            pumps: Mutex::new(JoinSet::new()),
            background: Mutex::new(Vec::new()),
            processed: Mutex::new(HashMap::new()),
        });
        let mut background = vec![
            tokio::spawn(tasks::run_processor(processor, shared.stop.clone())),
            tokio::spawn(store::ownership_loop(shared.clone())),
            tokio::spawn(watch(
                shared.receivers.clone(),
                Probing { limit: options.probing.limit.min(options.call_timeout), ..options.probing },
                shared.stop.clone(),
                tasks::probe_consumer,
            )),
        ];
        if let Some(interval) = options.lag_interval {
            background.push(tokio::spawn(tasks::lag_loop(shared.clone(), interval)));
        }
        *lock(&shared.background) = background;
        tracing::info!(hub = %target.describe(), owner = %shared.details.owner_id, "event processor started");
        Ok((EventHubsFeed { shared: shared.clone() }, EventHubsFeedHandle { shared }))
    }
}

impl ChangeFeed for EventHubsFeed {
    type Partition = EventHubsPartition;

    async fn next_partition(&mut self) -> ServiceResult<Option<EventHubsPartition>> {
        let Some(processor) = lock(&self.shared.processor).clone() else { return Ok(None) };
        // `next_partition_client` waits on a channel: cancelling it loses no partition.
        let client = tokio::select! {
            biased;
            _ = self.shared.stop.cancelled() => return Ok(None),
            c = processor.next_partition_client() => c.map_err(|e| from_eventhubs("waiting for a partition", &e))?,
        };
        tracing::info!(partition = client.get_partition_id(), "partition claimed");
        Ok(Some(EventHubsPartition::spawn(client, self.shared.clone())))
    }
}

impl EventHubsFeedHandle {
    /// This replica's owner id in the checkpoint store.
    pub fn owner_id(&self) -> &str {
        &self.shared.details.owner_id
    }

    /// Stops receiving, closes partition clients, stops load balancing, releases this replica's
    /// partitions and closes the processor. Call after the engine returned, so that the final
    /// acknowledgements are written before ownership is released.
    pub async fn close(self) -> ServiceResult<()> {
        let shared = self.shared;
        let limit = shared.options.call_timeout;
        shared.stop.cancel();
        let mut pumps = std::mem::take(&mut *lock(&shared.pumps));
        if tokio::time::timeout(limit, async { while pumps.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!("partition receivers did not close in time");
            pumps.abort_all();
        }
        let background = std::mem::take(&mut *lock(&shared.background));
        for task in background {
            task.abort();
            let _ = task.await;
        }
        let released = shared.release_ownership().await;
        if let Some(receivers) = shared.receivers.take().await
            && let Err(e) = bounded("closing the receiving connection", limit, receivers.close()).await
        {
            tracing::debug!(error = %e, "receiving connection close failed");
        }
        let processor = lock(&shared.processor).take();
        if let Some(processor) = processor.and_then(|p| Arc::try_unwrap(p).ok()) {
            bounded("closing the event processor", limit, processor.close()).await?;
        }
        released
    }
}
