//! A fixed-token `TokenCredential` for tests: SDK 0.15 has no connection-string constructor, so
//! clients must be opened with a credential, and the emulator's `$cbs` node checks its token.

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::time::{Duration, OffsetDateTime};
use std::sync::Arc;

/// The token [`StaticTokenCredential::default`] hands out; an emulator without a
/// `required_token` accepts it like any other.
pub const DEFAULT_TEST_TOKEN: &str = "emulator-test-token";

/// Returns the same token for every scope, valid for a configurable lifetime.
///
/// A short lifetime (a few minutes) makes the SDK refresh its `$cbs` authorization soon after
/// connecting, which exercises the token-refresh path against the emulator.
#[derive(Debug, Clone)]
pub struct StaticTokenCredential {
    token: String,
    lifetime: Duration,
}

impl StaticTokenCredential {
    /// A credential returning `token`, valid for one hour from each request.
    pub fn new(token: impl Into<String>) -> Self {
        Self { token: token.into(), lifetime: Duration::hours(1) }
    }

    /// Changes how long each returned token is valid (builder style).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The credential as the `Arc<dyn TokenCredential>` the SDK builders take.
    pub fn into_arc(self) -> Arc<dyn TokenCredential> {
        Arc::new(self)
    }
}

impl Default for StaticTokenCredential {
    fn default() -> Self {
        Self::new(DEFAULT_TEST_TOKEN)
    }
}

#[async_trait::async_trait]
impl TokenCredential for StaticTokenCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(Secret::new(self.token.clone()), OffsetDateTime::now_utc() + self.lifetime))
    }
}
