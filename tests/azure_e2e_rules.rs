//! The Azure daemon under every service rule the Event Hubs emulator enforces (`Rules::strict`:
//! the receiver quota, one `$cbs` link per connection, tokens that must cover each link): two
//! and three replicas of `flowlog run` over 8 and 32 input partitions reach full, balanced
//! ownership, one replica is killed by SIGKILL while duplicated, delayed and shuffled events
//! flow, the survivors balance the partitions again, every row arrives (duplicates identical),
//! and offsets end at the record-region ends. No link is refused by a rule (the vendored SDK
//! runs each connection's `$cbs` authorizations in sequence, see tests/eventhubs_cbs_rule.rs).
//!
//! Ownership is read from the checkpoint store (the records the replicas' processors balance
//! by) and from each replica's `flowlog_owned_partitions` gauge (the partitions its engine
//! processes); both must agree. Each scenario prints one `BALANCE|...` line with the times to
//! balance; `bench/balance.sh` collects them (the figures in bench/README.md).
mod common;
#[path = "common/eventhubs.rs"]
mod hubs;
#[path = "common/azure_stack.rs"]
mod stack;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use eventhubs_emulator::{NAMESPACE, Rules};
use flowlog::pipeline::offset_store::OffsetStore;
use stack::{Stack, assert_succeeds, check, exit_of, fresh_hour_in, metric, signal, stack_with, wait_for_rows};

/// The load-balancing interval and ownership expiry the stack's daemons run with (its config).
const UPDATE_INTERVAL_MS: u64 = 300;
const EXPIRATION_MS: u64 = 2000;
/// Bound on each wait for balanced ownership: far above the seconds it takes.
const BALANCE_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_balance_32_partitions_under_every_rule_and_survive_a_kill() {
    scenario(32, 3, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_balance_32_partitions_under_every_rule_and_survive_a_kill() {
    scenario(32, 2, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_balance_8_partitions_under_every_rule_and_survive_a_kill() {
    scenario(8, 3, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_balance_8_partitions_under_every_rule_and_survive_a_kill() {
    scenario(8, 2, 4).await;
}

/// Partitions held per owner in the checkpoint store, most first; empty while a partition has
/// no owner (never claimed, or released).
async fn store_counts(stack: &Stack, partitions: u32) -> Vec<usize> {
    let store = stack.checkpoint_store();
    let Ok(ownerships) = store.list_ownerships(NAMESPACE, "input", "flowlog").await else { return Vec::new() };
    let mut held: HashMap<String, usize> = HashMap::new();
    for ownership in &ownerships {
        match &ownership.owner_id {
            Some(owner) if !owner.is_empty() => *held.entry(owner.clone()).or_default() += 1,
            _ => return Vec::new(),
        }
    }
    if ownerships.len() != partitions as usize {
        return Vec::new();
    }
    let mut counts: Vec<usize> = held.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts
}

/// Waits until the store gives every partition to exactly the live replicas, evenly (counts
/// differ by at most one), and each replica's engine processes what the store gives it; returns
/// how long that took.
async fn wait_balanced(stack: &Stack, ports: &[u16], partitions: u32) -> Duration {
    let start = Instant::now();
    loop {
        let held = store_counts(stack, partitions).await;
        let mut owned: Vec<usize> = ports.iter().map(|p| metric(*p, "flowlog_owned_partitions") as usize).collect();
        owned.sort_unstable_by(|a, b| b.cmp(a));
        let even = held.first().zip(held.last()).is_some_and(|(max, min)| max - min <= 1);
        if even && held.len() == ports.len() && held == owned {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < BALANCE_LIMIT,
            "{partitions} partitions not balanced over {} replicas within {BALANCE_LIMIT:?}: the store \
             gives {held:?}, the replicas process {owned:?}",
            ports.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn scenario(partitions: u32, replicas: usize, month: u32) {
    let mut stack = stack_with(partitions, Rules::strict()).await;
    // Blobs whose events went to the killed replica are picked up again within seconds, not the
    // default half minute: the scenario's time goes to ownership, not to that wait.
    stack.engine_extra = "pending_interval_secs = 1\npending_min_delay_secs = 1\npending_max_delay_secs = 2".into();
    let names: Vec<String> = (0..replicas).map(|i| format!("replica{i}")).collect();
    let mut daemons = futures::future::join_all(names.iter().map(|n| stack.daemon(n))).await;
    let ports: Vec<u16> = daemons.iter().map(|(_, port)| *port).collect();
    let initial = wait_balanced(&stack, &ports, partitions).await;

    let (start, hour) = fresh_hour_in(2031, month);
    let blobs = partitions / 2;
    let sim = stack.simulate_shuffled(blobs, 6, 20, 21, &start, 300);
    // Kill a replica while events are flowing: after the first rows reached the output hub.
    stack.first_rows_in_output_hub().await;
    let (mut victim, _) = daemons.remove(0);
    let killed = Instant::now();
    victim.kill();
    exit_of(victim).await;
    let takeover = wait_balanced(&stack, &ports[1..], partitions).await;

    assert_succeeds(sim, "simulate publishes its traffic").await;
    let (expected, ends) = stack.expected(&hour).await;
    assert_eq!(expected.len(), (partitions as usize / 2) * 6 * 20);
    let rows = wait_for_rows(&stack, &expected, Duration::from_secs(90)).await;
    let delivered = killed.elapsed();
    let dups = check(&expected, &rows);
    let offsets = stack.offsets().await;
    for (blob, end) in ends {
        let (state, _) = offsets.load(&blob).await.unwrap().expect("offset stored");
        assert_eq!(state.offset, end, "offset of {blob}");
    }
    let counters = stack.emulator.control().counters();
    assert_eq!(counters.receivers_refused, 0, "a partition had more than its quota of receivers");
    assert_eq!(counters.cbs_links_refused, 0, "a $cbs link overlapped another on its connection");
    assert_eq!(counters.rule_refusals, 0, "a link was refused by the token or $cbs rule");
    assert!(counters.tokens_accepted > 0, "links were authorized on $cbs");
    println!(
        "BALANCE|partitions={partitions}|replicas={replicas}|interval_ms={UPDATE_INTERVAL_MS}|\
         expiration_ms={EXPIRATION_MS}|initial_ms={}|takeover_ms={}|delivered_ms={}|rows={}|duplicates={dups}|tokens={}|refusals={}",
        initial.as_millis(),
        takeover.as_millis(),
        delivered.as_millis(),
        rows.len(),
        counters.tokens_accepted,
        counters.rule_refusals
    );
    for (daemon, _) in &daemons {
        signal(daemon, "TERM");
    }
    for (daemon, _) in daemons {
        assert_succeeds(daemon, "a survivor stops cleanly").await;
    }
}
