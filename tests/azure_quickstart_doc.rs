//! `docs/AZURE.md` turns the example Azure configuration into the reader's with one `sed`
//! command. Its substitutions, read from the page and applied to the example, must give a
//! configuration flowlog's own loader accepts, with the reader's names everywhere, no example
//! name left, and the Azure CLI credential.

use flowlog::app::config::{Config, CredentialKind, Mode, Overrides, load};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `-e 's/PATTERN/REPLACEMENT/FLAGS'` expressions of the page's `sed -i` command.
fn sed_expressions(doc: &str) -> Vec<(String, String)> {
    let start = doc.find("sed -i -e ").expect("docs/AZURE.md has a `sed -i -e` command");
    let command = &doc[start..doc[start..].find("flowlog.toml\n").map(|e| start + e).expect("sed edits flowlog.toml")];
    command
        .split("-e '")
        .skip(1)
        .map(|e| {
            let e = &e[..e.find('\'').expect("closing quote")];
            let parts: Vec<&str> = e.split('/').collect();
            assert!(parts.len() == 4 && parts[0] == "s", "not a plain s/// expression: {e}");
            (parts[1].to_string(), parts[2].to_string())
        })
        .collect()
}

/// Applies the expressions in order, line by line, as sed does (literal patterns, `^` anchors).
fn apply(text: &str, expressions: &[(String, String)]) -> String {
    text.lines()
        .map(|line| {
            expressions.iter().fold(line.to_string(), |line, (pattern, replacement)| match pattern.strip_prefix('^') {
                Some(p) if line.starts_with(p) => format!("{replacement}{}", &line[p.len()..]),
                Some(_) => line,
                None => line.replace(pattern.as_str(), replacement),
            })
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_quick_start_sed_gives_a_working_configuration_with_the_readers_names() {
    let doc = std::fs::read_to_string(repo().join("docs/AZURE.md")).unwrap();
    let example = std::fs::read_to_string(repo().join("deploy/config/azure.example.toml")).unwrap();
    let names = [
        ("<stateStorageAccountName>", "mystate"),
        ("<flowLogStorageAccountName>", "mylogs"),
        ("<eventHubsNamespaceName>", "my-hubs"),
    ];
    let expressions: Vec<(String, String)> = sed_expressions(&doc)
        .into_iter()
        .map(|(p, r)| (p, names.iter().fold(r, |r, (placeholder, name)| r.replace(placeholder, name))))
        .collect();
    assert_eq!(expressions.len(), 4, "{expressions:?}");
    let edited = apply(&example, &expressions);
    let settings: Vec<&str> = edited.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    assert!(!settings.iter().any(|l| l.contains("contoso")), "an example name is left:\n{}", settings.join("\n"));

    let dir = std::env::temp_dir().join(format!("flowlog-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("flowlog.toml");
    std::fs::write(&file, &edited).unwrap();
    let raw = load(Some(&file), Vec::new());
    std::fs::remove_dir_all(&dir).ok();
    let cfg = Config::from_raw(raw.expect("the edited file loads"), &Overrides::default()).expect("and validates");
    let Mode::Azure(az) = cfg.mode else { panic!("not Azure mode") };
    assert_eq!(az.credential, CredentialKind::AzureCli);
    assert_eq!(az.input.namespace, "my-hubs.servicebus.windows.net");
    assert_eq!(az.output_hub().expect("an output hub").namespace, "my-hubs.servicebus.windows.net");
    assert_eq!(az.checkpoints.account_url, "https://mystate.blob.core.windows.net");
    assert_eq!(az.dead_letter.account_url, "https://mystate.blob.core.windows.net");
    assert_eq!(az.offsets_account_url, "https://mystate.table.core.windows.net");
    assert!(!az.allowed_sources.is_empty());
    for source in &az.allowed_sources {
        assert!(source.starts_with("https://mylogs.blob.core.windows.net/insights-logs-"), "{source}");
    }
}

#[test]
fn substitutions_apply_in_order_like_sed() {
    // The order matters: the example flow-log account name is a prefix of the state account's.
    let e = |p: &str, r: &str| (p.to_string(), r.to_string());
    let text = "a = \"contosoflowlogstate\"\nb = \"contosoflowlogs\"\ncredential = \"auto\"\n# credential = \"auto\"";
    let right = [e("contosoflowlogstate", "S"), e("contosoflowlogs", "L"), e("^credential = \"auto\"", "X")];
    assert_eq!(apply(text, &right), "a = \"S\"\nb = \"L\"\nX\n# credential = \"auto\"");
    let wrong = [e("contosoflowlogs", "L"), e("contosoflowlogstate", "S")];
    assert_eq!(apply(text, &wrong).lines().next(), Some("a = \"Ltate\""));
}
