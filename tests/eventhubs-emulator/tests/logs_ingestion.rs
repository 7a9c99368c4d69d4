//! The fake Logs Ingestion API as scripts use it: the binary's `logs-ingestion` subcommand,
//! its readiness line, the control routes (faults, stored rows, calls) and the contract over a
//! real socket, keep-alive included.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::binary;
use eventhubs_emulator::logs_ingestion::{MONITOR_AUDIENCE, test_token};

/// Reads one response (status, headers, body by Content-Length) from a keep-alive stream.
fn response(r: &mut BufReader<TcpStream>) -> (u16, String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

fn request(stream: &mut TcpStream, method: &str, path: &str, headers: &str, body: &[u8]) {
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{headers}\r\n", body.len()).unwrap();
    stream.write_all(body).unwrap();
}

#[test]
fn the_subcommand_serves_the_contract_faults_and_stored_rows() {
    let (_child, mut stdout) =
        binary::start(&["logs-ingestion", "--listen", "127.0.0.1:0", "--dcr", "dcr-0123456789abcdef0123456789abcdef"]);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("logs ingestion on http://").expect("readiness line").to_string();
    let stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    let path =
        "/dataCollectionRules/dcr-0123456789abcdef0123456789abcdef/streams/Custom-FlowlogRows?api-version=2023-01-01";
    let auth = format!("Authorization: Bearer {}\r\n", test_token(MONITOR_AUDIENCE, "flowlog"));
    // A throttle scheduled over HTTP answers the next valid call, with its Retry-After.
    request(&mut stream, "POST", "/control/faults?kind=throttle&retry_after=7&count=1", "", b"");
    let (status, _, body) = response(&mut reader);
    assert_eq!((status, body.as_str()), (200, r#"{"faults":1}"#));
    let mut stream = TcpStream::connect(&addr).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let rows = br#"[{"id":"a","n":1},{"id":"b","n":2}]"#;
    request(&mut stream, "POST", path, "", rows);
    assert_eq!(response(&mut reader).0, 401, "no token");
    request(&mut stream, "POST", path, &auth, rows);
    let (status, head, _) = response(&mut reader);
    assert_eq!(status, 429);
    assert!(head.to_ascii_lowercase().contains("retry-after: 7"), "{head}");
    request(&mut stream, "POST", path, &auth, rows);
    assert_eq!(response(&mut reader).0, 204, "stored, on the same keep-alive connection");
    request(&mut stream, "POST", &path.replace("Custom-", "Custom-X"), &auth, rows);
    assert_eq!(response(&mut reader).0, 404);
    request(&mut stream, "GET", "/control/rows", "", b"");
    let (status, _, body) = response(&mut reader);
    assert_eq!((status, body.as_str()), (200, "{\"id\":\"a\",\"n\":1}\n{\"id\":\"b\",\"n\":2}\n"));
    let mut stream = TcpStream::connect(&addr).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    request(&mut stream, "GET", "/control/calls", "", b"");
    let (_, _, body) = response(&mut reader);
    let statuses: Vec<u64> = body
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [401, 429, 204, 404]);
}
