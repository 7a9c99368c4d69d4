//! What to tell someone whose watched directory holds no flow-log blob: which files flowlog
//! reads, and what is there instead (a renamed download, a single file, an empty directory).
use std::path::{Path, PathBuf};

/// The only file name local mode reads, as Azure names every flow-log blob.
const FLOW_LOG_FILE: &str = "PT1H.json";

/// Entries looked at before giving up: a hint is not worth walking a huge tree twice.
const LOOK_AT_MOST: usize = 100_000;

/// `None` when a `PT1H.json` is there (or the tree is too large to tell quickly); otherwise
/// the warning, for a run that reads what is there now (`once`) or waits for more.
pub fn no_blobs(root: &Path, once: bool) -> Option<String> {
    let (others, example) = other_files(root)?;
    let lead = if once {
        format!("nothing to read: no file named {FLOW_LOG_FILE} under {}", root.display())
    } else {
        format!("no file named {FLOW_LOG_FILE} under {} yet; waiting for one", root.display())
    };
    let found = match example {
        None => "the directory tree holds no files".to_string(),
        Some(path) => format!(
            "{others} other file(s) are there, e.g. {}; to flatten one file of any name: flowlog flatten FILE",
            path.display()
        ),
    };
    Some(format!(
        "{lead}. flowlog reads flow-log blobs as Azure writes them: files named {FLOW_LOG_FILE} \
         (insights-logs-*/.../PT1H.json) holding JSON that starts {{\"records\":[. {found}"
    ))
}

/// Counts the files under `root` not named `PT1H.json`, with the first one seen; `None` as soon
/// as a `PT1H.json` (file or link) turns up.
fn other_files(root: &Path) -> Option<(u64, Option<PathBuf>)> {
    let (mut others, mut example, mut seen) = (0u64, None, 0usize);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        // Unreadable directories are reported by the walk that reads blobs; not here.
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > LOOK_AT_MOST || entry.file_name() == FLOW_LOG_FILE {
                return None;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => {
                    others += 1;
                    example.get_or_insert_with(|| entry.path());
                }
                _ => {}
            }
        }
    }
    Some((others, example))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_with_a_blob_needs_no_hint_and_one_without_names_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        assert!(no_blobs(dir.path(), true).unwrap().contains("holds no files"));
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/PT1H (1).json"), b"{}").unwrap();
        let hint = no_blobs(dir.path(), false).unwrap();
        assert!(hint.contains("waiting for one") && hint.contains("1 other file(s)"), "{hint}");
        assert!(hint.contains("PT1H (1).json") && hint.contains("{\"records\":["), "{hint}");
        std::fs::write(dir.path().join("a/PT1H.json"), b"").unwrap();
        assert_eq!(no_blobs(dir.path(), true), None);
    }
}
