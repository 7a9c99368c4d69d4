//! The `eventhubs-emulator` binary as scripts use it: readiness line, HTTP control surface,
//! counters printed on exit. Driven through the official SDK for the AMQP side.

mod common;

use azure_messaging_eventhubs::{ProducerClient, RetryOptions};
use common::*;
use eventhubs_emulator::{NAMESPACE, StaticTokenCredential};
use std::io::{BufRead, Read, Write};
use std::process::Command;

/// One HTTP/1.1 request to the control surface; returns (status, body).
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("control port");
    stream.set_read_timeout(Some(STEP)).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

#[tokio::test]
async fn binary_serves_prints_readiness_and_takes_faults_over_http() {
    let (mut child, mut stdout) = binary::start(&[
        "--listen",
        "127.0.0.1:0",
        "--hub",
        "logs:2",
        "--hub",
        "rows:1",
        "--consumer-group",
        "rows:adx",
        "--control",
        "127.0.0.1:0",
    ]);
    let mut line = || {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("stdout line");
        line.trim().to_string()
    };
    let control = line().strip_prefix("control on http://").expect("control line").to_string();
    let endpoint = line().strip_prefix("listening on ").expect("readiness line").to_string();
    assert!(endpoint.starts_with("amqp://127.0.0.1:"), "{endpoint}");

    let open = |retries: RetryOptions| {
        ProducerClient::builder().with_custom_endpoint(endpoint.clone()).with_retry_options(retries).open(
            NAMESPACE,
            "rows",
            StaticTokenCredential::default().into_arc(),
        )
    };
    let producer = within("open producer", open(fast_retries(0))).await.unwrap();
    send_to_partition(&producer, "0", "r", 2).await;

    assert_eq!(http(&control, "POST", "/faults/server-busy?count=1").0, 200);
    let error = within(
        "throttled send",
        producer.send_event(
            azure_messaging_eventhubs::models::EventData::builder().with_body(b"x".to_vec()).build(),
            Some(azure_messaging_eventhubs::SendEventOptions { partition_id: Some("0".into()) }),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(condition(&error), Some(azure_core_amqp::AmqpErrorCondition::ServerBusyError));
    assert_eq!(http(&control, "POST", "/faults/nope").0, 404);

    let (status, counters) = http(&control, "GET", "/counters");
    assert_eq!(status, 200);
    let counters: serde_json::Value = serde_json::from_str(&counters).unwrap();
    assert_eq!(counters["hubs"]["rows"]["partitions"]["0"]["events_received"], 2);
    assert_eq!(counters["hubs"]["rows"]["rejected_sends"], 1);
    assert_eq!(counters["hubs"]["logs"]["partitions"].as_object().unwrap().len(), 2);
    // The rows a hub holds, through `dump` (a gzip body comes out decompressed), and the
    // events endpoint it reads.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"{\"row\":1}\n{\"row\":2}\n").unwrap();
    let event = azure_messaging_eventhubs::models::EventData::builder().with_body(gz.finish().unwrap()).build();
    let options = azure_messaging_eventhubs::SendEventOptions { partition_id: Some("0".into()) };
    within("gzip send", producer.send_event(event, Some(options))).await.unwrap();
    let dump = Command::new(env!("CARGO_BIN_EXE_eventhubs-emulator"))
        .args(["dump", "--control", control.as_str(), "--hub", "rows"])
        .output()
        .expect("dump runs");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    assert_eq!(String::from_utf8_lossy(&dump.stdout), "r0\nr1\n{\"row\":1}\n{\"row\":2}\n");
    let (status, events) = http(&control, "GET", "/hubs/rows/events?partition=0&from=1");
    assert_eq!(status, 200);
    let second: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    assert_eq!((second["sequence_number"].as_i64(), second["partition"].as_str()), (Some(1), Some("0")));
    assert_eq!(events.lines().count(), 2);
    assert_eq!(http(&control, "GET", "/hubs/nope/events").0, 404);
    within("close producer", producer.close()).await.unwrap();
    let counters: serde_json::Value = serde_json::from_str(&http(&control, "GET", "/counters").1).unwrap();

    // SIGTERM: the binary prints its counters as one JSON line and exits cleanly.
    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let last: serde_json::Value = serde_json::from_str(&line()).expect("counters JSON on exit");
    assert_eq!(
        last["hubs"]["rows"]["partitions"]["0"]["bytes_received"],
        counters["hubs"]["rows"]["partitions"]["0"]["bytes_received"]
    );
    assert!(child.0.wait().unwrap().success());
}
