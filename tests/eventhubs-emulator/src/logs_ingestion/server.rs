//! Connections of the fake: requests in order on each keep-alive connection, the ingestion
//! route judged by `contract` and then by the fault schedule, the rest by `control`.
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::http1::{read_request, respond};
use super::{CallRecord, Fault, Shared, contract, control};

pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let connection = {
            let mut inner = shared.lock();
            inner.connections += 1;
            inner.connections - 1
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let stop = shared.stop.clone();
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = serve(stream, connection, shared) => {}
            }
        });
    }
}

async fn serve(stream: TcpStream, connection: u64, shared: Arc<Shared>) {
    let mut conn = BufReader::new(stream);
    while let Some(req) = read_request(&mut conn).await {
        let (path, _) = req.path_and_query();
        if path.starts_with("/control/") {
            let (status, body) = control::handle(&req, &shared);
            let extra = [("Connection", "close".to_string())];
            let _ = respond(conn.get_mut(), status, &extra, &body).await;
            return;
        }
        let gzip = req.header("content-encoding").is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
        let mut record = CallRecord { connection, status: 0, rows: 0, bytes: req.body.len(), gzip };
        let judged = if req.method == "POST" { contract::judge(&req, &shared.config) } else { Err((404, "{}".into())) };
        let rows = match judged {
            Err((status, body)) => {
                record.status = status;
                shared.lock().calls.push(record);
                if respond(conn.get_mut(), status, &[], &body).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(rows) => rows,
        };
        record.rows = rows.len();
        // A scheduled 413 stands for a call over the limit, which one row in a test never is: it
        // waits at the head of the queue for a call it can split.
        let fault = {
            let mut inner = shared.lock();
            match inner.faults.front() {
                Some(Fault::TooLarge) if rows.len() < 2 => None,
                _ => inner.faults.pop_front(),
            }
        };
        let (status, extra, body) = match fault {
            None => {
                record.status = 204;
                let mut inner = shared.lock();
                inner.rows.extend(rows);
                inner.calls.push(record);
                (204, vec![], String::new())
            }
            Some(Fault::Silence) => {
                {
                    let mut inner = shared.lock();
                    inner.rows.extend(rows);
                    inner.calls.push(record);
                }
                // Never answer; hold the connection until the client gives up on it.
                let mut sink = [0u8; 1024];
                while conn.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                return;
            }
            Some(Fault::Reset) => {
                shared.lock().calls.push(record);
                // A zero linger makes the close a TCP RST. The deprecation is about a non-zero
                // linger blocking the thread in drop; a zero one returns at once.
                #[allow(deprecated)]
                let _ = conn.get_ref().set_linger(Some(Duration::ZERO));
                return;
            }
            Some(Fault::Throttle { retry_after }) => (
                429,
                vec![("Retry-After", retry_after)],
                r#"{"error":{"code":"TooManyRequests","message":"throttled"}}"#.into(),
            ),
            Some(Fault::ServerError(status)) => {
                (status, vec![], r#"{"error":{"code":"ServiceUnavailable","message":"scheduled fault"}}"#.into())
            }
            Some(Fault::TooLarge) => {
                (413, vec![], r#"{"error":{"code":"ContentLengthLimitExceeded","message":"scheduled fault"}}"#.into())
            }
        };
        if status != 204 {
            record.status = status;
            shared.lock().calls.push(record);
        }
        if respond(conn.get_mut(), status, &extra, &body).await.is_err() {
            return;
        }
    }
}
