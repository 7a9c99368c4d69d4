//! Account SAS signing with a storage account key, and SAS tokens that never print their signature.
//!
//! `azure_storage_blob` 1.x has no Shared Key signing, so an account key (a user's key file, or
//! Azurite's well-known key in tests) is turned into a short-lived account SAS (service version
//! 2022-11-02, string-to-sign per "Create an account SAS", the 2020-12-06+ layout with the
//! encryption-scope line).
use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::pipeline::error::{ServiceError, ServiceResult};

/// The service version this signer produces; it selects the string-to-sign layout.
pub const SAS_VERSION: &str = "2022-11-02";

/// Azurite's account, and its well-known key (public, documented; only valid against the emulator).
pub const EMULATOR_ACCOUNT: &str = "devstoreaccount1";
pub const EMULATOR_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A storage account name and its decoded key. Debug never shows the key.
#[derive(Clone)]
pub struct AccountKey {
    account: String,
    key: Vec<u8>,
}

impl AccountKey {
    /// `key_base64` is the key as the portal shows it (base64); whitespace around it is ignored.
    pub fn new(account: impl Into<String>, key_base64: &str) -> ServiceResult<Self> {
        let account = account.into();
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_base64.trim())
            .map_err(|_| ServiceError::permanent(format!("account key for {account} is not valid base64")))?;
        Ok(AccountKey { account, key })
    }

    /// Azurite's `devstoreaccount1` with its well-known key.
    pub fn emulator() -> Self {
        // The constant is valid base64; decoding cannot fail, but stay panic-free anyway.
        let key = base64::engine::general_purpose::STANDARD.decode(EMULATOR_KEY).unwrap_or_default();
        AccountKey { account: EMULATOR_ACCOUNT.to_string(), key }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The key as base64, for the Table SDK's Shared Key credential.
    pub fn key_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.key)
    }

    /// HMAC-SHA256 of `data` with the key, base64-encoded: the `sig` of a SAS.
    pub fn sign(&self, data: &str) -> String {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(data.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKey").field("account", &self.account).field("key", &"<redacted>").finish()
    }
}

/// The fields of an account SAS (`ss`, `srt`, `sp`, `st`, `se`, `sip`, `spr`, `sv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSas {
    /// Services: `b` blob, `t` table, `q` queue, `f` file.
    pub services: String,
    /// Resource types: `s` service, `c` container/table, `o` object/entity.
    pub resource_types: String,
    /// Permissions in the documented order, e.g. `rl` to read and list, `racwdl` for tests.
    pub permissions: String,
    pub start: Option<OffsetDateTime>,
    pub expiry: OffsetDateTime,
    pub ip: Option<String>,
    /// `https` or `https,http` (Azurite speaks plain HTTP).
    pub protocol: Option<String>,
}

impl AccountSas {
    /// The exact string the account key signs (documented for version 2020-12-06 and later;
    /// the trailing empty line is the unused encryption scope).
    pub fn string_to_sign(&self, account: &str) -> String {
        let start = self.start.map(format_time).unwrap_or_default();
        format!(
            "{account}\n{}\n{}\n{}\n{start}\n{}\n{}\n{}\n{SAS_VERSION}\n\n",
            self.permissions,
            self.services,
            self.resource_types,
            format_time(self.expiry),
            self.ip.as_deref().unwrap_or(""),
            self.protocol.as_deref().unwrap_or(""),
        )
    }

    /// Signs the SAS with the account key.
    pub fn sign(&self, key: &AccountKey) -> SasToken {
        let sig = key.sign(&self.string_to_sign(key.account()));
        let mut pairs = vec![
            ("sv".to_string(), SAS_VERSION.to_string()),
            ("ss".to_string(), self.services.clone()),
            ("srt".to_string(), self.resource_types.clone()),
            ("sp".to_string(), self.permissions.clone()),
            ("se".to_string(), format_time(self.expiry)),
        ];
        if let Some(start) = self.start {
            pairs.push(("st".to_string(), format_time(start)));
        }
        if let Some(ip) = &self.ip {
            pairs.push(("sip".to_string(), ip.clone()));
        }
        if let Some(protocol) = &self.protocol {
            pairs.push(("spr".to_string(), protocol.clone()));
        }
        pairs.push(("sig".to_string(), sig));
        SasToken { pairs }
    }
}

