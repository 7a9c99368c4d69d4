//! flowlog's change feed under the service's rule of one `$cbs` link per connection while the
//! SDK renews its tokens. The emulator enforces every rule (`Rules::strict`) and the credential's
//! tokens last six minutes, so the SDK's token refresher (it wakes 6 min ± 5 s before the
//! earliest expiry and then renews every token of the connection) runs again and again for the
//! whole test, while the feed claims partitions one per load-balancing cycle and authorizes a
//! receiver for each on the same connection.
//!
//! Published SDK 0.15 runs the refresher's renewals outside the lock that serializes the
//! authorizations of new links, so a renewal and a new receiver's authorization overlap: the
//! emulator (like the service) refuses the second `$cbs` link with `amqp:not-allowed`, and a
//! refused renewal ends the refresher for good (the links would then be dropped at expiry). The
//! vendored SDK (vendor/azure_messaging_eventhubs/FLOWLOG-PATCH.md) runs every authorization of
//! a connection in sequence; this test fails without it.
mod common;
#[path = "common/eventhubs.rs"]
mod hubs;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::time::Duration as AzDuration;
use azure_messaging_eventhubs::ProcessorStrategy;
use eventhubs_emulator::{Rules, StaticTokenCredential};
use flowlog::azure::feed::{EventHubsFeed, EventHubsFeedOptions};
use flowlog::azure::sources::AllowedSources;
use flowlog::pipeline::change_feed::{ChangeFeed, EventBody, FeedPartition};
use flowlog::pipeline::metrics::Metrics;
use hubs::*;
use tokio_util::sync::CancellationToken;

const HUB: &str = "input";
const PARTITIONS: u32 = 24;
/// Exactly the SDK's refresh bias: each renewal pass is followed by the next within 0-5 s.
const TOKEN_LIFETIME: AzDuration = AzDuration::seconds(360);
/// Bound on each wait below: far above the seconds each takes.
const LIMIT: Duration = Duration::from_secs(45);

fn url(round: &str, partition: u32) -> String {
    format!("{}/flowlogs/{round}{partition}/PT1H.json", common::blob_endpoint())
}

/// One Event Grid message per partition, for blob `{round}{partition}`; returns the blobs.
async fn publish_round(emulator: &eventhubs_emulator::EmulatorHandle, round: &str) -> BTreeSet<String> {
    let mut input = InputSender::new(emulator, HUB).await;
    for partition in 0..PARTITIONS {
        let event = blob_created(&url(round, partition), 100);
        input.send(&partition.to_string(), serde_json::to_vec(&[event]).unwrap()).await;
    }
    input.close().await;
    // The feed names a blob by account, container and path.
    let account = common::blob_endpoint().account().to_string();
    (0..PARTITIONS).map(|p| format!("{account}/flowlogs/{round}{p}/PT1H.json")).collect()
}

/// Drives the feed like the engine does, recording every blob it hands out.
fn drive(mut feed: EventHubsFeed) -> Arc<Mutex<BTreeSet<String>>> {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok(Some(mut part)) = feed.next_partition().await {
            let seen = record.clone();
            tokio::spawn(async move {
                while let Ok(Some(events)) = part.next_batch(10).await {
                    for event in events {
                        if let EventBody::Changed(change) = &event.body {
                            seen.lock().unwrap().insert(change.blob.to_string());
                        }
                        let _ = part.ack(&event.position).await;
                    }
                }
            });
        }
    });
    seen
}

/// Put-tokens accepted for each partition's receiver so far, by partition number.
fn partition_tokens(emulator: &eventhubs_emulator::EmulatorHandle) -> Vec<u64> {
    let counters = emulator.control().counters();
    let partitions = counters.hubs.get(HUB).map(|h| h.partitions.clone()).unwrap_or_default();
    (0..PARTITIONS).map(|p| partitions.get(&p.to_string()).map_or(0, |c| c.tokens_accepted)).collect()
}

/// Polls `check` every 50 ms until it holds; fails after [`LIMIT`] with the emulator's counters.
async fn wait_for(what: &str, emulator: &eventhubs_emulator::EmulatorHandle, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !check() {
        let counters = emulator.control().counters();
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached within {LIMIT:?}: {what}; $cbs links refused {}, put-tokens accepted {}, rule refusals {}",
            counters.cbs_links_refused,
            counters.tokens_accepted,
            counters.rule_refusals
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_claimed_and_keep_receiving_while_every_token_is_renewed_on_one_cbs_link() {
    let emulator = start_emulator(hubs(HUB, PARTITIONS).with_rules(Rules::strict())).await;
    let store = common::checkpoint_store("cbsrule").await;
    let allowed = AllowedSources::parse(&[format!("{}/flowlogs", common::blob_endpoint())]).unwrap();
    let first = publish_round(&emulator, "a").await;

    let mut target = target(&emulator, HUB);
    target.credential = StaticTokenCredential::default().with_lifetime(TOKEN_LIFETIME).into_arc();
    let options = EventHubsFeedOptions {
        owner_id: Some("replica".into()),
        update_interval: Duration::from_millis(200),
        partition_expiration: Duration::from_secs(3),
        // One claim per cycle: new receivers are authorized over seconds, across renewals.
        strategy: ProcessorStrategy::Balanced,
        lag_interval: Some(Duration::from_millis(200)),
        call_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let metrics = Arc::new(Metrics::new());
    let start = EventHubsFeed::start(target, store, allowed, options, metrics, CancellationToken::new());
    let (feed, handle) = within("start feed", start).await.expect("feed starts");
    let seen = drive(feed);
    wait_for("every partition's first event", &emulator, || first.is_subset(&seen.lock().unwrap())).await;

    // Every receiver is open; the receiving connection's refresher must still be running and
    // renew each of their tokens again (counted per partition: the processor's own connection
    // renews its token too).
    let opened = partition_tokens(&emulator);
    wait_for("a renewal of every partition's token", &emulator, || {
        let now = partition_tokens(&emulator);
        (0..PARTITIONS as usize).all(|p| now[p] > opened[p])
    })
    .await;
    // After the renewals, the same receivers keep receiving.
    let second = publish_round(&emulator, "b").await;
    wait_for("every partition's second event", &emulator, || second.is_subset(&seen.lock().unwrap())).await;

    let counters = emulator.control().counters();
    assert_eq!(counters.cbs_links_refused, 0, "a $cbs link overlapped another on its connection");
    assert_eq!(counters.rule_refusals, 0, "a link was refused by a service rule");
    println!("CBS|partitions={PARTITIONS}|tokens_accepted={}", counters.tokens_accepted);
    within("close", handle.close()).await.unwrap();
    emulator.shutdown().await;
}
