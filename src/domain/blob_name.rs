//! The identity of one flow-log blob, shared by every seam and by row ids.
use std::fmt;
use std::sync::Arc;

/// A blob's logical name: `account/container/path` for Azure, the path relative to the watched
/// directory for local files. Row ids and offset keys derive from it, so it must be the same
/// string every time the same blob is seen, whichever event or listing named it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobName(Arc<str>);

impl BlobName {
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        BlobName(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for BlobName {
    fn from(s: &str) -> Self {
        BlobName::new(s)
    }
}
