//! Local mode on a full disk: the state directory, then the output
//! file, on a small tmpfs filled to the last byte. `run --once` must stop with a non-zero exit
//! while it cannot finish (not loop, not re-send), and once the space is freed a second run
//! delivers every row, each at most twice (one flush per blob in flight).
//!
//! Mounting a tmpfs needs root (or CAP_SYS_ADMIN), which the CI sandbox has; without it these
//! tests fail saying so rather than pass without testing anything.
mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::expected::{check_delivery, id_of, rows};

/// Small flushes: the engine flushes as often as its read slices allow.
const FLUSH_BYTES: usize = 4000;
const BLOBS: usize = 3;

/// How long a bounded run may take to give up on a full disk (its retries are shortened below).
const GIVE_UP: Duration = Duration::from_secs(60);

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size_kib: u32) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "flowlog-full-disk"])
            .arg(dir.path())
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs failed (these tests need root or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system to the last byte with a filler file and returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn flowlog() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowlog"));
    c.env("RUST_LOG", "warn")
        .env_remove("FLOWLOG_LOCAL_OUT")
        // Short retries: a bounded run should give up within seconds, not minutes.
        .env("FLOWLOG_ENGINE_RETRY_MIN_DELAY_MS", "10")
        .env("FLOWLOG_ENGINE_RETRY_MAX_DELAY_MS", "100")
        .env("FLOWLOG_ENGINE_RETRY_MAX_ATTEMPTS", "3")
        .env("FLOWLOG_ENGINE_FLUSH_BYTES", FLUSH_BYTES.to_string());
    c
}

fn simulate(out: &Path) {
    let blobs = BLOBS.to_string();
    // About 100 KB per blob: several 16 KiB read slices, so several flushes per blob.
    let args = ["--format", "mixed", "--blobs", &blobs, "--minutes", "30", "--tuples-per-minute", "40"];
    let status = flowlog().arg("simulate").arg("--out").arg(out).args(args).stderr(Stdio::null()).status().unwrap();
    assert!(status.success());
}

/// `run --once` over `logs`, waited for up to [`GIVE_UP`] (killed after that: a run that never
/// ends is the failure this file guards against). Returns its exit status and stderr.
fn run_once(logs: &Path, state: &Path, out: &Path) -> (ExitStatus, String) {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = flowlog()
        .args(["run", "--once", "--listen", "off", "--watch"])
        .arg(logs)
        .arg("--state")
        .arg(state)
        .arg("--out")
        .arg(out)
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, std::fs::read_to_string(stderr.path()).unwrap_or_default());
        }
        if start.elapsed() > GIVE_UP {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(stderr.path()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            panic!("run --once still running after {GIVE_UP:?} on a full disk; last log lines: {tail:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Largest number of copies of any row in `delivered`.
fn max_copies(delivered: &str) -> usize {
    let mut copies: HashMap<String, usize> = HashMap::new();
    for line in delivered.lines() {
        *copies.entry(id_of(line)).or_default() += 1;
    }
    copies.into_values().max().unwrap_or(0)
}

/// The full-disk scenario: `full` says which of state and output sits on the full tmpfs.
fn full_disk(state_on_tmpfs: bool) {
    let dir = tempfile::tempdir().unwrap();
    // Room for every row (about 4 MB) once the filler is gone.
    let tmpfs = Tmpfs::mount(16 * 1024);
    let logs = dir.path().join("logs");
    let (state, out) = if state_on_tmpfs {
        (tmpfs.path().join("state"), dir.path().join("rows.ndjson"))
    } else {
        (dir.path().join("state"), tmpfs.path().join("rows.ndjson"))
    };
    // A first run over nothing lays out the state directory and the output file, so the full
    // disk meets the run where it writes offsets and rows, not at start.
    std::fs::create_dir_all(&logs).unwrap();
    let (status, log) = run_once(&logs, &state, &out);
    assert!(status.success(), "an empty run succeeds: {log}");
    simulate(&logs);
    let expected = rows(&logs);
    let filler = tmpfs.fill();

    let (status, log) = run_once(&logs, &state, &out);
    assert!(!status.success(), "run --once cannot finish on a full disk and must say so by its exit status");
    let first = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(max_copies(&first) <= 1, "nothing is sent twice while the disk is full; log: {log}");

    std::fs::remove_file(filler).unwrap();
    let (status, log) = run_once(&logs, &state, &out);
    assert!(status.success(), "with space again, run --once finishes: {log}");
    let delivered = std::fs::read_to_string(&out).unwrap();
    let dups = check_delivery(&expected, &delivered);
    let max = max_copies(&delivered);
    eprintln!(
        "FAULT|local full disk ({})|expected {}|lost 0|duplicates {dups}|max copies {max}",
        if state_on_tmpfs { "state" } else { "output" },
        expected.len()
    );
    assert!(max <= 2, "a row was delivered {max} times: retries re-sent delivered rows");
    // The engine flushes after each 16 KiB slice of input at the least, so a ~100 KB blob
    // takes six or more flushes: one flush per blob re-sent is well under a quarter of the rows.
    assert!(dups * 4 <= expected.len(), "{dups} duplicates of {} rows: more than one flush per blob", expected.len());
}

#[test]
fn state_directory_on_a_full_disk() {
    full_disk(true);
}

#[test]
fn output_file_on_a_full_disk() {
    full_disk(false);
}

/// Watch mode heals by itself: blobs that failed on the full output disk are
/// marked for retry, and once space is freed the pending sweep delivers them without a restart
/// and without another event for them.
#[test]
fn watch_mode_delivers_failed_blobs_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let tmpfs = Tmpfs::mount(16 * 1024);
    let logs = dir.path().join("logs");
    let (state, out) = (dir.path().join("state"), tmpfs.path().join("rows.ndjson"));
    simulate(&logs);
    let expected = rows(&logs);
    let filler = tmpfs.fill();
    let mut daemon = flowlog()
        .args(["run", "--poll", "--listen", "off", "--watch"])
        .arg(&logs)
        .arg("--state")
        .arg(&state)
        .arg("--out")
        .arg(&out)
        .env("FLOWLOG_ENGINE_PENDING_INTERVAL_SECS", "1")
        .env("FLOWLOG_ENGINE_PENDING_MIN_DELAY_SECS", "1")
        .env("FLOWLOG_ENGINE_PENDING_MAX_DELAY_SECS", "1")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Every blob fails and is marked before the space comes back.
    let marked = |state: &Path| {
        let mut n = 0;
        for stripe in std::fs::read_dir(state.join("offsets")).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(stripe.path()).into_iter().flatten().flatten() {
                n += usize::from(std::fs::read_to_string(f.path()).unwrap_or_default().contains("\"pending\""));
            }
        }
        n
    };
    let start = Instant::now();
    while marked(&state) < BLOBS {
        assert!(start.elapsed() < GIVE_UP, "blobs were not marked for retry on a full disk");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::remove_file(filler).unwrap();
    let start = Instant::now();
    let delivered = loop {
        let delivered = std::fs::read_to_string(&out).unwrap_or_default();
        let ids: std::collections::HashSet<String> = delivered.lines().map(id_of).collect();
        if expected.keys().all(|id| ids.contains(id)) {
            break delivered;
        }
        assert!(start.elapsed() < GIVE_UP, "{} of {} rows delivered after freeing space", ids.len(), expected.len());
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status();
    assert!(daemon.wait().unwrap().success());
    assert!(max_copies(&delivered) <= 2, "retries re-sent delivered rows");
    assert_eq!(marked(&state), 0, "healed blobs lose their retry mark");
}
