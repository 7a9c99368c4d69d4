//! Builds `azure_storage_blob` clients for an endpoint and a [`StorageAuth`].
//!
//! SAS tokens are added by a pipeline policy rather than baked into the client URL: account-key
//! users get a fresh short-lived account SAS before the previous one expires (a daemon runs for
//! months), and client URLs, which end up in logs and errors, never contain a signature.
//!
//! Clients built with one [`BlobTransport`] share its HTTP client: one connection pool, and the
//! system's root certificates loaded once rather than for every client (10-20 ms of the 30-40 ms
//! of CPU the daemon spends starting).
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{ClientOptions, Context, Request, Transport};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use time::OffsetDateTime;

use super::credentials::StorageAuth;
use super::endpoint::AccountEndpoint;
use super::errors::from_azure;
use super::sas::{AccountKey, AccountSas, SasToken};
use super::storage_counter::StorageCounter;
use crate::pipeline::error::{ServiceError, ServiceResult};

/// Lifetime of a self-signed account SAS; it is replaced when half of it has passed.
const SIGNED_SAS_LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// Start time slack for clock skew between this host and the storage service.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The HTTP client Blob clients send through. Clones share it. Not process-wide: a pooled
/// connection belongs to the runtime that opened it, so each part of the program that builds
/// clients (the daemon's start, a check) makes its own.
#[derive(Clone, Debug)]
pub struct BlobTransport(Transport);

impl BlobTransport {
    /// The HTTP client the Blob SDK builds for each client when given none (pooled, its timeouts
    /// and redirect policy), built once. As there, without automatic decompression: an offset
    /// is a position in the stored bytes, and a range of a blob stored with `Content-Encoding:
    /// gzip` is not a gzip stream of its own.
    // As in the SDK's own call: the options may gain fields.
    #[allow(clippy::needless_update)]
    pub fn new() -> Self {
        let options = azure_core::http::HttpClientOptions { automatic_decompression: false, ..Default::default() };
        BlobTransport(Transport::new(azure_core::http::new_http_client(Some(options))))
    }
}

impl Default for BlobTransport {
    fn default() -> Self {
        Self::new()
    }
}

/// A client for `container` of the account at `endpoint`. `permissions` is the account-SAS
/// permission string used when signing with an account key (`rl` to read, `racwdl` for tests).
pub fn container_client(
    endpoint: &AccountEndpoint,
    container: &str,
    auth: &StorageAuth,
    permissions: &str,
) -> ServiceResult<BlobContainerClient> {
    build(endpoint, container, auth, permissions, None, None, None)
}

/// [`container_client`] sending through `transport`, with every HTTP try of the client counted
/// by `counter`.
pub fn counted_container_client(
    endpoint: &AccountEndpoint,
    container: &str,
    auth: &StorageAuth,
    permissions: &str,
    counter: Option<&StorageCounter>,
    transport: &BlobTransport,
) -> ServiceResult<BlobContainerClient> {
    build(endpoint, container, auth, permissions, counter, None, Some(transport))
}

/// [`container_client`] without the SDK's retries: a probe reports the first failure as it is
/// (a refused connection, not a retry budget spent).
pub fn probe_container_client(
    endpoint: &AccountEndpoint,
    container: &str,
    auth: &StorageAuth,
    permissions: &str,
    transport: &BlobTransport,
) -> ServiceResult<BlobContainerClient> {
    build(endpoint, container, auth, permissions, None, Some(azure_core::http::RetryOptions::none()), Some(transport))
}

