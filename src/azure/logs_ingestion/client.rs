//! One Logs Ingestion API try: `POST {endpoint}/dataCollectionRules/{id}/streams/{stream}` with a
//! bearer token for Azure Monitor, on the `azure_core` HTTP client (reqwest), bounded by a
//! timeout, and the answer sorted into what the sink decides on. The client (its connection
//! pool) can be replaced, so that a try after an unanswered one goes out on a new connection.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::{HttpClient, Method, Request, Url, new_http_client};
use bytes::Bytes;

use crate::pipeline::error::{ServiceError, ServiceResult};

/// The token scope of the Logs Ingestion API (its audience is `https://monitor.azure.com`).
pub const SCOPE: &str = "https://monitor.azure.com/.default";

/// The API version of the documented contract.
pub const API_VERSION: &str = "2023-01-01";

/// Where rows go and how to authenticate.
#[derive(Clone)]
pub struct Target {
    /// Data collection endpoint (or the DCR's own ingestion endpoint), without a trailing `/`.
    pub endpoint: String,
    pub dcr_immutable_id: String,
    pub stream: String,
    pub credential: Arc<dyn TokenCredential>,
    /// Longest wait for one call's answer.
    pub timeout: Duration,
}

impl Target {
    /// The call's URL.
    pub fn url(&self) -> ServiceResult<Url> {
        let text = format!(
            "{}/dataCollectionRules/{}/streams/{}?api-version={API_VERSION}",
            self.endpoint, self.dcr_immutable_id, self.stream
        );
        Url::parse(&text).map_err(|e| ServiceError::permanent(format!("log_analytics.endpoint: {text:?}: {e}")))
    }

    /// For messages: the DCR and stream, never a token.
    pub fn describe(&self) -> String {
        format!("{} (DCR {}, stream {})", self.endpoint, self.dcr_immutable_id, self.stream)
    }
}

/// How one try ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// 204: every row of the call is stored.
    Accepted,
    /// 413: the call is over the payload limit.
    TooLarge,
    /// 429, with the wait `Retry-After` asked for.
    Throttled { retry_after: Option<Duration> },
    /// 5xx (and 408), with the wait `Retry-After` asked for.
    ServerError { status: u16, retry_after: Option<Duration> },
    /// No answer within the timeout: the service may have stored the rows.
    Unanswered,
    /// The connection failed (refused, reset, broken) before an answer came.
    Failed(String),
    /// Any other status: the service's error code and message.
    Refused { status: u16, detail: String },
}

pub struct Client {
    target: Target,
    http: Mutex<Arc<dyn HttpClient>>,
}

impl Client {
    pub fn new(target: Target) -> ServiceResult<Self> {
        target.url()?;
        Ok(Client { target, http: Mutex::new(new_http_client(None)) })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The current HTTP client (its pool of connections).
    pub fn http(&self) -> Arc<dyn HttpClient> {
        self.http.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops `used` (and its connections) for a new client, unless another try already did.
    pub fn renew(&self, used: &Arc<dyn HttpClient>) {
        let mut slot = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::ptr_eq(&slot, used) {
            *slot = new_http_client(None);
        }
    }

    /// A bearer token for Azure Monitor (credentials cache and refresh their own tokens).
    pub async fn token(&self) -> ServiceResult<String> {
        let token = self.target.credential.get_token(&[SCOPE], None).await.map_err(|e| {
            let e = crate::azure::errors::from_azure("getting a token for Azure Monitor", &e);
            ServiceError::transient(format!("log_analytics: {e}"))
        })?;
        Ok(token.token.secret().to_string())
    }

    /// One POST of `body` (a JSON array, gzip when `gzip`) on `http`.
    pub async fn post(&self, http: &Arc<dyn HttpClient>, body: Bytes, gzip: bool) -> ServiceResult<Answer> {
        let mut request = Request::new(self.target.url()?, Method::Post);
        request.insert_header("authorization", format!("Bearer {}", self.token().await?));
        request.insert_header("content-type", "application/json");
        if gzip {
            request.insert_header("content-encoding", "gzip");
        }
        request.set_body(body);
        let call = async {
            let response = http.execute_request(&request).await?;
            let (status, headers, body) = response.deconstruct();
            let retry_after = headers
                .get_optional_str(&azure_core::http::headers::RETRY_AFTER)
                .and_then(|v| super::retry_after::parse(v, time::OffsetDateTime::now_utc()));
            let status = u16::from(status);
            let text = if status == 204 { Bytes::new() } else { body.collect().await.unwrap_or_default() };
            Ok::<_, azure_core::Error>((status, retry_after, text))
        };
        Ok(match tokio::time::timeout(self.target.timeout, call).await {
            Err(_) => Answer::Unanswered,
            Ok(Err(e)) => Answer::Failed(crate::azure::errors::chain_text(&e)),
            Ok(Ok((status, retry_after, text))) => match status {
                204 | 200 => Answer::Accepted,
                413 => Answer::TooLarge,
                429 => Answer::Throttled { retry_after },
                408 | 500..=599 => Answer::ServerError { status, retry_after },
                _ => Answer::Refused { status, detail: detail(&text) },
            },
        })
    }
}

/// The service's `{"error":{"code","message"}}`, or the start of whatever it sent.
fn detail(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| v.get("error").unwrap_or(v));
    match error {
        Some(e) if e.get("code").is_some() || e.get("message").is_some() => format!(
            "{}: {}",
            e.get("code").and_then(|c| c.as_str()).unwrap_or("?"),
            e.get("message").and_then(|m| m.as_str()).unwrap_or("")
        ),
        _ => String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string(),
    }
}
