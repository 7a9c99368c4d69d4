//! A fixed bearer token as a `TokenCredential`: for Event Hubs emulators (SDK 0.15 has no
//! connection-string constructor) and for tokens obtained out of band. Entra ID is the default.
use std::sync::Arc;

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::time::{Duration, OffsetDateTime};

pub struct StaticToken {
    token: crate::domain::secret::Secret,
}

impl StaticToken {
    pub fn credential(token: crate::domain::secret::Secret) -> Arc<dyn TokenCredential> {
        Arc::new(StaticToken { token })
    }
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticToken(***)")
    }
}

#[async_trait::async_trait]
impl TokenCredential for StaticToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        // Claimed valid for an hour from each request; the SDK re-requests before expiry.
        Ok(AccessToken::new(
            Secret::new(self.token.expose().to_string()),
            OffsetDateTime::now_utc() + Duration::hours(1),
        ))
    }
}
