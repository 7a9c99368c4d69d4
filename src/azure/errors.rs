//! Classifies errors of both Azure SDK generations into `ServiceError` kinds, in one place.
//!
//! 404 → NotFound; 409/412 → Conflict; 401/403/408/429/5xx, connection and I/O failures →
//! Transient; the rest → Permanent. Messages keep the status and the service's error code, and pass through
//! [`redact`] because transport errors quote the request URL, which can carry a SAS signature.
//! The SDK error is not kept as `source`: its Display could print that URL unredacted.
use crate::pipeline::error::{ErrorKind, ServiceError};

/// Longest error text kept from an SDK error (legacy HTTP errors embed whole response bodies).
const MAX_DETAIL: usize = 600;

/// What a failed token acquisition means and how to fix it: the SDK's own text only says that
/// the credential failed.
const CREDENTIAL_FAILED: &str = "no Entra ID token (auth.credential chooses the source: `auto` = \
workload identity where AKS injects it, else the managed identity; or `azure_cli`, `developer_tools`); \
to fix: run `az login` and set FLOWLOG_AUTH_CREDENTIAL=azure_cli, give this host a managed identity \
with the data roles, or, for storage, set FLOWLOG_<SECTION>_ACCOUNT_KEY or FLOWLOG_<SECTION>_SAS";

/// Kind for an HTTP status, as `ServiceError::from_status` decides it.
pub fn kind_for_status(status: u16) -> ErrorKind {
    ServiceError::from_status(status, String::new()).kind
}

/// Classifies an error of `azure_core` 1.x (`azure_storage_blob`, `azure_identity`).
pub fn from_azure(context: &str, err: &azure_core::Error) -> ServiceError {
    use azure_core::error::ErrorKind as K;
    let detail = redact(&err.to_string());
    let (kind, head) = match err.kind() {
        K::HttpResponse { status, error_code, .. } => {
            let status = u16::from(*status);
            (kind_for_status(status), http_head(status, error_code.as_deref()))
        }
        K::Connection => (ErrorKind::Transient, "connection failed".to_string()),
        K::Io => (ErrorKind::Transient, "I/O error".to_string()),
        // Token acquisition fails mostly while the identity endpoint is unreachable or throttled;
        // a misconfiguration keeps failing and is logged on every retry.
        K::Credential => (ErrorKind::Transient, CREDENTIAL_FAILED.to_string()),
        K::DataConversion => (ErrorKind::Permanent, "unexpected response".to_string()),
        _ => (ErrorKind::Permanent, "error".to_string()),
    };
    ServiceError::new(kind, format!("{context}: {head}: {}", truncate(&detail)))
}

/// Classifies an error of `azure_core` 0.21 (`azure_data_tables`, `azure_storage`).
pub fn from_legacy(context: &str, err: &azure_core_legacy::Error) -> ServiceError {
    use azure_core_legacy::error::ErrorKind as K;
    let (kind, head) = match err.kind() {
        K::HttpResponse { status, error_code } => {
            let status = u16::from(*status);
            (kind_for_status(status), http_head(status, error_code.as_deref()))
        }
        K::Io => (ErrorKind::Transient, "I/O error".to_string()),
        K::Credential => (ErrorKind::Transient, CREDENTIAL_FAILED.to_string()),
        K::DataConversion => (ErrorKind::Permanent, "unexpected response".to_string()),
        _ => (ErrorKind::Permanent, "error".to_string()),
    };
    // The legacy HTTP error's Display dumps headers and body: the status and code say enough.
    let message = match err.kind() {
        K::HttpResponse { .. } => format!("{context}: {head}"),
        _ => format!("{context}: {head}: {}", truncate(&redact(&err.to_string()))),
    };
    ServiceError::new(kind, message)
}

/// The service error code of a legacy error (`EntityAlreadyExists`, `TableNotFound`, ...).
pub fn legacy_error_code(err: &azure_core_legacy::Error) -> Option<&str> {
    match err.kind() {
        azure_core_legacy::error::ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

/// The service error code of an `azure_core` 1.x error.
pub fn error_code(err: &azure_core::Error) -> Option<&str> {
    match err.kind() {
        azure_core::error::ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

fn http_head(status: u16, code: Option<&str>) -> String {
    format!("HTTP {status} {}", code.unwrap_or("(no error code)"))
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(MAX_DETAIL) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Replaces the value of every `sig=` parameter (a SAS signature) with `REDACTED`, so URLs and
/// messages that quote them can be logged.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = find_ignore_case(rest, "sig=") {
        let value_start = pos + 4;
        out.push_str(&rest[..value_start]);
        out.push_str("REDACTED");
        let value_len = rest[value_start..]
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c == ')' || c == '>' || c.is_whitespace())
            .unwrap_or(rest.len() - value_start);
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    out
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Every message of an error's source chain, joined, with SAS signatures redacted.
pub fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    redact(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_signature_and_keeps_the_rest() {
        let url = "error sending request for url (http://h/a?sv=2022-11-02&SIG=ab%2Bc&sp=r), then sig=x";
        assert_eq!(
            redact(url),
            "error sending request for url (http://h/a?sv=2022-11-02&SIG=REDACTED&sp=r), then sig=REDACTED"
        );
        assert_eq!(redact("nothing secret"), "nothing secret");
        assert_eq!(redact("sig="), "sig=REDACTED");
    }

    #[test]
    fn statuses_map_to_kinds() {
        for (status, kind) in [
            (404, ErrorKind::NotFound),
            (409, ErrorKind::Conflict),
            (412, ErrorKind::Conflict),
            (408, ErrorKind::Transient),
            (429, ErrorKind::Transient),
            (500, ErrorKind::Transient),
            (503, ErrorKind::Transient),
            (400, ErrorKind::Permanent),
            (401, ErrorKind::Transient),
            (403, ErrorKind::Transient),
        ] {
            assert_eq!(kind_for_status(status), kind, "{status}");
        }
    }

    #[test]
    fn sdk_errors_keep_status_and_code_and_lose_secrets() {
        use azure_core::error::ErrorKind as K;
        let err = azure_core::Error::with_message(
            K::HttpResponse {
                status: azure_core::http::StatusCode::PreconditionFailed,
                error_code: Some("ConditionNotMet".into()),
                raw_response: None,
            },
            "at http://h/c/b?sig=secret",
        );
        let e = from_azure("read acct/c/b", &err);
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert!(e.message.contains("HTTP 412 ConditionNotMet"), "{}", e.message);
        assert!(!e.message.contains("secret"), "{}", e.message);
        let io = azure_core::Error::with_message(K::Connection, "refused http://h/?sig=secret");
        let e = from_azure("x", &io);
        assert_eq!(e.kind, ErrorKind::Transient);
        assert!(!e.to_string().contains("secret"));

        let legacy = azure_core_legacy::Error::new(
            azure_core_legacy::error::ErrorKind::http_response(
                azure_core_legacy::StatusCode::Conflict,
                Some("EntityAlreadyExists".into()),
            ),
            std::io::Error::other("body"),
        );
        let e = from_legacy("insert", &legacy);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Conflict, "insert: HTTP 409 EntityAlreadyExists"));
        assert_eq!(legacy_error_code(&legacy), Some("EntityAlreadyExists"));
    }
}
