//! The shell blocks of README.md and docs/*.md run as written, against the local stack, so a
//! document that stops working fails the suite. Which blocks run, the substitutions made and
//! the checks beyond exit status: tests/README.md, "The docs test".

#[path = "docs_blocks/markdown.rs"]
mod markdown;

use std::collections::HashSet;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use markdown::{Block, blocks, named_paths, substitute};

/// Longest a block may run: the local-stack walk-through takes well under a minute.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn flowlog() -> &'static str {
    env!("CARGO_BIN_EXE_flowlog")
}

/// The emulator binary beside the test's flowlog: the workspace test build makes it (for the
/// emulator's own binary test); built here only when missing or older than its sources.
fn emulator() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = Path::new(flowlog()).with_file_name("eventhubs-emulator");
        let crate_dir = repo().join("tests/eventhubs-emulator");
        let newest = [crate_dir.join("src"), crate_dir.join("Cargo.toml"), repo().join("Cargo.lock")]
            .iter()
            .map(|p| newest_mtime(p))
            .max()
            .unwrap();
        if fs::metadata(&bin).and_then(|m| m.modified()).map_or(true, |built| built < newest) {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-q", "-p", "eventhubs-emulator"])
                .current_dir(repo())
                .status()
                .expect("running cargo build -p eventhubs-emulator");
            assert!(status.success(), "cargo build -p eventhubs-emulator failed");
        }
        bin
    })
}

fn newest_mtime(path: &Path) -> SystemTime {
    let own = fs::metadata(path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
    match fs::read_dir(path) {
        Ok(entries) => entries.flatten().map(|e| newest_mtime(&e.path())).fold(own, SystemTime::max),
        Err(_) => own,
    }
}

/// A working directory that looks like the repository: a link to each top-level entry, but a
/// `target/` of its own and none of what the documents create (`flowlogs/`, `.flowlog/`, rows).
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let skip = ["target", ".git", ".flowlog", "flowlogs", "rows.ndjson"];
    for entry in fs::read_dir(repo()).unwrap().flatten() {
        let name = entry.file_name();
        if !skip.iter().any(|s| name == *s) {
            std::os::unix::fs::symlink(entry.path(), dir.path().join(&name)).unwrap();
        }
    }
    fs::create_dir(dir.path().join("target")).unwrap();
    dir
}

struct Outcome {
    stdout: String,
    stderr: String,
    /// The stack's PIDs as the block left them: daemon, emulator, Azurite (empty when unset).
    pids: Vec<String>,
}