fn build(
    endpoint: &AccountEndpoint,
    container: &str,
    auth: &StorageAuth,
    permissions: &str,
    counter: Option<&StorageCounter>,
    retry: Option<azure_core::http::RetryOptions>,
    transport: Option<&BlobTransport>,
) -> ServiceResult<BlobContainerClient> {
    if let Some(account) = auth.key_account()
        && account != endpoint.account()
    {
        return Err(ServiceError::permanent(format!(
            "account key is for {account} but the endpoint {endpoint} is account {}",
            endpoint.account()
        )));
    }
    let url = endpoint.container_url(container)?;
    let context = format!("creating client for {url}");
    let (credential, policy) = match auth {
        StorageAuth::Entra(credential) => (Some(credential.clone()), None),
        StorageAuth::Sas(token) => (None, Some(SasPolicy::fixed(token.clone()))),
        StorageAuth::AccountKey(key) => (None, Some(SasPolicy::signed(key.clone(), permissions))),
    };
    let options = BlobContainerClientOptions {
        client_options: ClientOptions {
            per_call_policies: policy.into_iter().map(|p| Arc::new(p) as Arc<dyn Policy>).collect(),
            // Per try: after the SDK's retry policy, so its own retries are counted too.
            per_try_policies: counter.into_iter().map(StorageCounter::policy).collect(),
            retry: retry.unwrap_or_default(),
            transport: transport.map(|t| t.0.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    BlobContainerClient::new(url, credential, Some(options)).map_err(|e| from_azure(&context, &e))
}

/// Adds a SAS token to every request of a pipeline.
pub struct SasPolicy {
    source: SasSource,
}

enum SasSource {
    Fixed(SasToken),
    Signed { key: AccountKey, permissions: String, current: Mutex<Option<(SasToken, OffsetDateTime)>> },
}

impl SasPolicy {
    pub fn fixed(token: SasToken) -> Self {
        SasPolicy { source: SasSource::Fixed(token) }
    }

    /// Signs blob-service account SAS tokens with `key` as needed.
    pub fn signed(key: AccountKey, permissions: &str) -> Self {
        SasPolicy { source: SasSource::Signed { key, permissions: permissions.to_string(), current: Mutex::new(None) } }
    }

    /// The token to use now: the fixed one, or a signed one that is at least half its life from expiry.
    pub fn token(&self) -> SasToken {
        match &self.source {
            SasSource::Fixed(token) => token.clone(),
            SasSource::Signed { key, permissions, current } => {
                let now = OffsetDateTime::now_utc();
                // A poisoned lock only means another thread panicked mid-update: the cache is
                // still either None or a whole token, so keep using it.
                let mut current = current.lock().unwrap_or_else(|p| p.into_inner());
                match current.as_ref() {
                    Some((token, renew_at)) if now < *renew_at => token.clone(),
                    _ => {
                        let sas = AccountSas {
                            services: "b".into(),
                            resource_types: "sco".into(),
                            permissions: permissions.clone(),
                            start: Some(now - CLOCK_SKEW),
                            expiry: now + SIGNED_SAS_LIFETIME,
                            ip: None,
                            protocol: None,
                        };
                        let token = sas.sign(key);
                        *current = Some((token.clone(), now + SIGNED_SAS_LIFETIME / 2));
                        token
                    }
                }
            }
        }
    }
}

impl fmt::Debug for SasPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            SasSource::Fixed(token) => f.debug_tuple("SasPolicy").field(token).finish(),
            SasSource::Signed { key, permissions, .. } => {
                f.debug_struct("SasPolicy").field("key", key).field("permissions", permissions).finish()
            }
        }
    }
}

#[async_trait::async_trait]
impl Policy for SasPolicy {
    async fn send(&self, ctx: &Context, request: &mut Request, next: &[Arc<dyn Policy>]) -> PolicyResult {
        self.token().apply(request.url_mut());
        match next.split_first() {
            Some((first, rest)) => first.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "SAS policy must not be the last policy of a pipeline",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_are_reused_until_half_life() {
        let policy = SasPolicy::signed(AccountKey::emulator(), "rl");
        let first = policy.token();
        assert_eq!(first, policy.token());
        assert!(first.query().contains("sp=rl") && first.query().contains("ss=b"));
        assert!(!format!("{policy:?}").contains("sig"));
    }

    #[test]
    fn key_for_another_account_is_refused() {
        let endpoint = AccountEndpoint::parse("http://127.0.0.1:1/otheraccount").unwrap();
        let Err(err) = container_client(&endpoint, "c1x", &StorageAuth::emulator(), "rl") else {
            panic!("a key for devstoreaccount1 must not serve otheraccount");
        };
        assert_eq!(err.kind, crate::pipeline::error::ErrorKind::Permanent);
    }
}
