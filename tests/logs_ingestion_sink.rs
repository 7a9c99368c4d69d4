//! The Logs Ingestion sink through its real HTTP client against the fake Logs Ingestion API
//! (the emulator crate's `logs_ingestion`): rows arrive whole and in order, gzip or plain, under
//! the payload limit; a 413 is cut in halves; 429 waits for `Retry-After`; 5xx backs off; an
//! unanswered call is sent once more on a new connection; a reset is retried; a token for
//! another audience, or an identity without the role, fails with a message saying so.
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventhubs_emulator::logs_ingestion::{
    Fault, LogsIngestion, LogsIngestionConfig, MONITOR_AUDIENCE, NO_ROLE_SUBJECT, test_token,
};
use flowlog::azure::logs_ingestion::{LogsIngestionSink, Target};
use flowlog::azure::static_token::StaticToken;
use flowlog::domain::blob_name::BlobName;
use flowlog::domain::secret::Secret;
use flowlog::pipeline::engine::RetryPolicy;
use flowlog::pipeline::error::{ErrorKind, ServiceResult};
use flowlog::pipeline::metrics::{CallOutcome, Metrics};
use flowlog::pipeline::row_sink::{RowBatch, RowSink};

/// Flow-row-like NDJSON: distinct ids, a few varying fields (so gzip sees realistic repetition).
fn ndjson(tag: &str, rows: usize) -> Vec<u8> {
    (0..rows)
        .map(|i| {
            format!(
                "{{\"id\":\"{tag}-{i:06}\",\"time\":\"2026-12-07T04:{:02}:00Z\",\"src_ip\":\"10.0.{}.{}\",\"dst_ip\":\"52.{}.3.4\",\"src_port\":{},\"dst_port\":443,\"protocol\":\"T\",\"direction\":\"O\",\"action\":\"A\",\"bytes_src_to_dst\":{},\"rule\":\"DefaultRule_AllowInternetOutBound\"}}\n",
                i % 60,
                i % 7,
                i % 250,
                i % 40,
                1024 + i % 30000,
                i * 37 % 100_000
            )
        })
        .collect::<String>()
        .into_bytes()
}

fn lines(ndjson: &[u8]) -> Vec<String> {
    String::from_utf8(ndjson.to_vec()).unwrap().lines().map(str::to_string).collect()
}

struct Setup {
    fake: LogsIngestion,
    sink: LogsIngestionSink,
    metrics: Arc<Metrics>,
}

async fn setup(gzip: bool, token: String, timeout: Duration) -> Setup {
    let fake = LogsIngestion::start(LogsIngestionConfig::default(), "127.0.0.1:0").await.unwrap();
    let c = fake.config();
    let target = Target {
        endpoint: fake.endpoint(),
        dcr_immutable_id: c.dcr_immutable_id.clone(),
        stream: c.stream.clone(),
        credential: StaticToken::credential(Secret::new(token)),
        timeout,
    };
    let metrics = Arc::new(Metrics::new());
    let retry =
        RetryPolicy { min_delay: Duration::from_millis(10), max_delay: Duration::from_millis(100), max_attempts: 6 };
    let sink = LogsIngestionSink::new(target, gzip, retry, metrics.clone()).unwrap();
    Setup { fake, sink, metrics }
}

async fn good(gzip: bool) -> Setup {
    setup(gzip, test_token(MONITOR_AUDIENCE, "flowlog"), Duration::from_secs(5)).await
}

async fn send(sink: &LogsIngestionSink, rows: &[u8]) -> ServiceResult<()> {
    let blob = BlobName::new("acct/insights-logs-flowlogflowevent/x/PT1H.json");
    let batch = RowBatch::new(&blob, rows.to_vec(), 0);
    tokio::time::timeout(Duration::from_secs(60), sink.send(batch)).await.expect("send ended")
}

#[tokio::test]
async fn rows_arrive_whole_in_order_in_calls_under_the_limit_gzip_and_plain() {
    for gzip in [true, false] {
        let s = good(gzip).await;
        let rows = ndjson("r", 12_000);
        send(&s.sink, &rows).await.unwrap();
        assert_eq!(s.fake.rows(), lines(&rows), "every row once, as sent, in order (gzip {gzip})");
        let calls = s.fake.calls();
        assert!(calls.len() >= 2, "{} rows need more than one call", rows.len());
        assert!(calls.iter().all(|c| c.status == 204 && c.gzip == gzip));
        let li = &s.metrics.logs_ingestion;
        let raw = li.raw_bytes.get() as usize;
        assert!(raw <= calls.len() * flowlog::azure::logs_ingestion::split::MAX_CALL_BYTES);
        assert_eq!(li.rows.get(), 12_000);
        assert_eq!(li.bytes.get() as usize, calls.iter().map(|c| c.bytes).sum::<usize>());
        eprintln!(
            "gzip {gzip}: {} calls, {} rows/call, {} bytes/call on the wire, {} JSON bytes/call",
            calls.len(),
            12_000 / calls.len(),
            li.bytes.get() as usize / calls.len(),
            raw / calls.len()
        );
    }
}

