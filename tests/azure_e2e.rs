//! The Azure daemon end to end, as separate `flowlog` processes against Azurite and the Event
//! Hubs emulator: two replicas with one killed by SIGKILL (the other takes over, nothing is lost,
//! duplicates are identical, offsets end at the record-region ends), a graceful SIGTERM stop
//! under load (exit 0 within the deadline, no re-sent rows after restart), and bad input of
//! every kind (counted, dead-lettered, the partition keeps flowing), and a SIGTERM within the
//! deadline with every dependency silent.
mod common;
#[path = "common/fault_proxy.rs"]
mod fault_proxy;
#[path = "common/eventhubs.rs"]
mod hubs;
#[path = "common/azure_stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use fault_proxy::{Action, FaultProxy, Matcher};
use flowlog::pipeline::offset_store::OffsetStore;
use futures::StreamExt;
use hubs::InputSender;
use stack::{
    Stack, VNET, assert_succeeds, check, exit_of, fresh_hour, http_get, metric, signal, stack, wait_for, wait_for_rows,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_nothing_lost_offsets_at_region_ends() {
    let stack = stack().await;
    let (mut a, _) = stack.daemon("a").await;
    let (b, port_b) = stack.daemon("b").await;
    let (start, hour) = fresh_hour(3);
    let sim = stack.simulate_shuffled(4, 8, 30, 11, &start, 400);
    // Kill one replica while events are flowing: after the first rows reached the output hub.
    stack.first_rows_in_output_hub().await;
    a.kill();
    exit_of(a).await;
    assert_succeeds(sim, "simulate publishes its traffic").await;
    let (expected, ends) = stack.expected(&hour).await;
    assert_eq!(expected.len(), 4 * 8 * 30);
    let rows = wait_for_rows(&stack, &expected, Duration::from_secs(90)).await;
    let dups = check(&expected, &rows);
    eprintln!("delivered {} rows for {} expected ({dups} duplicates)", rows.len(), expected.len());
    let offsets = stack.offsets().await;
    for (blob, end) in ends {
        let (state, _) = offsets.load(&blob).await.unwrap().expect("offset stored");
        assert_eq!(state.offset, end, "offset of {blob}");
    }
    assert!(metric(port_b, "flowlog_rows_sent_total") > 0, "the survivor delivered rows");
    signal(&b, "TERM");
    assert_succeeds(b, "the daemon stops cleanly").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_zero_in_time_and_restart_resends_nothing() {
    // Plain output events (output.gzip = false; the other end-to-end tests run with the gzip
    // default): `delivered` checks that no event is compressed.
    let mut stack = stack().await;
    stack.output_gzip = Some(false);
    let (first, _) = stack.daemon("first").await;
    let (start, hour) = fresh_hour(4);
    let sim = stack.simulate(&[
        "--format",
        "vnet",
        "--blobs",
        "6",
        "--minutes",
        "10",
        "--tuples-per-minute",
        "200",
        "--seed",
        "12",
        "--start",
        &start,
    ]);
    let counters = stack.emulator.control();
    wait_for("rows flowing", Duration::from_secs(60), || {
        counters.counters().hubs.get("rows").is_some_and(|h| h.partitions.values().any(|p| p.events_received > 0))
    })
    .await;
    let stopped = Instant::now();
    signal(&first, "TERM");
    assert_succeeds(first, "graceful stop exits 0").await;
    assert!(stopped.elapsed() < Duration::from_secs(12), "within the 10 s deadline: {:?}", stopped.elapsed());
    assert_succeeds(sim, "simulate publishes its traffic").await;
    let (second, _) = stack.daemon("second").await;
    let (expected, _) = stack.expected(&hour).await;
    let rows = wait_for_rows(&stack, &expected, Duration::from_secs(90)).await;
    assert_eq!(check(&expected, &rows), 0, "a graceful stop commits what it sent: nothing is re-sent");
    signal(&second, "TERM");
    assert_succeeds(second, "the daemon stops cleanly").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_counted_and_dead_lettered_and_the_partition_keeps_flowing() {
    let stack = stack().await;
    let (daemon, port) = stack.daemon("bad").await;
    let blob = common::blob_endpoint().to_string();
    // A corrupted blob: a good record, garbage, another good record.
    let vnet = common::admin_container(VNET);
    let _ = vnet.create(None).await;
    let good = std::fs::read_to_string("samples/vnet.json").unwrap();
    let records: Vec<&str> =
        good.trim().trim_start_matches("{\"records\":[").trim_end_matches("]}").split("\n,").collect();
    let corrupt_path = format!("bad-{}/PT1H.json", common::unique_name("c"));
    let appender = flowlog::app::simulate::block_writer::BlockAppender::new(&vnet, &corrupt_path);
    appender.create(b"{\"records\":[", b"]}").await.unwrap();
    appender.append_before_tail(records[0].trim().as_bytes()).await.unwrap();
    appender
        .append_before_tail(
            b",{\"time\":\"2022-09-14T09:01:00Z\",\"flowLogVersion\":4,\"flowRecords\":{\"flows\":[{]}}",
        )
        .await
        .unwrap();
    let corrupt_len = appender.append_before_tail(format!(",{}", records[1].trim()).as_bytes()).await.unwrap();
    let good_path = format!("good-{}/PT1H.json", common::unique_name("g"));
    let appender = flowlog::app::simulate::block_writer::BlockAppender::new(&vnet, &good_path);
    appender.create(b"{\"records\":[", b"]}").await.unwrap();
    let good_len = appender.append_before_tail(records[0].trim().as_bytes()).await.unwrap();

    let mut input = InputSender::new(&stack.emulator, "input").await;
    let event = |url: String, len: u64| serde_json::to_vec(&vec![hubs::blob_created(&url, len)]).unwrap();
    // All on one partition, in order: the good blob comes last and must still be processed.
    for body in [
        b"this is not JSON".to_vec(),
        event("https://evil.blob.core.windows.net/insights-logs-flowlogflowevent/x/PT1H.json".into(), 100),
        event(format!("{blob}/{VNET}/missing-{}/PT1H.json", common::unique_name("m")), 100),
        event(format!("{blob}/{VNET}/{corrupt_path}"), corrupt_len),
        event(format!("{blob}/{VNET}/{good_path}"), good_len),
    ] {
        input.send("1", body).await;
    }
    input.close().await;
    // 5 rows of the good blob's record and 5 + 3 of the corrupted blob's two good records.
    let start = Instant::now();
    loop {
        let rows = stack.delivered();
        if rows.len() >= 13 {
            assert_eq!(rows.len(), 13, "no row lost or invented");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "rows after bad input: {}", rows.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(metric(port, "flowlog_events_total{outcome=\"invalid\"}"), 2, "malformed and foreign events");
    assert_eq!(metric(port, "flowlog_dead_letters_total{kind=\"event\"}"), 2);
    assert_eq!(metric(port, "flowlog_dead_letters_total{kind=\"blob\"}"), 1, "the 404");
    assert_eq!(metric(port, "flowlog_dead_letters_total{kind=\"record\"}"), 1, "the garbage record");
    let dl = common::admin_container(&stack.dead_letters);
    let mut pager = dl.list_blobs(None).unwrap();
    let mut documents = 0;
    while let Some(item) = pager.next().await {
        item.unwrap();
        documents += 1;
    }
    assert_eq!(documents, 4, "one dead-letter document per failure");
    signal(&daemon, "TERM");
    assert_succeeds(daemon, "the daemon stops cleanly").await;
}

/// With both hubs gone and every Storage request (checkpoints, offsets,
/// sources, dead letters) black-holed, SIGTERM still ends within `shutdown_deadline_secs`: the
/// ownership release, whose checkpoint-store calls are never answered, is abandoned at the
/// deadline (ownership then expires by itself). Before, the release waited for its own 60 s
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_hubs_gone_and_storage_silent_still_exits_within_the_deadline() {
    let mut stack = stack().await;
    let blob = FaultProxy::start(&common::blob_endpoint().to_string()).await;
    let table = FaultProxy::start(&common::table_endpoint().to_string()).await;
    (stack.blob_url, stack.table_url, stack.checkpoints_url) =
        (blob.url().to_string(), table.url().to_string(), blob.url().to_string());
    let (daemon, port) = stack.daemon("lonely").await;
    // Ownership first, so that there is something to release.
    wait_for("partitions owned", Duration::from_secs(60), || metric(port, "flowlog_owned_partitions") == 4).await;
    let Stack { emulator, dir: _dir, .. } = stack;
    blob.set(Matcher::default(), Action::Hang);
    table.set(Matcher::default(), Action::Hang);
    emulator.shutdown().await;
    assert_eq!(http_get(port, "/healthz").0, 200, "the daemon outlives its dependencies");
    let log = daemon.1.clone().expect("the daemon logs to a file");
    let stopped = Instant::now();
    signal(&daemon, "TERM");
    let status = exit_of(daemon).await;
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(13), "shutdown_deadline_secs is 10; took {took:?}");
    assert!(status.code().is_some(), "exited by itself, not killed: {status:?}");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("abandoned at the shutdown deadline") && l.contains("releasing partition ownership")),
        "the release waited on the silent checkpoint store and was abandoned:\n{log}"
    );
}