/// Runs one block with bash (`-e -o pipefail`) in `dir`, in a process group of its own, and
/// checks that it exits 0 and leaves nothing running.
fn run(block: &Block, dir: &Path) -> Outcome {
    let where_ = format!("{}:{}", block.file, block.line);
    let body = substitute(&block.text, flowlog()).unwrap_or_else(|e| panic!("{where_}: {e}"));
    let n = block.line;
    let [script, pids, out, err] =
        [".sh", ".pids", ".out", ".err"].map(|ext| dir.join(format!(".docs-block-{n}{ext}")));
    fs::write(
        &script,
        format!(
            "set -eo pipefail\ntrap 'echo \"${{STACK_DAEMON_PID:-}} ${{EMULATOR_PID:-}} ${{AZURITE_PID:-}}\" > {}' EXIT\n{body}",
            pids.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(&script).current_dir(dir).stdin(Stdio::null());
    cmd.stdout(fs::File::create(&out).unwrap()).stderr(fs::File::create(&err).unwrap());
    for (key, _) in std::env::vars() {
        if ["FLOWLOG_", "STACK_", "AZURITE_", "EMULATOR_"].iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    cmd.env("STACK_DIR", dir.join("target/local-stack"))
        .env("AZURITE_LOG", dir.join("target/azurite.log"))
        .env("STACK_FLOWLOG", flowlog());
    if block.text.contains("stack_start") {
        cmd.env("STACK_EMULATOR", emulator());
    }
    cmd.process_group(0);
    let mut child = cmd.spawn().expect("running bash");
    let group = child.id() as i32;
    let deadline = Instant::now() + BLOCK_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
    let outcome = Outcome {
        stdout: read(&out),
        stderr: read(&err),
        pids: read(&pids).split_whitespace().map(String::from).collect(),
    };
    let left = group_alive_after(group, Duration::from_secs(5));
    if status.is_none() || left {
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = child.wait();
    }
    let report = format!("--- block:\n{body}\n--- stdout:\n{}\n--- stderr:\n{}", outcome.stdout, outcome.stderr);
    let status = status.unwrap_or_else(|| panic!("{where_}: still running after {BLOCK_TIMEOUT:?}\n{report}"));
    assert!(status.success(), "{where_}: the block failed ({status})\n{report}");
    assert!(!left, "{where_}: processes it started are still running (PIDs {:?})\n{report}", outcome.pids);
    outcome
}

/// Whether any process of the group is still there after `grace` (orphans are reaped by init).
fn group_alive_after(group: i32, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    loop {
        if unsafe { libc::kill(-group, 0) } != 0 {
            return false;
        }
        if Instant::now() > deadline {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs every runnable block of `file` in order in one scratch directory, checks what the
/// blocks claim where that is cheap, and returns how many blocks of each claim were seen.
fn run_file(file: &str) -> HashSet<&'static str> {
    let text = fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    let dir = scratch();
    let mut claims = HashSet::new();
    for block in blocks(file, &text).unwrap_or_else(|e| panic!("{e}")) {
        if !block.runs {
            continue;
        }
        let outcome = run(&block, dir.path());
        let where_ = format!("{file}:{}", block.line);
        if block.text.contains("--watch samples/flowlogs") {
            claims.insert("samples");
            let rows: Vec<&str> = outcome.stdout.lines().collect();
            assert_eq!(rows.len(), 17, "{where_}: the shipped samples make 17 rows:\n{}", outcome.stdout);
            assert!(
                rows.iter().all(|r| serde_json::from_str::<serde_json::Value>(r).is_ok()),
                "{where_}: rows are JSON"
            );
        }
        if block.text.contains("--out rows.ndjson") {
            claims.insert("local");
            check_rows_file(&where_, &dir.path().join("rows.ndjson"), &outcome.stderr);
        }
        if block.text.contains("stack_start") {
            claims.insert("stack");
            check_stack(&where_, dir.path(), &outcome);
        }
    }
    claims
}

/// Every tuple the simulator reported is in the rows file, once.
fn check_rows_file(where_: &str, rows: &Path, stderr: &str) {
    let tuples: u64 = stderr
        .lines()
        .filter(|l| l.starts_with("simulated "))
        .filter_map(|l| l.split(", ").find_map(|part| part.strip_suffix(" tuples")))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(tuples > 0, "{where_}: no `simulated ... tuples` line on stderr:\n{stderr}");
    let text = fs::read_to_string(rows).unwrap_or_else(|e| panic!("{where_}: {}: {e}", rows.display()));
    let ids: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_owned())
        .collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{where_}: a row was written twice");
    assert_eq!(ids.len() as u64, tuples, "{where_}: rows written against tuples simulated");
}

/// The walk-through started a daemon, rows reached the output hub (the emulator's counters,
/// printed as its last log line when it stops), and the stack and daemon are gone.
fn check_stack(where_: &str, dir: &Path, outcome: &Outcome) {
    assert_eq!(outcome.pids.len(), 3, "{where_}: the daemon, emulator and Azurite PIDs: {:?}", outcome.pids);
    for pid in &outcome.pids {
        let alive = unsafe { libc::kill(pid.parse().unwrap(), 0) } == 0;
        assert!(!alive, "{where_}: process {pid} is still running after stack_stop");
    }
    let log = fs::read_to_string(dir.join("target/local-stack/emulator.log")).unwrap();
    let last = log.lines().last().unwrap_or_default();
    let counters: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{where_}: the emulator did not print its counters on stop ({e}):\n{log}"));
    let events = |hub: &str| -> u64 {
        let parts = counters["hubs"][hub]["partitions"].as_object().cloned().unwrap_or_default();
        parts.values().map(|p| p["events_received"].as_u64().unwrap_or(0)).sum()
    };
    assert!(events("flowlog-input") > 0, "{where_}: no BlobCreated events published: {last}");
    assert!(events("flowlog-rows") > 0, "{where_}: no rows reached the output hub: {last}");
}

#[test]
fn the_readme_blocks_work_as_written() {
    let claims = run_file("README.md");
    for claim in ["samples", "stack"] {
        assert!(claims.contains(claim), "README.md: no runnable block for the {claim} check (tests/README.md)");
    }
}

#[test]
fn the_docs_blocks_work_as_written() {
    let mut claims = HashSet::new();
    let mut files: Vec<PathBuf> = fs::read_dir(repo().join("docs")).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
        claims.extend(run_file(&name));
    }
    assert!(claims.contains("local"), "docs: no runnable local-mode walk-through (`--out rows.ndjson`)");
}

#[test]
fn the_paths_the_docs_name_exist() {
    let mut files = vec![repo().join("README.md"), repo().join("tests/README.md")];
    files.extend(fs::read_dir(repo().join("docs")).unwrap().flatten().map(|e| e.path()));
    let mut missing = Vec::new();
    for file in files.iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = fs::read_to_string(file).unwrap();
        for path in named_paths(&text) {
            if !repo().join(path).exists() {
                missing.push(format!("{}: {path}", file.strip_prefix(repo()).unwrap().display()));
            }
        }
    }
    assert!(missing.is_empty(), "documents name paths that do not exist:\n{}", missing.join("\n"));
}
