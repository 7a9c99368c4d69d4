//! The allow-list of blob sources (`sources.allowed`): which account endpoint + container an
//! untrusted event may name, and how a blob URL maps to the logical `account/container/path`.
//!
//! Entries are `https://ACCOUNT.blob.core.windows.net/CONTAINER` (host-style) or the emulator's
//! path-style `http://127.0.0.1:PORT/ACCOUNT/CONTAINER`. A blob URL matches an entry when its
//! scheme, host and port are the entry's and its path starts with the entry's segments. The blob
//! path is percent-decoded: `azure_storage_blob`'s `blob_client(name)` re-encodes the raw name,
//! so the decoded form is the one that reads back the same blob.
use azure_core::http::Url;

use super::AccountEndpoint;
use crate::domain::blob_name::BlobName;
use crate::domain::format::error::bounded_quote as quote;
use crate::pipeline::error::{ServiceError, ServiceResult};

#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowedSource {
    /// `scheme://host:port`, lowercase, default ports omitted.
    origin: String,
    /// Account segment of a path-style endpoint (`None` for host-style, where the host names it).
    path_account: Option<String>,
    account: String,
    container: String,
}

/// The configured allow-list, parsed once at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedSources {
    entries: Vec<AllowedSource>,
}

impl AllowedSources {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> ServiceResult<Self> {
        let mut parsed = Vec::new();
        for entry in entries {
            let entry = entry.as_ref();
            let bad = |why: &str| ServiceError::permanent(format!("sources.allowed entry {entry:?}: {why}"));
            let url = Url::parse(entry.trim()).map_err(|e| bad(&e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
                return Err(bad("expected an http(s) URL without query string"));
            }
            let segments = segments(&url);
            let host = url.host_str().ok_or_else(|| bad("no host"))?;
            let (path_account, account, container) = match segments.as_slice() {
                [container] => (None, host.split('.').next().unwrap_or_default().to_string(), container.clone()),
                [account, container] => (Some(account.clone()), account.clone(), container.clone()),
                _ => return Err(bad("expected ACCOUNT_ENDPOINT/CONTAINER")),
            };
            parsed.push(AllowedSource { origin: origin(&url), path_account, account, container });
        }
        Ok(AllowedSources { entries: parsed })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The allowed containers grouped by account endpoint, for the blob store's own allow-list
    /// (`AzureBlobAccount`), so that events and reads are limited by the same setting.
    pub fn accounts(&self) -> ServiceResult<Vec<(AccountEndpoint, Vec<String>)>> {
        let mut accounts: Vec<(AccountEndpoint, Vec<String>)> = Vec::new();
        for e in &self.entries {
            let endpoint = match &e.path_account {
                Some(account) => AccountEndpoint::parse(&format!("{}/{account}", e.origin))?,
                None => AccountEndpoint::parse(&e.origin)?,
            };
            match accounts.iter_mut().find(|(known, _)| *known == endpoint) {
                Some((_, containers)) if containers.contains(&e.container) => {}
                Some((_, containers)) => containers.push(e.container.clone()),
                None => accounts.push((endpoint, vec![e.container.clone()])),
            }
        }
        Ok(accounts)
    }

    /// The logical name of the blob at `url`, or why it is refused.
    pub fn blob_from_url(&self, url: &str) -> Result<BlobName, String> {
        let parsed = Url::parse(url).map_err(|e| format!("blob url {} is not a URL: {e}", quote(url)))?;
        let origin = origin(&parsed);
        let raw: Vec<&str> = parsed.path_segments().map(|s| s.collect()).unwrap_or_default();
        for entry in self.entries.iter().filter(|e| e.origin == origin) {
            let skip = usize::from(entry.path_account.is_some());
            if let Some(account) = &entry.path_account
                && raw.first().map(|s| percent_decode(s)) != Some(Ok(account.clone()))
            {
                continue;
            }
            if raw.get(skip).map(|s| percent_decode(s)) != Some(Ok(entry.container.clone())) {
                continue;
            }
            let rest = raw.get(skip + 1..).unwrap_or_default();
            let path = rest.iter().map(|s| percent_decode(s)).collect::<Result<Vec<_>, _>>()?.join("/");
            return blob_name(&entry.account, &entry.container, &path);
        }
        Err(format!("blob url {} is outside the allowed sources (sources.allowed)", quote(url)))
    }

    /// The logical name of `path` in `container` of `account`, when that pair is allowed (for
    /// events that name the blob only by subject and storage-account resource id).
    pub fn blob_from_parts(&self, account: &str, container: &str, path: &str) -> Result<BlobName, String> {
        if self.entries.iter().any(|e| e.account == account && e.container == container) {
            blob_name(account, container, path)
        } else {
            Err(format!(
                "account {} container {} is outside the allowed sources (sources.allowed)",
                quote(account),
                quote(container)
            ))
        }
    }
}

fn blob_name(account: &str, container: &str, path: &str) -> Result<BlobName, String> {
    if path.is_empty() || path.ends_with('/') {
        return Err(format!("blob path {} in {account}/{container} is empty or a directory", quote(path)));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("blob path {} contains control characters", quote(path)));
    }
    Ok(BlobName::new(format!("{account}/{container}/{path}")))
}

fn segments(url: &Url) -> Vec<String> {
    url.path_segments().map(|s| s.filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default()
}

fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8. `+` stays `+` (paths are not form data).
pub fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let value = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(value) = value else { return Err(format!("bad percent escape in {}", quote(s))) };
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent-decoded {} is not UTF-8", quote(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> AllowedSources {
        AllowedSources::parse(&[
            "https://flowlogs01.blob.core.windows.net/insights-logs-flowlogflowevent",
            "http://127.0.0.1:10000/devstoreaccount1/c1x/",
        ])
        .unwrap()
    }

