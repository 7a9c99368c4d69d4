//! The error type every I/O seam returns, classified so the engine can decide: retry, conflict, skip or dead-letter.
use std::fmt;

/// What the caller should do about a failed service call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The blob, entity or file does not exist (HTTP 404).
    NotFound,
    /// Optimistic concurrency lost: ETag/version mismatch (412) or insert of an existing key (409).
    Conflict,
    /// Worth retrying with backoff: timeouts, connection resets, 5xx, throttling (429, server-busy).
    Transient,
    /// Retrying cannot help: bad request, authorization, malformed response.
    Permanent,
    /// Rows were delivered but their offset could not be committed, and the run is bounded or
    /// stopping: it ends here rather than read (and send) the same rows again.
    CommitFailed,
}

/// A failed call to a storage, hub or file-system service, with the context a log line needs.
#[derive(Debug)]
pub struct ServiceError {
    pub kind: ErrorKind,
    pub message: String,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ServiceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ServiceError { kind, message: message.into(), source: None }
    }

    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ServiceError { kind, message: message.into(), source: Some(Box::new(source)) }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    /// Classifies a local I/O error the way the engine treats remote ones.
    pub fn from_io(context: impl Into<String>, err: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match err.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::Interrupted | K::TimedOut | K::WouldBlock | K::ConnectionReset | K::ConnectionAborted => {
                ErrorKind::Transient
            }
            // A full disk or quota heals when someone frees space: retry, never dead-letter.
            K::StorageFull | K::QuotaExceeded | K::FileTooLarge => ErrorKind::Transient,
            _ => ErrorKind::Permanent,
        };
        Self::with_source(kind, context, err)
    }

    /// Maps an HTTP status to a kind (used by the Azure adapters).
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let kind = match status {
            404 => ErrorKind::NotFound,
            409 | 412 => ErrorKind::Conflict,
            408 | 429 | 500..=599 => ErrorKind::Transient,
            // Authorization heals more often than not: a rotated key or SAS being redeployed, a
            // role assignment still propagating. Retried with backoff (and marked for the
            // pending sweep), never taken for "unreadable".
            401 | 403 => ErrorKind::Transient,
            _ => ErrorKind::Permanent,
        };
        Self::new(kind, message)
    }

    pub fn commit_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::CommitFailed, message)
    }

    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

/// The message and its cause, once: the kind is for the code that decides, not for readers,
/// and the cause is part of the text (log lines show only `Display`), so it is not also
/// returned by `Error::source`, which would make error chains (`{:#}`) print it twice.
impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

pub type ServiceResult<T> = Result<T, ServiceError>;
