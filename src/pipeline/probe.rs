//! What a failed dependency probe means (`flowlog check` and the daemon's start): the class of
//! failure, named the way an operator fixes it, and whether retrying without a change can help.
use std::fmt;

/// Why a dependency could not be used, from the most to the least specific evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens at the address (TCP reset on connect).
    Refused,
    /// The TLS handshake failed (certificate, protocol, or plain HTTP on a TLS port).
    Tls,
    /// No answer within the probe's time limit (a black-holed address, a firewall dropping).
    Timeout,
    /// The credential was rejected (401, a wrong account key or SAS, no Entra ID token).
    Credential,
    /// Authenticated but not allowed (403): a role assignment is missing.
    Forbidden,
    /// The named hub, consumer group, container, table or file does not exist (404).
    NotFound,
    /// The service answered that it is busy or failing (429, 5xx).
    Unavailable,
    /// Anything else.
    Other,
}

impl FailureClass {
    /// Whether trying again later, with the same settings and permissions, can succeed.
    pub fn retryable(self) -> bool {
        matches!(self, Self::Dns | Self::Refused | Self::Timeout | Self::Unavailable | Self::Other)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Dns => "DNS",
            Self::Refused => "connection refused",
            Self::Tls => "TLS",
            Self::Timeout => "timeout",
            Self::Credential => "401 credential",
            Self::Forbidden => "403 forbidden",
            Self::NotFound => "404 not found",
            Self::Unavailable => "service unavailable",
            Self::Other => "error",
        }
    }

    /// The class of an HTTP answer; `code` is the service's error code, which tells a rejected
    /// key or SAS (Storage answers 403 `AuthenticationFailed`) from a missing role.
    pub fn of_status(status: u16, code: Option<&str>) -> Option<Self> {
        Some(match status {
            401 => Self::Credential,
            403 if code.is_some_and(|c| c.eq_ignore_ascii_case("AuthenticationFailed")) => Self::Credential,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            408 => Self::Timeout,
            429 | 500..=599 => Self::Unavailable,
            _ => return None,
        })
    }

    /// The class told by an error's text (its whole source chain, Display or Debug): what the
    /// transport stacks say when they fail before any answer.
    pub fn of_text(text: &str) -> Self {
        let t = text.to_ascii_lowercase();
        let any = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
        if any(&[
            "dns error",
            "failed to lookup address",
            "name or service not known",
            "no such host",
            "nodename nor servname",
            "temporary failure in name resolution",
            "no address associated",
        ]) {
            Self::Dns
        } else if any(&["connection refused", "connectionrefused", "os error 111"]) {
            Self::Refused
        } else if any(&[
            "certificate",
            "invalidcertificate",
            "tls handshake",
            "handshake failure",
            "ssl",
            "invalid tls",
            "rustls",
            "invalidcontenttype",
            "corrupt message",
        ]) {
            Self::Tls
        } else if any(&["timed out", "timedout", "deadline has elapsed", "no answer within"]) {
            Self::Timeout
        } else {
            Self::Other
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A failed probe: its class and what the service or transport said (secrets redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError {
    pub class: FailureClass,
    pub detail: String,
}

impl ProbeError {
    pub fn new(class: FailureClass, detail: impl Into<String>) -> Self {
        ProbeError { class, detail: detail.into() }
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.detail)
    }
}

impl std::error::Error for ProbeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_transport_texts_have_classes() {
        assert_eq!(FailureClass::of_status(403, Some("AuthenticationFailed")), Some(FailureClass::Credential));
        assert_eq!(
            FailureClass::of_status(403, Some("AuthorizationPermissionMismatch")),
            Some(FailureClass::Forbidden)
        );
        assert_eq!(FailureClass::of_status(404, Some("TableNotFound")), Some(FailureClass::NotFound));
        assert_eq!(FailureClass::of_status(409, None), None);
        let refused =
            "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)";
        assert_eq!(FailureClass::of_text(refused), FailureClass::Refused);
        assert_eq!(FailureClass::of_text("dns error: failed to lookup address information"), FailureClass::Dns);
        assert_eq!(FailureClass::of_text("invalid peer certificate: UnknownIssuer"), FailureClass::Tls);
        assert_eq!(FailureClass::of_text("something else"), FailureClass::Other);
        assert!(FailureClass::Refused.retryable() && !FailureClass::Forbidden.retryable());
    }
}