/// SAS times are ISO 8601 UTC to the second, e.g. `2030-01-01T00:00:00Z`.
fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z")).unwrap_or_default()
}

/// A SAS token: query parameters appended to every request URL. Debug redacts `sig`.
#[derive(Clone, PartialEq, Eq)]
pub struct SasToken {
    pairs: Vec<(String, String)>,
}

impl SasToken {
    /// Parses a token as the portal or `az` prints it, with or without the leading `?`.
    pub fn parse(token: &str) -> ServiceResult<Self> {
        let token = token.trim().trim_start_matches('?');
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(token.as_bytes())
            .filter(|(k, _)| !k.is_empty())
            // A signature pasted without percent-encoding has its `+` decoded as a space; base64
            // has no spaces, so turning them back is safe.
            .map(|(k, v)| {
                let v = if k == "sig" { v.replace(' ', "+") } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        if !pairs.iter().any(|(k, v)| k == "sig" && !v.is_empty()) {
            return Err(ServiceError::permanent("SAS token has no sig parameter"));
        }
        Ok(SasToken { pairs })
    }

    /// The expiry (`se`) as written in the token, for operators' warnings.
    pub fn expiry(&self) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == "se").map(|(_, v)| v.as_str())
    }

    /// The query string (percent-encoded, no leading `?`). It contains the secret: never log it.
    pub fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.pairs).finish()
    }

    /// Sets the token's parameters on `url`, replacing any SAS parameters already there.
    pub fn apply(&self, url: &mut azure_core::http::Url) {
        let keep: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !self.pairs.iter().any(|(sk, _)| sk == k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut query = url.query_pairs_mut();
        query.clear();
        for (k, v) in keep.iter().chain(self.pairs.iter()) {
            query.append_pair(k, v);
        }
    }
}

impl fmt::Debug for SasToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasToken").field("se", &self.expiry()).field("sig", &"<redacted>").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> AccountSas {
        AccountSas {
            services: "b".into(),
            resource_types: "sco".into(),
            permissions: "rl".into(),
            start: Some(datetime!(2024-01-01 00:00:00 UTC)),
            expiry: datetime!(2030-01-01 00:00:00 UTC),
            ip: None,
            protocol: Some("https,http".into()),
        }
    }

    #[test]
    fn string_to_sign_follows_the_documented_layout() {
        assert_eq!(
            sample().string_to_sign(EMULATOR_ACCOUNT),
            "devstoreaccount1\nrl\nb\nsco\n2024-01-01T00:00:00Z\n2030-01-01T00:00:00Z\n\nhttps,http\n2022-11-02\n\n"
        );
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Computed with Python's hmac/hashlib over the string above and the emulator key.
        let token = sample().sign(&AccountKey::emulator());
        let query = token.query();
        assert!(query.contains("sig=PRBzS9v2hzRcAhry3pKow4SCBRSDSPYiu0BFQeDO5ng%3D"), "{query}");
        assert!(query.starts_with("sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2030-01-01T00%3A00%3A00Z"), "{query}");
        assert_eq!(SasToken::parse(&format!("?{query}")).ok(), Some(token));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let key = AccountKey::emulator();
        let token = sample().sign(&key);
        let shown = format!("{key:?} {token:?}");
        assert!(!shown.contains(EMULATOR_KEY) && !shown.contains("PRBzS9v2"), "{shown}");
        assert!(shown.contains("2030-01-01T00:00:00Z"));
    }

    #[test]
    fn apply_replaces_existing_sas_parameters_and_keeps_others() {
        let token = SasToken::parse("sv=2022-11-02&sig=abc%2B%2F%3D").unwrap();
        let mut url = azure_core::http::Url::parse("http://h/a?comp=list&sig=old").unwrap();
        token.apply(&mut url);
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
        let expected = [("comp", "list"), ("sv", "2022-11-02"), ("sig", "abc+/=")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_string(), v.to_string())));
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        assert!(SasToken::parse("sv=2022-11-02").is_err());
        let raw = SasToken::parse("?sv=2022-11-02&sig=a+b/c=").unwrap();
        assert_eq!(raw, SasToken::parse("sv=2022-11-02&sig=a%2Bb%2Fc%3D").unwrap());
        assert!(AccountKey::new("a", "not base64!").is_err());
        assert_eq!(AccountKey::new("a", &format!(" {EMULATOR_KEY}\n")).unwrap().key_base64(), EMULATOR_KEY);
    }
}
