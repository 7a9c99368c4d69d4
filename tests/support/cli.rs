//! The flowlog binary as the integration tests run it.
use std::path::Path;
use std::process::{Command, Stdio};

/// The binary under test, logging warnings only, and without a `FLOWLOG_LOCAL_OUT` inherited
/// from the shell (it would send every test's rows to one file).
pub fn flowlog() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowlog"));
    c.env("RUST_LOG", "warn").env_remove("FLOWLOG_LOCAL_OUT");
    c
}

/// `flowlog run --once` over `logs`, keeping offsets and dead letters in `state`.
pub fn run_once(logs: &Path, state: &Path) -> Command {
    let mut c = flowlog();
    c.args(["run", "--once", "--listen", "off", "--watch"]).arg(logs).arg("--state").arg(state);
    c
}

/// `flowlog run` watching `logs`, keeping offsets and dead letters in `state`, until stopped.
pub fn watch(logs: &Path, state: &Path) -> Command {
    let mut c = flowlog();
    c.args(["run", "--listen", "off", "--watch"]).arg(logs).arg("--state").arg(state);
    c
}

/// `flowlog simulate --out OUT ARGS…`, which must succeed.
pub fn simulate(out: &Path, args: &[&str]) {
    let status = flowlog().arg("simulate").arg("--out").arg(out).args(args).stderr(Stdio::null()).status().unwrap();
    assert!(status.success(), "flowlog simulate {args:?} failed: {status}");
}
