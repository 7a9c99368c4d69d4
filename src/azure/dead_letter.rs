//! Dead letters as JSON blobs in a configured container.
//!
//! Name: `YYYY/MM/DD/HH/<kind>/<hash>.json`, the hour taken from the letter's `at`, the hash over
//! (kind, blob, range, context) so that dead-lettering the same thing again in the same hour
//! overwrites it instead of adding a duplicate. `put` returns after Put Blob succeeded (201),
//! which Azure Storage acknowledges only once the data is durably written.
use azure_core::http::RequestContent;
use azure_storage_blob::BlobContainerClient;
use azure_storage_blob::models::BlockBlobClientUploadOptions;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::azure::blob_clients::{BlobTransport, counted_container_client};
use crate::azure::endpoint::is_container_name;
use crate::azure::errors::{error_code, from_azure};
use crate::azure::{AccountEndpoint, StorageAuth};
use crate::domain::offset::keys::hex;
use crate::pipeline::dead_letter::{DeadLetter, DeadLetterStore};
use crate::pipeline::error::{ServiceError, ServiceResult};

pub struct AzureDeadLetters {
    container: BlobContainerClient,
    /// `account/container`, for messages.
    location: String,
}

impl AzureDeadLetters {
    /// Writes to `container` of the account at `endpoint`. Account SAS tokens signed from an
    /// account key get create and write permissions only.
    pub fn new(
        endpoint: &AccountEndpoint,
        container: &str,
        auth: &StorageAuth,
        transport: &BlobTransport,
    ) -> ServiceResult<Self> {
        if !is_container_name(container) {
            return Err(ServiceError::permanent(format!("invalid dead-letter container name {container:?}")));
        }
        Ok(AzureDeadLetters {
            container: counted_container_client(endpoint, container, auth, "cw", None, transport)?,
            location: format!("{}/{container}", endpoint.account()),
        })
    }

    /// Creates the container unless it exists (needs a credential allowed to create containers).
    pub async fn ensure_container(&self) -> ServiceResult<()> {
        match self.container.create(None).await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("ContainerAlreadyExists") => Ok(()),
            Err(e) => Err(from_azure(&format!("creating container {}", self.location), &e)),
        }
    }
}

/// The blob path of a dead letter.
pub fn dead_letter_path(letter: &DeadLetter) -> String {
    let at = OffsetDateTime::parse(&letter.at, &Rfc3339)
        .map(|t| t.to_offset(time::UtcOffset::UTC))
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let kind = serde_json::to_value(letter.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let mut hash = Sha256::new();
    // Fields are length-prefixed so that different splits of the same bytes cannot collide.
    for field in [
        kind.as_str(),
        letter.blob.as_deref().unwrap_or(""),
        &letter.range.map(|(s, e)| format!("{s}-{e}")).unwrap_or_default(),
        &letter.context,
    ] {
        hash.update((field.len() as u64).to_be_bytes());
        hash.update(field.as_bytes());
    }
    let digest = hex(&hash.finalize());
    format!(
        "{:04}/{:02}/{:02}/{:02}/{kind}/{}.json",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        &digest[..32]
    )
}

impl DeadLetterStore for AzureDeadLetters {
    async fn put(&self, letter: &DeadLetter) -> ServiceResult<()> {
        let path = dead_letter_path(letter);
        let context = format!("writing dead letter {}/{path}", self.location);
        let body = serde_json::to_vec_pretty(letter)
            .map_err(|e| ServiceError::permanent(format!("{context}: cannot serialize: {e}")))?;
        let options =
            BlockBlobClientUploadOptions { blob_content_type: Some("application/json".into()), ..Default::default() };
        self.container
            .blob_client(&path)
            .upload(RequestContent::from(body), Some(options))
            .await
            .map_err(|e| from_azure(&context, &e))?;
        Ok(())
    }

    fn location(&self) -> String {
        format!("container {}", self.location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::dead_letter::DeadLetterKind;

    fn letter(context: &str, at: &str) -> DeadLetter {
        DeadLetter::new(DeadLetterKind::Record, "bad json".into(), at.into())
            .about(Some("a/c/x/PT1H.json".into()), Some((12, 40)), context.into())
            .with_raw(b"{oops", 100)
    }

    #[test]
    fn paths_are_deterministic_and_dated() {
        let a = dead_letter_path(&letter("p0", "2025-03-04T05:06:07Z"));
        assert!(a.starts_with("2025/03/04/05/record/") && a.ends_with(".json"), "{a}");
        assert_eq!(a, dead_letter_path(&letter("p0", "2025-03-04T05:59:00Z")));
        assert_ne!(a, dead_letter_path(&letter("p1", "2025-03-04T05:06:07Z")));
    }
}
