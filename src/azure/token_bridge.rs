//! Lets the legacy Table SDK (`azure_core` 0.21) use an `azure_identity` 1.x credential.
//!
//! `azure_data_tables` 0.21 takes `StorageCredentials::token_credential(Arc<dyn
//! azure_core_legacy::auth::TokenCredential>)`, a different trait from `azure_core` 1.x's. This
//! adapter forwards `get_token` and copies the token; both generations use `time` 0.3, so the
//! expiry needs no conversion. Token caching stays in the 1.x credential.
use std::fmt;
use std::sync::Arc;

use azure_core_legacy::auth::{
    AccessToken as LegacyToken, Secret as LegacySecret, TokenCredential as LegacyCredential,
};

/// An `azure_core` 1.x token credential seen through the 0.21 trait.
pub struct LegacyTokenCredential {
    inner: Arc<dyn azure_core::credentials::TokenCredential>,
}

impl LegacyTokenCredential {
    pub fn new(inner: Arc<dyn azure_core::credentials::TokenCredential>) -> Self {
        LegacyTokenCredential { inner }
    }
}

impl fmt::Debug for LegacyTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LegacyTokenCredential").field(&self.inner).finish()
    }
}

#[async_trait::async_trait]
impl LegacyCredential for LegacyTokenCredential {
    async fn get_token(&self, scopes: &[&str]) -> azure_core_legacy::Result<LegacyToken> {
        let token = self.inner.get_token(scopes, None).await.map_err(|e| {
            // Keep the classification the 0.21 error type can express; the text names the cause.
            azure_core_legacy::Error::with_message(azure_core_legacy::error::ErrorKind::Credential, || {
                super::errors::redact(&e.to_string())
            })
        })?;
        Ok(LegacyToken::new(LegacySecret::new(token.token.secret().to_string()), token.expires_on))
    }

    async fn clear_cache(&self) -> azure_core_legacy::Result<()> {
        // The 1.x trait has no cache control; its credentials refresh tokens before expiry.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::credentials::{AccessToken, TokenRequestOptions};

    #[derive(Debug)]
    struct Fixed;

    #[async_trait::async_trait]
    impl azure_core::credentials::TokenCredential for Fixed {
        async fn get_token(
            &self,
            scopes: &[&str],
            _options: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            assert_eq!(scopes, ["https://storage.azure.com/.default"]);
            Ok(AccessToken::new("tok", time::OffsetDateTime::UNIX_EPOCH))
        }
    }

    #[tokio::test]
    async fn forwards_tokens_through_the_legacy_trait() {
        let bridged: Arc<dyn LegacyCredential> = Arc::new(LegacyTokenCredential::new(Arc::new(Fixed)));
        let token = bridged.get_token(&["https://storage.azure.com/.default"]).await.unwrap();
        assert_eq!(token.token.secret(), "tok");
        assert_eq!(token.expires_on, time::OffsetDateTime::UNIX_EPOCH);
        // And the Table SDK accepts it as a credential.
        let _ = azure_storage::StorageCredentials::token_credential(bridged);
    }
}
