//! Account SAS for Azurite: `azure_storage_blob` 1.x has no shared-key signing, so tests sign a
//! SAS with Azurite's well-known `devstoreaccount1` key and append it to the container URL.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const VERSION: &str = "2021-08-06";
/// Far enough ahead that no test run outlives it; fixed so the signature is reproducible.
const EXPIRY: &str = "2099-01-01T00:00:00Z";

/// An account SAS query string for the Blob service (all resource types, all permissions).
pub fn account_sas() -> String {
    let (permissions, services, resource_types) = ("rwdlacup", "b", "sco");
    // Account SAS string-to-sign for versions 2020-12-06 and later (empty start, IP, protocol
    // and encryption scope), one field per line.
    let string_to_sign =
        format!("{ACCOUNT}\n{permissions}\n{services}\n{resource_types}\n\n{EXPIRY}\n\n\n{VERSION}\n\n");
    let key = STANDARD.decode(KEY).expect("well-known key is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length works");
    mac.update(string_to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    format!(
        "sv={VERSION}&ss={services}&srt={resource_types}&sp={permissions}&se={}&sig={}",
        encode(EXPIRY),
        encode(&signature)
    )
}

/// Percent-encodes everything but unreserved characters.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
