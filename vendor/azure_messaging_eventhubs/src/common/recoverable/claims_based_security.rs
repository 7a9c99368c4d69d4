// Copyright (c) Microsoft Corporation. All Rights reserved
// Licensed under the MIT license.

use crate::{
    common::{
        recover_azure_operation, recoverable::RecoverableConnection, retry::ErrorRecoveryAction,
    },
    RetryOptions,
};
use azure_core::{credentials::Secret, error::ErrorKind as AzureErrorKind, time::OffsetDateTime};
use azure_core_amqp::{
    error::Result, AmqpClaimsBasedSecurity, AmqpClaimsBasedSecurityApis, AmqpConnection, AmqpError,
    AmqpSession, AmqpSessionApis,
};
use futures::future::Either;
use std::sync::{Arc, Weak};
use tracing::warn;

/// FLOWLOG PATCH: bound on waiting for the service's detach of a `$cbs` link.
const CBS_DETACH_LIMIT: azure_core::time::Duration = azure_core::time::Duration::seconds(10);

/// Thin wrapper around the [`AmqpClaimsBasedSecurityApis`] trait that implements the retry functionality.
///
/// A RecoverableClaimsBasedSecurity is a thin wrapper around the [`AmqpClaimsBasedSecurityApis`] trait which implements
/// the retry functionality. That allows implementations which call into the authorize_path API to not have
/// to worry about retrying the operation themselves.
pub(crate) struct RecoverableClaimsBasedSecurity {
    recoverable_connection: Weak<RecoverableConnection>,
}

impl RecoverableClaimsBasedSecurity {
    /// Creates a new RecoverableClaimsBasedSecurity.
    ///
    /// # Arguments
    ///
    /// * `recoverable_connection` - The recoverable connection to use for authorization.
    pub(super) fn new(recoverable_connection: Weak<RecoverableConnection>) -> Self {
        Self {
            recoverable_connection,
        }
    }

    pub(super) async fn create_claims_based_security(
        connection: Arc<AmqpConnection>,
        retry_options: &RetryOptions,
    ) -> Result<Arc<AmqpClaimsBasedSecurity>> {
        recover_azure_operation(
            || async {
                let session = AmqpSession::new();
                session.begin(connection.as_ref(), None).await?;

                let claims_based_security = Arc::new(AmqpClaimsBasedSecurity::new(session)?);

                // Attach the claims_based_security client to the session.
                claims_based_security.attach().await?;
                Ok(claims_based_security)
            },
            retry_options,
            Self::should_retry_claims_based_security_response,
            None,
            None::<()>,
        )
        .await
    }

    fn should_retry_claims_based_security_response(e: &AmqpError) -> ErrorRecoveryAction {
        warn!("Amqp operation failed: {:?}", e);
        RecoverableConnection::should_retry_amqp_error(e)
    }
}

#[async_trait::async_trait]
impl AmqpClaimsBasedSecurityApis for RecoverableClaimsBasedSecurity {
    async fn authorize_path(
        &self,
        path: String,
        token_type: Option<String>,
        secret: &Secret,
        expires_on: OffsetDateTime,
    ) -> Result<()> {
        let result = recover_azure_operation(
            || {
                let path = path.clone();
                let token_type = token_type.clone();
                let secret = secret.clone();

                async move {
                    let connection = self
                        .recoverable_connection
                        .upgrade()
                        .ok_or_else(|| AmqpError::with_message("Missing Connection"))?;

                    // FLOWLOG PATCH (backported from 0.16): the service permits one `$cbs`
                    // link for each connection, and `ensure_amqp_cbs` attaches a new link for
                    // each authorization. Hold the lock for the full round trip (attach,
                    // put-token, detach), so two authorizations that start at the same time
                    // (a token refresh and a new link's) do not collide with `NotAllowed`.
                    let _cbs_guard = connection.lock_claims_based_security().await;

                    let claims_based_security_client =
                        connection.ensure_amqp_cbs().await.map_err(|e| {
                            AmqpError::from(azure_core::Error::with_error(
                                AzureErrorKind::Other,
                                e,
                                "Failed to ensure AMQP CBS",
                            ))
                        })?;
                    let result = claims_based_security_client
                        .authorize_path(path, token_type, &secret, expires_on)
                        .await;

                    // FLOWLOG PATCH: detach the link pair, and wait for the service's
                    // detach, before the lock is released. Dropping a fe2o3 link only
                    // queues its detach for its session's task, which may send it after
                    // the next authorization's attach.
                    if let Ok(client) = Arc::try_unwrap(claims_based_security_client) {
                        let detach = std::pin::pin!(client.detach());
                        let limit = std::pin::pin!(azure_core::sleep::sleep(CBS_DETACH_LIMIT));
                        match futures::future::select(detach, limit).await {
                            Either::Left((Ok(()), _)) => {}
                            Either::Left((Err(e), _)) => {
                                warn!("Detaching the CBS link failed: {e}")
                            }
                            Either::Right(_) => warn!("Detaching the CBS link timed out"),
                        }
                    }
                    result
                }
            },
            &self
                .recoverable_connection
                .upgrade()
                .ok_or_else(|| AmqpError::with_message("Missing connection"))?
                .retry_options,
            Self::should_retry_claims_based_security_response,
            Some(move |connection: Weak<RecoverableConnection>, reason| {
                let connection = connection.clone();
                Box::pin(async move {
                    // Use the static method from RecoverableConnection to recover from the error.
                    RecoverableConnection::recover_from_error(connection, reason).await
                })
            }),
            Some(self.recoverable_connection.clone()),
        )
        .await?;
        Ok(result)
    }

    async fn attach(&self) -> Result<()> {
        unimplemented!("AmqpClaimsBasedSecurityClient does not support attach operation");
    }

    async fn detach(self) -> Result<()> {
        unimplemented!("AmqpClaimsBasedSecurityClient does not support detach operation");
    }
}
