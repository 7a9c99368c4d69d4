//! Checks that need no network: enrichment files (both modes), and local mode's watched
//! directory, state directory and output file.
use std::path::Path;

use super::{Check, Outcome};
use crate::app::config::{EnrichConfig, LocalConfig, Output};
use crate::pipeline::probe::FailureClass;

/// The enrichment files load and parse (what the daemon does first).
pub fn enrichment(cfg: &EnrichConfig) -> Check {
    let files: Vec<String> = cfg.files().map(|p| p.display().to_string()).collect();
    let outcome = match crate::app::enrich::load(cfg) {
        Ok(_) if files.is_empty() => Outcome::Pass("no enrichment files configured".into()),
        Ok(_) => Outcome::Pass(format!("{} file(s) loaded", files.len())),
        Err(e) => Outcome::Fail {
            class: if format!("{e:#}").contains("No such file") { FailureClass::NotFound } else { FailureClass::Other },
            cause: format!("{e:#}"),
            fix: "fix the path in [enrich], or download the database again (a truncated download does not parse)"
                .into(),
        },
    };
    Check::new("enrichment", files.join(", "), "enrich", outcome)
}

pub async fn checks(l: &LocalConfig) -> Vec<Check> {
    let mut checks = vec![watch(&l.watch), writable("state directory", &l.state, "local.state")];
    if let Output::File(path) = &l.out {
        checks.push(output(path));
    }
    checks
}

fn fail(class: FailureClass, cause: String, fix: &str) -> Outcome {
    Outcome::Fail { class, cause, fix: fix.to_string() }
}

fn watch(dir: &Path) -> Check {
    let outcome = match std::fs::read_dir(dir) {
        Ok(entries) => Outcome::Pass(format!("readable, {} entries at the top", entries.count())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail(
            FailureClass::NotFound,
            format!("{} does not exist", dir.display()),
            "create it, or pass --watch DIR (the directory tree that holds PT1H.json flow-log blobs)",
        ),
        Err(e) => fail(class_of(&e), format!("{}: {e}", dir.display()), "make it a directory this user can read"),
    };
    Check::new("watched directory", dir.display().to_string(), "local.watch", outcome)
}

/// The directory exists (or can be created) and a scratch file can be written and removed.
fn writable(name: &str, dir: &Path, setting: &str) -> Check {
    let scratch = dir.join(format!(".flowlog-check-{}", std::process::id()));
    let probe = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&scratch, b"check"))
        .and_then(|_| std::fs::remove_file(&scratch));
    let outcome = match probe {
        Ok(()) => Outcome::Pass("writable".into()),
        Err(e) => fail(
            class_of(&e),
            format!("{}: {e}", dir.display()),
            "choose a directory this user can write (--state DIR)",
        ),
    };
    Check::new(name, dir.display().to_string(), setting, outcome)
}

fn output(path: &Path) -> Check {
    let opened = std::fs::OpenOptions::new().create(true).append(true).open(path);
    let outcome = match opened {
        Ok(_) => Outcome::Pass("writable (appended to)".into()),
        Err(e) => fail(
            class_of(&e),
            format!("{}: {e}", path.display()),
            "choose a path this user can write (--out PATH), or `-` for stdout",
        ),
    };
    Check::new("output file", path.display().to_string(), "local.out", outcome)
}

fn class_of(e: &std::io::Error) -> FailureClass {
    match e.kind() {
        std::io::ErrorKind::NotFound => FailureClass::NotFound,
        std::io::ErrorKind::PermissionDenied => FailureClass::Forbidden,
        _ => FailureClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_watch_directory_fails_and_a_fresh_state_directory_passes() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LocalConfig {
            watch: dir.path().join("absent"),
            state: dir.path().join("state"),
            out: Output::File(dir.path().join("rows.ndjson")),
            poll: false,
            poll_interval: std::time::Duration::from_secs(1),
        };
        let checks = checks(&cfg).await;
        assert_eq!(checks[0].failure(), Some(FailureClass::NotFound));
        assert!(checks[1].passed() && checks[2].passed(), "{checks:?}");
        assert!(std::fs::read_dir(dir.path().join("state")).unwrap().next().is_none(), "the scratch file is removed");
    }
}
