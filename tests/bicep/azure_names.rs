//! Azure's naming rules for the resource names the example deployment parameters set.

/// Azure naming rules for the resource names the example sets (None = valid).
pub fn name_problem(param: &str, value: &str) -> Option<String> {
    let len = value.chars().count();
    let all = |f: fn(char) -> bool| value.chars().all(f);
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let first_alpha = value.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let last_alnum = value.chars().last().is_some_and(alnum);
    let ok = match param {
        // Storage: 3-24 lower-case letters and digits.
        "stateStorageAccountName" | "flowLogStorageAccountName" => {
            (3..=24).contains(&len) && all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        }
        // Event Hubs namespace: 6-50, letters/digits/hyphens, starts with a letter, ends with a
        // letter or digit, and must not end with -sb or -mgmt.
        "eventHubsNamespaceName" => {
            (6..=50).contains(&len)
                && all(|c| c.is_ascii_alphanumeric() || c == '-')
                && first_alpha
                && last_alnum
                && !value.ends_with("-sb")
                && !value.ends_with("-mgmt")
        }
        // Event hub: 1-256, letters/digits/periods/hyphens/underscores, alphanumeric ends.
        "inputHubName" | "outputHubName" => {
            (1..=256).contains(&len)
                && all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
                && value.chars().next().is_some_and(alnum)
                && last_alnum
        }
        // Data Explorer cluster: 4-22 lower-case letters and digits, starting with a letter.
        "adxClusterName" => {
            (4..=22).contains(&len) && all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) && first_alpha
        }
        "adxDatabaseName" => (1..=260).contains(&len) && all(|c| c.is_ascii_alphanumeric() || " .-_".contains(c)),
        // User-assigned identity: 3-128, letters/digits/hyphens/underscores, alphanumeric start.
        "identityName" => {
            (3..=128).contains(&len)
                && all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
                && value.chars().next().is_some_and(alnum)
        }
        "systemTopicName" => (3..=128).contains(&len) && all(|c| c.is_ascii_alphanumeric() || c == '-'),
        // Kubernetes names used in the federated credential subject: DNS labels.
        "kubernetesNamespace" | "kubernetesServiceAccount" | "kedaNamespace" | "kedaServiceAccount" => {
            (1..=63).contains(&len)
                && all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && value.chars().next().is_some_and(alnum)
                && last_alnum
        }
        "aksOidcIssuerUrl" => value.starts_with("https://") && value.ends_with('/'),
        _ => true,
    };
    (!ok).then(|| format!("{param} = {value:?} breaks Azure's naming rules"))
}