#[tokio::test]
async fn a_413_cuts_the_call_in_halves_until_each_part_is_accepted() {
    let s = good(true).await;
    s.fake.schedule(Fault::TooLarge, 3);
    let rows = ndjson("h", 100);
    send(&s.sink, &rows).await.unwrap();
    assert_eq!(s.fake.rows(), lines(&rows), "every row once, in order");
    let sizes: Vec<(u16, usize)> = s.fake.calls().iter().map(|c| (c.status, c.rows)).collect();
    // 100 refused -> 50 refused -> 25 refused -> 12, 13 accepted, then 25, then 50.
    assert_eq!(sizes, [(413, 100), (413, 50), (413, 25), (204, 12), (204, 13), (204, 25), (204, 50)]);
    assert_eq!(s.metrics.logs_ingestion.splits.get(), 3);
    assert_eq!(s.metrics.logs_ingestion.calls_count(CallOutcome::TooLarge), 3);
}

#[tokio::test]
async fn a_429_waits_for_its_retry_after_and_5xx_backs_off() {
    let s = good(true).await;
    s.fake.schedule(Fault::Throttle { retry_after: "2".into() }, 1);
    let started = Instant::now();
    send(&s.sink, &ndjson("t", 10)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2), "Retry-After: 2 obeyed: {:?}", started.elapsed());
    assert_eq!(s.fake.rows().len(), 10);
    s.fake.schedule(Fault::ServerError(503), 2);
    s.fake.schedule(Fault::ServerError(500), 1);
    send(&s.sink, &ndjson("u", 10)).await.unwrap();
    assert_eq!(s.fake.rows().len(), 20, "stored once after three 5xx");
    let li = &s.metrics.logs_ingestion;
    assert_eq!((li.calls_count(CallOutcome::Throttled), li.calls_count(CallOutcome::ServerError)), (1, 3));
    assert_eq!(li.retries.get(), 4);
    // Past the retry policy the event fails as Transient (the engine sends it again).
    s.fake.schedule(Fault::ServerError(503), 6);
    let e = send(&s.sink, &ndjson("v", 5)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(e.to_string().contains("503"), "{e}");
    assert_eq!(s.fake.rows().len(), 20);
}

#[tokio::test]
async fn an_http_date_retry_after_is_obeyed_too() {
    let s = good(false).await;
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    s.fake.schedule(Fault::Throttle { retry_after: at.format(&format).unwrap() }, 1);
    let started = Instant::now();
    send(&s.sink, &ndjson("d", 3)).await.unwrap();
    // The date has whole seconds: at least 2 of the 3 seconds remain to wait.
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(s.fake.rows().len(), 3);
}

#[tokio::test]
async fn an_unanswered_call_is_sent_once_more_on_a_new_connection() {
    let s = setup(true, test_token(MONITOR_AUDIENCE, "flowlog"), Duration::from_secs(1)).await;
    send(&s.sink, &ndjson("warm", 2)).await.unwrap();
    s.fake.schedule(Fault::Silence, 1);
    let rows = ndjson("s", 20);
    send(&s.sink, &rows).await.unwrap();
    let calls = s.fake.calls();
    let (silent, retry) = (calls[1], calls[2]);
    assert_eq!((silent.status, retry.status, silent.rows, retry.rows), (0, 204, 20, 20));
    assert_ne!(silent.connection, retry.connection, "the retry went out on a new connection");
    assert_eq!(silent.connection, calls[0].connection, "the first try reused the pooled connection");
    // The silent call's rows were stored too: duplicates, identical.
    let stored = s.fake.rows();
    assert_eq!(stored.len(), 2 + 40);
    assert_eq!(stored[2..22], stored[22..]);
    assert_eq!(s.metrics.logs_ingestion.calls_count(CallOutcome::Unanswered), 1);
    // Unanswered twice: the event fails as Transient, after exactly two tries.
    s.fake.schedule(Fault::Silence, 2);
    let e = send(&s.sink, &ndjson("z", 1)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(e.to_string().contains("unanswered twice"), "{e}");
    assert_eq!(s.fake.calls().len(), 5);
}

#[tokio::test]
async fn a_reset_connection_is_retried_on_a_new_one() {
    let s = good(true).await;
    s.fake.schedule(Fault::Reset, 2);
    let rows = ndjson("x", 30);
    send(&s.sink, &rows).await.unwrap();
    assert_eq!(s.fake.rows(), lines(&rows), "stored once: a reset call stored nothing");
    let calls = s.fake.calls();
    assert_eq!(calls.iter().map(|c| c.status).collect::<Vec<_>>(), [0, 0, 204]);
    assert_eq!(s.metrics.logs_ingestion.calls_count(CallOutcome::Failed), 2);
}

#[tokio::test]
async fn a_token_for_another_audience_or_without_the_role_fails_saying_why() {
    let s = setup(true, test_token("https://storage.azure.com", "flowlog"), Duration::from_secs(5)).await;
    let e = send(&s.sink, &ndjson("a", 3)).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("401") && text.contains("https://monitor.azure.com"), "{text}");
    assert!(!text.contains(&test_token("https://storage.azure.com", "flowlog")), "the token is never in messages");
    assert_eq!(e.kind, ErrorKind::Transient, "a credential can be fixed: never dead-letter rows for it");
    let s = setup(true, test_token(MONITOR_AUDIENCE, NO_ROLE_SUBJECT), Duration::from_secs(5)).await;
    let text = send(&s.sink, &ndjson("a", 3)).await.unwrap_err().to_string();
    assert!(text.contains("403") && text.contains("Monitoring Metrics Publisher"), "{text}");
    assert!(text.contains(&s.fake.config().dcr_immutable_id), "{text}");
    assert!(s.fake.rows().is_empty());
}
