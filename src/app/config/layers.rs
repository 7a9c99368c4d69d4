//! Building the raw document from its layers: the TOML file, then `FLOWLOG_*` variables.
use anyhow::{Context, bail};
use toml::{Table, Value};

use super::file::{RawConfig, SECRET_KEYS, SECTIONS};

/// Reads the file (if any), applies environment overrides, and checks every key.
pub fn load(
    file: Option<&std::path::Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<RawConfig> {
    let text = match file {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let mut doc = match (file, &text) {
        (Some(path), Some(text)) => {
            let doc: Table = toml::from_str(text).map_err(|e| located(path, text, &e))?;
            refuse_secrets(&doc, path)?;
            doc
        }
        _ => Table::new(),
    };
    // Where each value set from the environment came from: `section.key` -> variable.
    let mut from_env: Vec<(String, String)> = Vec::new();
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
        from_env.push((format!("{section}.{key}"), name));
    }
    loop {
        let e = match RawConfig::deserialize(Value::Table(doc.clone())) {
            Ok(mut raw) => {
                raw.set = set_keys(&doc);
                return Ok(raw);
            }
            Err(e) => e,
        };
        let msg = e.to_string();
        let named = |path: &str| {
            let (section, key) = path.split_once('.').unwrap_or((path, ""));
            msg.contains(&format!("`{path}`"))
                || (msg.contains(&format!("unknown field `{key}`")) && msg.contains(&format!("in `{section}`")))
        };
        let Some((path, var)) = from_env.iter().find(|(path, _)| named(path)) else {
            // Not the environment's doing, so the file's: parsed on its own, its error has a
            // position (the merged document has none).
            if let (Some(path), Some(text)) = (file, &text)
                && let Err(e) = toml::from_str::<RawConfig>(text)
            {
                return Err(located(path, text, &e));
            }
            bail!("invalid configuration: {}", msg.trim_end());
        };
        // A value typed as a number or boolean where the setting wants a string (a path
        // `2026`, a hub `42`): the variable meant the text as written.
        let (section, key) = path.split_once('.').unwrap_or((path, ""));
        let slot = doc.get_mut(section).and_then(|s| s.as_table_mut()).and_then(|t| t.get_mut(key));
        match slot {
            Some(v @ (Value::Integer(_) | Value::Float(_) | Value::Boolean(_))) => *v = Value::String(v.to_string()),
            _ => {
                let what = msg.lines().next().unwrap_or_default();
                bail!("environment variable {var} (setting {path}): {what}");
            }
        }
    }
}

use serde::Deserialize;

/// `section.key` for every key of every section table in `doc`.
fn set_keys(doc: &Table) -> Vec<String> {
    let tables = doc.iter().filter_map(|(section, v)| Some((section, v.as_table()?)));
    tables.flat_map(|(section, t)| t.keys().map(move |key| format!("{section}.{key}"))).collect()
}

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

/// A TOML error (syntax, an unknown key, a wrong type) with its position, but without the
/// offending line: that line may hold a secret someone pasted into the file.
fn located(path: &std::path::Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
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
