//! Checks of single settings shared by every section, each failing with the setting's name, and
//! secrets taken from their value or their file (never from the TOML text itself).
use std::time::Duration;

use anyhow::bail;

use super::Secret;

/// Fails with the setting's name unless `min <= v <= max`.
pub(super) fn in_range(name: &str, v: u64, min: u64, max: u64) -> anyhow::Result<()> {
    if v < min || v > max {
        bail!("{name}: {v} is out of range ({min} to {max})");
    }
    Ok(())
}

pub(super) fn ordered(low_name: &str, low: Duration, high_name: &str, high: Duration) -> anyhow::Result<()> {
    if low > high {
        bail!("{low_name} ({low:?}) must not exceed {high_name} ({high:?})");
    }
    Ok(())
}

pub(super) fn required(section: &str, key: &str, v: &Option<String>) -> anyhow::Result<String> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => bail!(
            "{section}.{key} is required in Azure mode (set it in the file or FLOWLOG_{}_{})",
            section.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        ),
    }
}

pub(super) fn secret(value: &Option<Secret>, file: &Option<String>) -> anyhow::Result<Option<Secret>> {
    match (value, file) {
        (Some(v), _) => Ok(Some(v.clone())),
        (None, Some(path)) => Ok(Some(secret_from_file(path)?)),
        (None, None) => Ok(None),
    }
}

pub(super) fn https_url(name: &str, url: String) -> anyhow::Result<String> {
    // Plain http is allowed only for a local emulator (Azurite) on loopback.
    let local =
        url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") || url.starts_with("http://[::1]");
    if !url.starts_with("https://") && !local {
        bail!("{name}: {url:?} must be an https:// URL (http:// only for a local emulator on loopback)");
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Reads a secret from a file (a mounted Kubernetes secret, for instance).
fn secret_from_file(path: &str) -> anyhow::Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading secret file {path}: {e}"))?;
    Ok(Secret::new(text))
}
