//! Just enough HTTP/1.1 for the fake: requests with `Content-Length` bodies on keep-alive
//! connections (what reqwest sends), and plain responses.
use std::collections::HashMap;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Requests larger than this are refused unread (the connection is closed).
pub const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;

pub struct Request {
    pub method: String,
    pub target: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn path_and_query(&self) -> (&str, &str) {
        self.target.split_once('?').unwrap_or((&self.target, ""))
    }

    pub fn query(&self, key: &str) -> Option<&str> {
        self.path_and_query().1.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// The next request on the connection; `None` at a clean end (or a request it cannot read).
pub async fn read_request<R: AsyncBufRead + Unpin>(r: &mut R) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await.ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let len: usize = headers.get("content-length").map_or(Some(0), |v| v.parse().ok())?;
    if len > MAX_REQUEST_BODY {
        return None;
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.ok()?;
    Some(Request { method, target, headers, body })
}

/// A response with a JSON (or NDJSON) body and extra headers.
pub async fn respond<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    extra: &[(&str, String)],
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if status == 204 {
        head.push_str("\r\n");
    } else {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    }
    w.write_all(head.as_bytes()).await?;
    w.flush().await
}
