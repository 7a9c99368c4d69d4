//! The most likely fix for a failed check, from the failure's class and what the dependency is:
//! which setting to look at, which secret was rejected, which built-in role is missing where.
use crate::pipeline::probe::FailureClass;

/// How the dependency authenticates, for the credential advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// An account key from `FLOWLOG_<SECTION>_ACCOUNT_KEY` or `account_key_file`.
    AccountKey(String),
    /// A SAS from `FLOWLOG_<SECTION>_SAS` or `sas_file`.
    Sas(String),
    /// A fixed bearer token from `FLOWLOG_<SECTION>_TOKEN` or `token_file`.
    Token(String),
    /// Entra ID (`auth.credential`).
    Entra,
}

impl Secret {
    /// The secret configured for `section`.
    pub fn of(section: &str, key: bool, sas: bool, token: bool) -> Self {
        let up = section.to_ascii_uppercase();
        if key {
            Secret::AccountKey(format!("FLOWLOG_{up}_ACCOUNT_KEY (or {section}.account_key_file)"))
        } else if sas {
            Secret::Sas(format!("FLOWLOG_{up}_SAS (or {section}.sas_file)"))
        } else if token {
            Secret::Token(format!("FLOWLOG_{up}_TOKEN (or {section}.token_file)"))
        } else {
            Secret::Entra
        }
    }
}

/// What a dependency is, for advice.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The setting that names it.
    pub setting: String,
    /// The setting that holds its address (`offsets.account_url`), named when it cannot be
    /// reached.
    pub address: String,
    pub endpoint: String,
    pub secret: Secret,
    /// The built-in role the daemon's identity needs (`Storage Table Data Contributor`), and
    /// where (`storage account x`).
    pub role: String,
    pub scope: String,
    /// What to do when it does not exist.
    pub when_missing: String,
}

/// The setting to name for a failure of `class`: the address's when it could not be reached.
pub fn setting_for(dep: &Dependency, class: FailureClass) -> &str {
    match class {
        FailureClass::Dns | FailureClass::Refused | FailureClass::Tls | FailureClass::Timeout => &dep.address,
        _ => &dep.setting,
    }
}

/// The most likely fix for `class` on `dep`; `timeout` is the check's limit in seconds.
pub fn fix(dep: &Dependency, class: FailureClass, timeout: u64) -> String {
    let (setting, endpoint, address) = (&dep.setting, &dep.endpoint, &dep.address);
    match class {
        FailureClass::Dns => format!(
            "the host in {address} does not resolve: check it for a typo (ACCOUNT.blob.core.windows.net, NAMESPACE.servicebus.windows.net), or this host's DNS (private endpoints need their private DNS zone)"
        ),
        FailureClass::Refused => format!(
            "nothing accepts connections at {endpoint}: check the host and port in {address}; for the local stack, start Azurite and the Event Hubs emulator"
        ),
        FailureClass::Tls => format!(
            "the TLS handshake with {endpoint} failed: check https:// or amqps:// against the port in {address}, and that no proxy intercepts TLS"
        ),
        FailureClass::Timeout => format!(
            "no answer from {endpoint} within {timeout} s: a firewall, network security group or private-endpoint setting drops the traffic, or {address} names the wrong address (Storage uses port 443, Event Hubs 5671 or 443)"
        ),
        FailureClass::Credential => match &dep.secret {
            Secret::AccountKey(var) => {
                format!("the account key in {var} was rejected: copy key1 or key2 of the account again (az storage account keys list)")
            }
            Secret::Sas(var) => format!(
                "the SAS in {var} was rejected: it may have expired, or be signed for another account or with a revoked key"
            ),
            Secret::Token(var) => format!("the token in {var} was rejected: obtain a new one"),
            Secret::Entra => "no Entra ID token was accepted: see the credential check (auth.credential), and that the token's tenant is the resource's".to_string(),
        },
        FailureClass::Forbidden => match &dep.secret {
            Secret::Sas(var) => format!("the SAS in {var} lacks a permission this needs (read, list, create, write, delete as fits)"),
            _ => format!(
                "the identity flowlog runs as lacks the role \"{}\" on {}: assign it (role assignments take a few minutes to apply)",
                dep.role, dep.scope
            ),
        },
        FailureClass::NotFound => dep.when_missing.clone(),
        FailureClass::Unavailable => {
            format!("the service at {endpoint} is busy or failing: try again; if it persists, check the Azure status page")
        }
        FailureClass::Other => format!("see the message; check {setting}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forbidden_storage_call_names_the_role_and_a_rejected_key_names_the_variable() {
        let dep = Dependency {
            setting: "offsets.table".into(),
            address: "offsets.account_url".into(),
            endpoint: "https://a.table.core.windows.net".into(),
            secret: Secret::Entra,
            role: "Storage Table Data Contributor".into(),
            scope: "storage account a".into(),
            when_missing: "create it".into(),
        };
        let f = fix(&dep, FailureClass::Forbidden, 10);
        assert!(f.contains("\"Storage Table Data Contributor\" on storage account a"), "{f}");
        let keyed = Dependency { secret: Secret::of("offsets", true, false, false), ..dep };
        let f = fix(&keyed, FailureClass::Credential, 10);
        assert!(f.contains("FLOWLOG_OFFSETS_ACCOUNT_KEY"), "{f}");
        assert_eq!(fix(&keyed, FailureClass::NotFound, 10), "create it");
        assert!(fix(&keyed, FailureClass::Refused, 10).contains("port in offsets.account_url"));
        assert_eq!(setting_for(&keyed, FailureClass::Timeout), "offsets.account_url");
        assert_eq!(setting_for(&keyed, FailureClass::NotFound), "offsets.table");
    }
}
