//! Building the raw document from its layers: the TOML file, then `FLOWLOG_*` variables.
use anyhow::{Context, bail};
use toml::{Table, Value};

use super::file::{RawConfig, SECRET_KEYS, SECTIONS};

/// Reads the file (if any), applies environment overrides, and checks every key.
pub fn load(
    file: Option<&std::path::Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<RawConfig> {
    let mut doc = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let doc: Table = toml::from_str(&text).map_err(|e| syntax_error(path, &text, &e))?;
            refuse_secrets(&doc, path)?;
            doc
        }
        None => Table::new(),
    };
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("FLOWLOG_") else { continue };
        let rest = rest.to_ascii_lowercase();
        // Longest name first, so `dead_letter` wins over a section named `dead`.
        let Some(section) =
            SECTIONS.iter().map(|s| s.name).filter(|s| rest.starts_with(&format!("{s}_"))).max_by_key(|s| s.len())
        else {
            let names: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
            bail!(
                "environment variable {name}: unknown section (expected FLOWLOG_<SECTION>_<KEY> with SECTION one of {names:?})"
            );
        };
        let key = &rest[section.len() + 1..];
        let entry = doc.entry(section.to_string()).or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(table) = entry else { bail!("configuration section [{section}] is not a table") };
        // Secrets and paths are strings whatever they look like: a key that happens to be all
        // digits must neither be rejected nor quoted back in a type error.
        let verbatim = SECRET_KEYS.contains(&key) || key.ends_with("_file");
        table.insert(key.to_string(), if verbatim { Value::String(raw) } else { env_value(&raw) });
    }
    RawConfig::deserialize(Value::Table(doc)).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
}

use serde::Deserialize;

/// Numbers, booleans and arrays are written as in TOML; anything else is a string.
/// A value that must stay a string despite looking like a number can be quoted: `'"123"'`.
fn env_value(raw: &str) -> Value {
    match toml::from_str::<Table>(&format!("v = {raw}")) {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Array(_) | Value::String(_)),
            ) => v,
            _ => Value::String(raw.to_string()),
        },
        Err(_) => Value::String(raw.to_string()),
    }
}

/// A TOML syntax error with its position, but without the offending line: that line may hold
/// a secret someone pasted into the file.
fn syntax_error(path: &std::path::Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let position = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!(" at line {line}, column {column}")
    });
    anyhow::anyhow!("parsing {}{}: {}", path.display(), position.unwrap_or_default(), e.message())
}

fn refuse_secrets(doc: &Table, path: &std::path::Path) -> anyhow::Result<()> {
    for (section, value) in doc {
        if let Value::Table(t) = value {
            for key in SECRET_KEYS {
                if t.contains_key(*key) {
                    bail!(
                        "{}: [{section}] {key} must not be written in the configuration file; set FLOWLOG_{}_{} or {key}_file",
                        path.display(),
                        section.to_ascii_uppercase(),
                        key.to_ascii_uppercase()
                    );
                }
            }
        }
    }
    Ok(())
}
