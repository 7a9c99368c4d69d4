//! A minimal HTTP/1.1 control surface for scripts (`--control ADDR`): fault injection and
//! counters. Hand-rolled on tokio because it needs five routes and no body parsing; pulling a
//! web framework into test infrastructure for that would cost more build time than it saves.
//!
//! Routes (all answer JSON, `Connection: close`):
//! `POST /faults/drop-connections` (`?mode=reset` for a TCP reset instead of an AMQP close), `POST /faults/refuse?secs=N` (or `ms=`),
//! `POST /faults/server-busy?count=N` or `?secs=N`, `POST /faults/delay-acks?ms=N`,
//! `POST /faults/detach-receivers`, `POST /faults/clear`, `GET /counters`, and
//! `GET /hubs/{hub}/events?partition=P&from=SEQ&limit=N` (the stored events as JSON lines, for
//! the binary's `dump` command).

use crate::Control;
use crate::inspect::StoreReader;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Serves the control API on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, control: Control, store: StoreReader) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // e.g. out of file descriptors: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let control = control.clone();
        let store = store.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            let Ok(Some(request_line)) = lines.next_line().await else {
                return;
            };
            // Drain headers; no route takes a body.
            while let Ok(Some(line)) = lines.next_line().await {
                if line.is_empty() {
                    break;
                }
            }
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, body) = match target.strip_prefix("/hubs/") {
                Some(rest) if method == "GET" => events(rest, &store),
                _ => handle(method, target, &control),
            };
            let reason = match status {
                200 => "OK",
                400 => "Bad Request",
                _ => "Not Found",
            };
            let response = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = write.write_all(response.as_bytes()).await;
            let _ = write.shutdown().await;
        });
    }
}

fn query_u64(query: &str, key: &str) -> Option<u64> {
    query.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == key).and_then(|(_, v)| v.parse().ok())
}

/// Most events one `GET /hubs/{hub}/events` returns; `dump` pages with `from`.
const MAX_EVENTS_PER_REQUEST: u64 = 1000;

/// `GET /hubs/{hub}/events?partition=P&from=SEQ&limit=N`: one JSON object per line.
fn events(rest: &str, store: &StoreReader) -> (u16, String) {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let Some(hub) = path.strip_suffix("/events") else {
        return (404, r#"{"error":"no such route"}"#.to_string());
    };
    let partition = query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == "partition").map(|(_, v)| v);
    let from = query_u64(query, "from").unwrap_or(0) as usize;
    let limit = query_u64(query, "limit").unwrap_or(MAX_EVENTS_PER_REQUEST).min(MAX_EVENTS_PER_REQUEST) as usize;
    match store.events(hub, partition, from, limit) {
        Some(records) => {
            let lines: Vec<String> = records.iter().filter_map(|r| serde_json::to_string(r).ok()).collect();
            (200, lines.iter().map(|l| format!("{l}\n")).collect())
        }
        None => (404, format!(r#"{{"error":"no hub {hub:?} or partition {partition:?}"}}"#)),
    }
}

/// Applies one request; returns the status code and JSON body.
pub fn handle(method: &str, target: &str, control: &Control) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let ok = || (200, r#"{"ok":true}"#.to_string());
    let bad = |msg: &str| (400, format!(r#"{{"error":{}}}"#, serde_json::Value::from(msg)));
    match (method, path) {
        ("GET", "/counters") => (200, serde_json::to_string(&control.counters()).unwrap_or_default()),
        ("POST", "/faults/drop-connections") => {
            if query.split('&').any(|p| p == "mode=reset") {
                control.reset_connections();
            } else {
                control.drop_connections();
            }
            ok()
        }
        ("POST", "/faults/refuse") => {
            let duration = match (query_u64(query, "secs"), query_u64(query, "ms")) {
                (Some(s), _) => Duration::from_secs(s),
                (None, Some(ms)) => Duration::from_millis(ms),
                _ => return bad("refuse needs secs=N or ms=N"),
            };
            control.refuse_connections(duration);
            ok()
        }
        ("POST", "/faults/server-busy") => {
            match (query_u64(query, "count"), query_u64(query, "secs")) {
                (Some(n), _) => control.server_busy(n),
                (None, Some(s)) => control.server_busy_for(Duration::from_secs(s)),
                _ => return bad("server-busy needs count=N or secs=N"),
            }
            ok()
        }
        ("POST", "/faults/delay-acks") => match query_u64(query, "ms") {
            Some(ms) => {
                control.delay_acks(Duration::from_millis(ms));
                ok()
            }
            None => bad("delay-acks needs ms=N"),
        },
        ("POST", "/faults/detach-receivers") => {
            control.detach_receivers();
            ok()
        }
        ("POST", "/faults/clear") => {
            control.clear_faults();
            ok()
        }
        _ => (404, r#"{"error":"no such route"}"#.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Counters;

    #[test]
    fn routes_faults_and_counters() {
        let control = Control::new(Counters::default());
        assert_eq!(handle("POST", "/faults/server-busy?count=2", &control).0, 200);
        assert!(control.take_server_busy() && control.take_server_busy());
        assert!(!control.take_server_busy());
        assert_eq!(handle("POST", "/faults/refuse", &control).0, 400);
        assert_eq!(handle("POST", "/faults/refuse?ms=60000", &control).0, 200);
        assert!(control.refusing());
        assert_eq!(handle("POST", "/faults/clear", &control).0, 200);
        assert!(!control.refusing());
        let (status, body) = handle("GET", "/counters", &control);
        assert_eq!(status, 200);
        assert!(body.contains("connections_accepted"));
        assert_eq!(handle("GET", "/nope", &control).0, 404);
    }
}
