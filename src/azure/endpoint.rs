//! Storage endpoint URLs: the account name they address, and container/blob URLs below them.
//!
//! Real endpoints are host-style (`https://ACCOUNT.blob.core.windows.net`), emulator ones are
//! path-style (`http://127.0.0.1:10000/devstoreaccount1`); the account comes from the first path
//! segment when there is one, else from the first label of the host.
use std::fmt;

use azure_core::http::Url;

use super::errors::redact;
use crate::pipeline::error::{ServiceError, ServiceResult};

/// A service endpoint (blob or table) of one storage account.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountEndpoint {
    account: String,
    url: Url,
}

impl AccountEndpoint {
    /// Parses an endpoint. Query strings are refused: credentials are configured separately, so
    /// that a SAS never ends up in a URL that is logged.
    pub fn parse(endpoint: &str) -> ServiceResult<Self> {
        let bad = |why: &str| ServiceError::permanent(format!("storage endpoint {}: {why}", redact(endpoint)));
        let mut url = Url::parse(endpoint.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(bad("expected an http(s) URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("remove the query string; configure a SAS token as a credential"));
        }
        let segments: Vec<String> =
            url.path_segments().map(|s| s.filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default();
        let account = match segments.as_slice() {
            [] => {
                let host = url.host_str().ok_or_else(|| bad("no host"))?;
                host.split('.').next().unwrap_or_default().to_string()
            }
            [account] => account.clone(),
            _ => return Err(bad("expected the account's endpoint, without container or blob path")),
        };
        if !is_account_name(&account) {
            return Err(bad("the account name must be 3-24 lowercase letters or digits"));
        }
        // One canonical form (no trailing slash) so that joined paths never get an empty segment.
        let path = segments.first().map(|a| format!("/{a}")).unwrap_or_default();
        url.set_path(&path);
        Ok(AccountEndpoint { account, url })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// URL of `container` in this account.
    pub fn container_url(&self, container: &str) -> ServiceResult<Url> {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .map_err(|_| ServiceError::permanent(format!("endpoint {self} cannot take a path")))?
            .pop_if_empty()
            .push(container);
        Ok(url)
    }
}

impl fmt::Display for AccountEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl fmt::Debug for AccountEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountEndpoint({})", self.url)
    }
}

/// Storage account names: 3-24 characters, lowercase letters and digits.
pub fn is_account_name(name: &str) -> bool {
    (3..=24).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Container names: 3-63 characters, lowercase letters, digits and single inner hyphens.
pub fn is_container_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Splits a logical blob name `account/container/path` into its three parts.
pub fn split_blob_name(name: &str) -> Option<(&str, &str, &str)> {
    let (account, rest) = name.split_once('/')?;
    let (container, path) = rest.split_once('/')?;
    (!account.is_empty() && !container.is_empty() && !path.is_empty()).then_some((account, container, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_from_host_or_first_segment() {
        let real = AccountEndpoint::parse("https://flowlogs01.blob.core.windows.net/").unwrap();
        assert_eq!(real.account(), "flowlogs01");
        assert_eq!(real.container_url("c1x").unwrap().as_str(), "https://flowlogs01.blob.core.windows.net/c1x");
        let emu = AccountEndpoint::parse("http://127.0.0.1:10000/devstoreaccount1/").unwrap();
        assert_eq!(emu.account(), "devstoreaccount1");
        assert_eq!(emu.container_url("c1x").unwrap().as_str(), "http://127.0.0.1:10000/devstoreaccount1/c1x");
    }

    #[test]
    fn refuses_queries_paths_and_bad_names() {
        let err = AccountEndpoint::parse("https://a1b.blob.core.windows.net/?sv=1&sig=SECRET").unwrap_err();
        assert!(!err.message.contains("SECRET"), "{}", err.message);
        assert!(AccountEndpoint::parse("https://a1b.blob.core.windows.net/c/d").is_err());
        // Hosts are case-insensitive (and lowercased by parsing); path-style names are not.
        assert!(AccountEndpoint::parse("http://127.0.0.1:1/UPPER").is_err());
        assert!(AccountEndpoint::parse("ftp://a1b.blob.core.windows.net").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(split_blob_name("a/c/x/y/PT1H.json"), Some(("a", "c", "x/y/PT1H.json")));
        assert_eq!(split_blob_name("a/c/"), None);
        assert_eq!(split_blob_name("a/c"), None);
        assert!(is_container_name("insights-logs-flowlogflowevent"));
        assert!(!is_container_name("a--b") && !is_container_name("Ab1") && !is_container_name("-ab"));
    }
}
