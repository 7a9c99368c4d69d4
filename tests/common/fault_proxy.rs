//! A fault-injecting HTTP/1.1 proxy for the fault suite: sits in front of one Azurite endpoint
//! (Blob or Table) and, while a fault is set, answers the requests it matches with an error,
//! silence, a reset or a trickled body. One request per connection (`Connection: close` both
//! ways) keeps the relay a byte copy: no response framing to parse beyond the head.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Longest request or response head accepted (Azure heads are a few KiB).
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy does with a matching request.
#[derive(Clone, Debug)]
pub enum Action {
    /// Answers with this status (and `Retry-After` seconds, `x-ms-error-code`), empty body.
    Status { code: u16, retry_after: Option<u32>, error_code: &'static str },
    /// Reads the request and never answers: the connection stays open and silent until the
    /// proxy is dropped, like a black-holed connection.
    Hang,
    /// Reads the request, then resets the connection (RST).
    Reset,
    /// Relays the request and trickles the response: `bytes` every `every`.
    Slow { bytes: usize, every: Duration },
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    /// Methods it applies to (empty: all).
    pub methods: Vec<&'static str>,
    /// The request target must contain this (empty: any).
    pub path_contains: &'static str,
    /// The request target must not contain any of these.
    pub path_excludes: Vec<&'static str>,
}

impl Matcher {
    fn matches(&self, method: &str, target: &str) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
            && target.contains(self.path_contains)
            && !self.path_excludes.iter().any(|x| target.contains(x))
    }
}

#[derive(Default)]
struct Counters {
    seen: AtomicU64,
    faulted: AtomicU64,
}

/// A running proxy; dropped, it stops accepting and closes every held connection.
pub struct FaultProxy {
    url: String,
    fault: Arc<Mutex<Option<(Matcher, Action)>>>,
    counters: Arc<Counters>,
    stop: CancellationToken,
}

impl FaultProxy {
    /// A proxy for `upstream`, an account endpoint like `http://127.0.0.1:PORT/devstoreaccount1`;
    /// [`url`](Self::url) is the same endpoint through the proxy.
    pub async fn start(upstream: &str) -> FaultProxy {
        let parsed = url::Url::parse(upstream).expect("upstream URL");
        let upstream_addr = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut url = parsed.clone();
        url.set_port(Some(port)).unwrap();
        let proxy = FaultProxy {
            url: url.as_str().trim_end_matches('/').to_string(),
            fault: Arc::default(),
            counters: Arc::default(),
            stop: CancellationToken::new(),
        };
        let (fault, counters, stop) = (proxy.fault.clone(), proxy.counters.clone(), proxy.stop.clone());
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    _ = stop.cancelled() => return,
                    c = listener.accept() => c,
                };
                let Ok((client, _)) = conn else { continue };
                let (fault, counters, stop, upstream) =
                    (fault.clone(), counters.clone(), stop.clone(), upstream_addr.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = serve(client, &upstream, &fault, &counters) => {}
                    }
                });
            }
        });
        proxy
    }

    /// The account endpoint through the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// From now on, requests matching `matcher` get `action`.
    pub fn set(&self, matcher: Matcher, action: Action) {
        *self.fault.lock().unwrap() = Some((matcher, action));
    }

    /// From now on, every request is relayed.
    pub fn clear(&self) {
        *self.fault.lock().unwrap() = None;
    }

    /// Requests received so far.
    pub fn seen(&self) -> u64 {
        self.counters.seen.load(Ordering::Relaxed)
    }

    /// Requests a fault was applied to so far.
    pub fn faulted(&self) -> u64 {
        self.counters.faulted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A parsed request head: method, target, body framing, and the head re-encoded with
/// `Connection: close`.
struct Head {
    method: String,
    target: String,
    content_length: Option<usize>,
    chunked: bool,
    rewritten: Vec<u8>,
}

async fn serve(mut client: TcpStream, upstream: &str, fault: &Mutex<Option<(Matcher, Action)>>, counters: &Counters) {
    let Some((head, rest)) = read_request_head(&mut client).await else { return };
    counters.seen.fetch_add(1, Ordering::Relaxed);
    let action =
        fault.lock().unwrap().as_ref().filter(|(m, _)| m.matches(&head.method, &head.target)).map(|f| f.1.clone());
    if action.is_some() {
        counters.faulted.fetch_add(1, Ordering::Relaxed);
    }
    match action {
        Some(Action::Status { code, retry_after, error_code }) => {
            // Drain the body first: closing with unread bytes would turn the answer into a RST.
            if drain_body(&mut client, &head, rest).await.is_none() {
                return;
            }
            let mut answer = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Length: 0\r\nConnection: close\r\nx-ms-error-code: {error_code}\r\n"
            );
            if let Some(secs) = retry_after {
                answer.push_str(&format!("Retry-After: {secs}\r\n"));
            }
            answer.push_str("\r\n");
            let _ = client.write_all(answer.as_bytes()).await;
            let _ = client.shutdown().await;
        }
        Some(Action::Hang) => {
            let _ = drain_body(&mut client, &head, rest).await;
            // Silent until the proxy is dropped (the caller's select ends this).
            std::future::pending::<()>().await;
        }
        Some(Action::Reset) => {
            let _ = drain_body(&mut client, &head, rest).await;
            let _ = client.set_zero_linger();
            drop(client);
        }
        Some(Action::Slow { bytes, every }) => relay(client, upstream, &head, rest, Some((bytes, every))).await,
        None => relay(client, upstream, &head, rest, None).await,
    }
}

