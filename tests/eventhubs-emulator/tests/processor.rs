//! `EventProcessor` with the in-memory checkpoint store: load balancing of 4 partitions across
//! 2 processors, takeover from checkpoints when one stops, and owner-level (epoch) stealing
//! between the two processors.

mod common;

use azure_core::time::Duration;
use azure_messaging_eventhubs::{InMemoryCheckpointStore, ProcessorStrategy};
use common::scenario::{Setup, load_balancing};
use common::*;
use eventhubs_emulator::EmulatorConfig;
use std::sync::Arc;

/// Long enough for phase one to finish before the first claims "expire" (the SDK's in-memory
/// store never renews them, see [`Setup::expiration`]).
const IN_MEMORY_EXPIRATION: Duration = Duration::seconds(8);

/// What SDK 0.15 really does: no owner level reaches the emulator, so nothing is stolen and a
/// stopped processor's open links keep reading.
#[tokio::test]
async fn processors_balance_and_take_over_with_the_in_memory_store() {
    let emulator = start().await;
    let setup = Setup { expiration: IN_MEMORY_EXPIRATION, strategy: ProcessorStrategy::Greedy, stealing: false };
    load_balancing(&emulator, Arc::new(InMemoryCheckpointStore::new()), setup).await;
    emulator.shutdown().await;
}

/// With the emulator assuming owner level 0 (what the processor asks for), the surviving
/// processor's receivers steal the stopped one's open links with `amqp:link:stolen`.
#[tokio::test]
async fn processors_steal_partitions_by_owner_level() {
    let emulator = start_with(EmulatorConfig::new(default_hubs()).with_default_owner_level(0)).await;
    let setup = Setup { expiration: IN_MEMORY_EXPIRATION, strategy: ProcessorStrategy::Greedy, stealing: true };
    load_balancing(&emulator, Arc::new(InMemoryCheckpointStore::new()), setup).await;
    emulator.shutdown().await;
}
