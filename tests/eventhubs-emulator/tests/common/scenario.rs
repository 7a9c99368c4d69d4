//! The load-balancing scenario shared by the in-memory and the Blob (Azurite) checkpoint store
//! tests: two processors share four partitions, then one stops and the other takes its
//! partitions over from its checkpoints (stealing its open links when owner levels apply).
//!
//! SDK 0.15 cannot take back a partition it revoked on the same client, so the scenario is
//! arranged for no partition to move back and forth (see phase one).

use super::member::Member;
use super::*;
use azure_core::time::Duration as AzDuration;
use azure_messaging_eventhubs::{CheckpointStore, ProcessorStrategy};
use eventhubs_emulator::{EmulatorHandle, NAMESPACE};
use std::collections::BTreeMap;
use std::sync::Arc;

type Store = Arc<dyn CheckpointStore + Send + Sync>;

/// Owner id to number of partitions, from the checkpoint store.
pub async fn owners(store: &Store) -> BTreeMap<String, usize> {
    let ownerships =
        within("list ownerships", store.list_ownerships(NAMESPACE, HUB, "$Default")).await.expect("ownerships listed");
    let mut count = BTreeMap::new();
    for o in ownerships {
        *count.entry(o.owner_id.unwrap_or_default()).or_insert(0) += 1;
    }
    count
}

async fn wait_for_owners(store: &Store, expected: &[(&str, usize)]) {
    let expected: BTreeMap<String, usize> = expected.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let current = owners(store).await;
        if current == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "ownership {current:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send_round(producer: &azure_messaging_eventhubs::ProducerClient, round: &str) {
    for p in ["0", "1", "2", "3"] {
        send_to_partition(producer, p, &format!("{round}-{p}-"), 1).await;
    }
}

/// Records `owner` as the owner of `partitions`, as its processor would.
async fn seed_ownership(store: &Store, owner: &str, partitions: &[&str]) {
    let ownerships: Vec<_> = partitions
        .iter()
        .map(|p| azure_messaging_eventhubs::models::Ownership {
            fully_qualified_namespace: NAMESPACE.to_string(),
            event_hub_name: HUB.to_string(),
            consumer_group: "$Default".to_string(),
            partition_id: p.to_string(),
            owner_id: Some(owner.to_string()),
            ..Default::default()
        })
        .collect();
    let claimed = within("seed ownership", store.claim_ownership(&ownerships)).await.unwrap();
    assert_eq!(claimed.len(), partitions.len());
}

/// Partition id to owner id, from the checkpoint store.
async fn owner_of(store: &Store) -> BTreeMap<String, String> {
    let ownerships =
        within("list ownerships", store.list_ownerships(NAMESPACE, HUB, "$Default")).await.expect("ownerships listed");
    ownerships.into_iter().map(|o| (o.partition_id, o.owner_id.unwrap_or_default())).collect()
}

/// Polls `check` until it holds, failing with `describe()` after 20 s.
async fn eventually(what: &str, check: impl Fn() -> bool, describe: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what} not reached: {}", describe());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How the scenario is set up.
pub struct Setup {
    /// Ownership expiry. SDK 0.15's `InMemoryCheckpointStore` never refreshes an ownership's
    /// last-modified time on renewal, so every ownership "expires" this long after its first
    /// claim and running processors then fight over it: with that store it must exceed phase
    /// one (the takeover in phase two then happens when b's first claims expire).
    pub expiration: AzDuration,
    /// Load-balancing strategy. With the in-memory store use `Greedy`: once every ownership
    /// looks expired (see `expiration`), `Balanced` claims one partition per cycle and revokes
    /// all the others, forever.
    pub strategy: ProcessorStrategy,
    /// Whether the emulator runs with `default_owner_level = 0`, i.e. processors' receivers
    /// steal each other's links as they would if SDK 0.15 sent its owner level.
    pub stealing: bool,
}

/// Runs the whole scenario against `store`.
pub async fn load_balancing(emulator: &EmulatorHandle, store: Store, setup: Setup) {
    tokio::task::LocalSet::new().run_until(scenario(emulator, store, setup)).await;
}

async fn scenario(emulator: &EmulatorHandle, store: Store, setup: Setup) {
    let producer = producer(emulator).await;
    let partitions = ["0", "1", "2", "3"];
    let stolen_before = emulator.control().counters().receivers_stolen;

    // Phase 1: two processors share the four partitions and checkpoint what they read. a is
    // recorded as owner of 0 and 1 (as if it had run before), so b's load balancer claims the
    // other two and no partition ever moves back to a processor that had it: SDK 0.15 cannot
    // re-acquire a partition it revoked on the same client (the partition's cached session
    // is dead; every re-attach fails with "Illegal session state").
    seed_ownership(&store, "processor-a", &["0", "1"]).await;
    let b = Member::start("processor-b", emulator, store.clone(), &setup).await;
    wait_for_owners(&store, &[("processor-a", 2), ("processor-b", 2)]).await;
    let a = Member::start("processor-a", emulator, store.clone(), &setup).await;
    let owners = owner_of(&store).await;
    let of_b: Vec<String> = partitions.iter().filter(|p| owners[**p] == "processor-b").map(|p| p.to_string()).collect();
    send_round(&producer, "one").await;
    let describe = || format!("owners {owners:?}; a {:?} {:?}; b {:?} {:?}", a.seen, a.lost, b.seen, b.lost);
    let owners_read_one = || {
        partitions.iter().all(|p| {
            let reader = if of_b.iter().any(|q| q == p) { &b } else { &a };
            reader.bodies(p).contains(&format!("one-{p}-0"))
        })
    };
    eventually("each owner read round one", owners_read_one, describe).await;
    wait_until("round one checkpointed", Duration::from_secs(20), || async {
        let checkpoints = store.list_checkpoints(NAMESPACE, HUB, "$Default").await.unwrap();
        checkpoints.len() == 4 && checkpoints.iter().all(|c| c.sequence_number == Some(0) && c.offset.is_some())
    })
    .await;

    // Phase 2: b stops balancing (it neither renews nor releases; its links stay open). Its
    // ownership expires, a takes b's partitions and resumes them from b's checkpoints.
    b.stop().await;
    wait_for_owners(&store, &[("processor-a", 4)]).await;
    if setup.stealing {
        // a's owner-level receivers steal b's open links: b's streams fail with
        // amqp:link:stolen.
        let b_stolen = || of_b.iter().all(|p| b.stolen().contains(p));
        eventually("b's links were stolen", b_stolen, describe).await;
    }
    send_round(&producer, "two").await;
    let a_read_two = || partitions.iter().all(|p| a.bodies(p).contains(&format!("two-{p}-0")));
    eventually("a read round two everywhere", a_read_two, describe).await;
    for p in &of_b {
        assert!(
            !a.bodies(p).iter().any(|body| body.starts_with("one-")),
            "a resumed {p} from b's checkpoint: {}",
            describe()
        );
    }
    let stolen = emulator.control().counters().receivers_stolen - stolen_before;
    if setup.stealing {
        // With its links stolen, b did not read round two.
        assert!(b.seen.lock().unwrap().iter().all(|(_, body)| !body.starts_with("two-")), "{}", describe());
        assert!(stolen >= 2, "emulator counted {stolen} steals");
    } else {
        // Without owner levels on the wire nothing is stolen: b's forgotten links stay open
        // (and may read round two as well). Code on SDK 0.15 must close the partition clients
        // it stops using.
        assert_eq!(stolen, 0, "nothing can be stolen without owner levels");
    }
    a.stop().await;
}