    #[test]
    fn host_and_path_style_urls_map_to_logical_names() {
        let a = allowed();
        let name = a
            .blob_from_url(
                "https://FlowLogs01.blob.core.windows.net/insights-logs-flowlogflowevent/a%3Db/x%20y/PT1H.json",
            )
            .unwrap();
        assert_eq!(name.as_str(), "flowlogs01/insights-logs-flowlogflowevent/a=b/x y/PT1H.json");
        let name = a.blob_from_url("http://127.0.0.1:10000/devstoreaccount1/c1x/d/PT1H.json").unwrap();
        assert_eq!(name.as_str(), "devstoreaccount1/c1x/d/PT1H.json");
        assert!(a.blob_from_parts("flowlogs01", "insights-logs-flowlogflowevent", "p/PT1H.json").is_ok());
    }

    #[test]
    fn accounts_group_containers_by_endpoint() {
        let a = AllowedSources::parse(&[
            "https://flowlogs01.blob.core.windows.net/c1x",
            "https://flowlogs01.blob.core.windows.net/c2x",
            "http://127.0.0.1:10000/devstoreaccount1/c1x",
        ])
        .unwrap();
        let accounts = a.accounts().unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(
            (accounts[0].0.account(), accounts[0].1.as_slice()),
            ("flowlogs01", &["c1x".into(), "c2x".into()][..])
        );
        assert_eq!(accounts[1].0.to_string(), "http://127.0.0.1:10000/devstoreaccount1");
    }

    #[test]
    fn foreign_accounts_containers_ports_and_schemes_are_refused() {
        let a = allowed();
        for url in [
            "https://evil01.blob.core.windows.net/insights-logs-flowlogflowevent/PT1H.json",
            "https://flowlogs01.blob.core.windows.net/other/PT1H.json",
            "http://flowlogs01.blob.core.windows.net/insights-logs-flowlogflowevent/PT1H.json",
            "http://127.0.0.1:10001/devstoreaccount1/c1x/PT1H.json",
            "http://127.0.0.1:10000/otheraccount/c1x/PT1H.json",
            "https://flowlogs01.blob.core.windows.net/insights-logs-flowlogflowevent/",
            "not a url",
        ] {
            assert!(a.blob_from_url(url).is_err(), "{url} must be refused");
        }
        assert!(a.blob_from_parts("evil01", "c1x", "p").is_err());
        assert!(
            a.blob_from_url("https://flowlogs01.blob.core.windows.net/insights-logs-flowlogflowevent/%ZZ").is_err()
        );
        assert!(AllowedSources::parse(&["https://a.blob.core.windows.net"]).is_err());
        assert!(AllowedSources::parse(&["https://a.blob.core.windows.net/c?sig=x"]).is_err());
    }
}
