//! The emulator's binary started as a script starts it, and killed if a test fails midway.
use std::io::BufReader;
use std::process::{Child, ChildStdout, Command, Stdio};

/// Kills the child if a test fails midway.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `eventhubs-emulator ARGS…` with its stdout, where the readiness lines are, to read.
pub fn start(args: &[&str]) -> (Running, BufReader<ChildStdout>) {
    let child = Command::new(env!("CARGO_BIN_EXE_eventhubs-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut running = Running(child);
    let stdout = BufReader::new(running.0.stdout.take().expect("piped stdout"));
    (running, stdout)
}