/// Relays one request and its response, optionally trickling the response.
async fn relay(mut client: TcpStream, upstream: &str, head: &Head, rest: Vec<u8>, trickle: Option<(usize, Duration)>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    if server.write_all(&head.rewritten).await.is_err() || server.write_all(&rest).await.is_err() {
        return;
    }
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    // The request body (what was not read with the head) goes up while the response comes down.
    let upload = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        std::future::pending::<()>().await
    };
    let download = async {
        let Some((head, rest)) = read_response_head(&mut server_read).await else { return };
        if client_write.write_all(&head).await.is_err() {
            return;
        }
        let mut pending = rest;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match trickle {
                Some((bytes, every)) => {
                    while !pending.is_empty() {
                        let n = bytes.min(pending.len());
                        if client_write.write_all(&pending[..n]).await.is_err() {
                            return;
                        }
                        pending.drain(..n);
                        tokio::time::sleep(every).await;
                    }
                }
                None => {
                    if client_write.write_all(&pending).await.is_err() {
                        return;
                    }
                    pending.clear();
                }
            }
            match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        _ = upload => {}
        _ = download => {}
    }
}

/// Reads until the end of a head; returns the head bytes and what followed them.
async fn read_head(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn read_request_head(client: &mut TcpStream) -> Option<(Head, Vec<u8>)> {
    let (raw, rest) = read_head(client).await?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(&raw).ok()?;
    let (method, target) = (req.method?.to_string(), req.path?.to_string());
    let mut content_length = None;
    let mut chunked = false;
    let mut rewritten = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") || h.name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(h.value).ok()?.trim().parse().ok();
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = String::from_utf8_lossy(h.value).to_ascii_lowercase().contains("chunked");
        }
        rewritten.extend_from_slice(h.name.as_bytes());
        rewritten.extend_from_slice(b": ");
        rewritten.extend_from_slice(h.value);
        rewritten.extend_from_slice(b"\r\n");
    }
    rewritten.extend_from_slice(b"Connection: close\r\n\r\n");
    Some((Head { method, target, content_length, chunked, rewritten }, rest))
}

/// The response head with `Connection: close`, so the client never reuses the connection.
async fn read_response_head(server: &mut (impl AsyncReadExt + Unpin)) -> Option<(Vec<u8>, Vec<u8>)> {
    let (raw, rest) = read_head(server).await?;
    let text = String::from_utf8_lossy(&raw);
    let mut head = String::with_capacity(raw.len() + 20);
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    Some((head.into_bytes(), rest))
}

/// Reads the rest of the request body (by length or chunked framing) and discards it.
async fn drain_body(client: &mut TcpStream, head: &Head, mut got: Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let done = match (head.content_length, head.chunked) {
            (Some(n), _) => got.len() >= n,
            (None, true) => got.ends_with(b"0\r\n\r\n"),
            (None, false) => true,
        };
        if done {
            return Some(());
        }
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
}
