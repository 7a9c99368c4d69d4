//! The Azure daemon's test stack: the in-process Event Hubs emulator, Azurite (optionally
//! behind fault proxies) and the `flowlog` binary as separate processes (`daemon`, `simulate`).
//! What a test reads back afterwards (rows delivered to the output hub or to the fake Logs
//! Ingestion API, the rows every blob must yield, stored offsets) is in `stack_results.rs`, the
//! process and metrics helpers in `stack_process.rs`. Included by the Azure end-to-end and fault
//! tests as `#[path = "common/azure_stack.rs"] mod stack;` next to `mod common;` and `mod hubs;`.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventhubs_emulator::logs_ingestion::{LogsIngestion, MONITOR_AUDIENCE, test_token};
use eventhubs_emulator::{EmulatorConfig, EmulatorHandle, HubConfig, NAMESPACE, Rules};

use crate::common;
use crate::hubs::start_emulator;

pub const NSG: &str = "insights-logs-networksecuritygroupflowevent";
pub const VNET: &str = "insights-logs-flowlogflowevent";
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A child process that is killed if the test ends (or fails) before waiting for it, so a
/// failing test leaves no daemon running. A failing test prints the tail of its log.
pub struct Proc(pub Option<Child>, pub Option<PathBuf>);

impl Proc {
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    pub fn kill(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(log) = &self.1
        {
            eprintln!("{}", log_tail(log));
        }
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct Stack {
    pub emulator: EmulatorHandle,
    pub dir: tempfile::TempDir,
    pub table: String,
    pub dead_letters: String,
    /// Account endpoints the daemon and `simulate` use for sources and dead letters (Blob) and
    /// offsets (Table): Azurite's, or a fault proxy's in front of it.
    pub blob_url: String,
    pub table_url: String,
    /// The checkpoint store's account endpoint: Azurite's unless a test puts a proxy there (the
    /// fault scenarios leave it alone: faults there are the Event Hubs processor's business).
    pub checkpoints_url: String,
    /// Extra `[engine]` keys, one `key = value` per line.
    pub engine_extra: String,
    /// `output.gzip` as written to the config: `None` leaves the default (gzip), which
    /// `delivered` then requires of every event.
    pub output_gzip: Option<bool>,
    /// With a fake Logs Ingestion API here, rows go to it (`output.kind = "log_analytics"`)
    /// instead of the output hub, and `delivered` reads what it stored.
    pub logs: Option<LogsIngestion>,
}

pub async fn stack() -> Stack {
    stack_with(4, Rules::default()).await
}

/// A stack whose input hub has `input_partitions` partitions, the emulator enforcing `rules`.
pub async fn stack_with(input_partitions: u32, rules: Rules) -> Stack {
    let emulator = start_emulator(
        EmulatorConfig::new(vec![
            HubConfig::new("input", input_partitions).with_consumer_group("flowlog"),
            HubConfig::new("rows", 4).with_consumer_group("adx"),
        ])
        .with_rules(rules),
    )
    .await;
    Stack {
        emulator,
        dir: tempfile::tempdir().unwrap(),
        table: common::unique_name("offsets"),
        dead_letters: common::unique_name("dead"),
        blob_url: common::blob_endpoint().to_string(),
        table_url: common::table_endpoint().to_string(),
        checkpoints_url: common::blob_endpoint().to_string(),
        engine_extra: String::new(),
        output_gzip: None,
        logs: None,
    }
}

impl Stack {
    /// The daemon's configuration file (no secrets: those are in `env`).
    pub fn config(&self, name: &str, listen: u16) -> PathBuf {
        let checkpoints = &self.checkpoints_url;
        let (blob, table) = (&self.blob_url, &self.table_url);
        let text = format!(
            r#"[input]
namespace = "{NAMESPACE}"
hub = "input"
consumer_group = "flowlog"
endpoint = "{ep}"
update_interval_ms = 300
partition_expiration_ms = 2000
strategy = "greedy"
[checkpoints]
account_url = "{checkpoints}"
container = "{cp}"
[offsets]
account_url = "{table}"
table = "{tbl}"
[sources]
allowed = ["{blob}/{NSG}", "{blob}/{VNET}"]
[output]
namespace = "{NAMESPACE}"
hub = "rows"
endpoint = "{ep}"
{gzip}
{logs}
[dead_letter]
account_url = "{blob}"
container = "{dl}"
[engine]
flush_bytes = 65536
retry_min_delay_ms = 20
retry_max_delay_ms = 500
{extra}
[server]
listen = "127.0.0.1:{listen}"
shutdown_deadline_secs = 10
"#,
            ep = self.emulator.endpoint(),
            cp = self.checkpoints_container(),
            tbl = self.table,
            dl = self.dead_letters,
            extra = self.engine_extra,
            gzip = self.output_gzip.map(|g| format!("gzip = {g}")).unwrap_or_default(),
            logs = self.logs.as_ref().map_or(String::new(), |l| format!(
                "kind = \"log_analytics\"\n[log_analytics]\nendpoint = \"{}\"\ndcr_immutable_id = \"{}\"\nstream = \"{}\"\ntimeout_secs = 2",
                l.endpoint(),
                l.config().dcr_immutable_id,
                l.config().stream
            )),
        );
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `flowlog <subcommand> --config <config>` with the secrets in its environment.
    pub fn command(&self, subcommand: &[&str], config: &PathBuf) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_flowlog"));
        c.args(subcommand).arg("--config").arg(config);
        for section in ["CHECKPOINTS", "OFFSETS", "SOURCES", "DEAD_LETTER"] {
            c.env(format!("FLOWLOG_{section}_ACCOUNT_KEY"), KEY);
        }
        // STACK_RUST_LOG raises the children's log level when a scenario is investigated.
        let level = std::env::var("STACK_RUST_LOG").unwrap_or_else(|_| "warn".into());
        c.env("FLOWLOG_INPUT_TOKEN", "t").env("FLOWLOG_OUTPUT_TOKEN", "t").env("RUST_LOG", level);
        c.env("FLOWLOG_LOG_ANALYTICS_TOKEN", test_token(MONITOR_AUDIENCE, "flowlog"));
        c
    }

    pub async fn daemon(&self, name: &str) -> (Proc, u16) {
        let port = free_port();
        let config = self.config(name, port);
        // STACK_LOGS keeps the daemons' logs in that directory after the test.
        let dir = std::env::var_os("STACK_LOGS").map_or_else(|| self.dir.path().to_path_buf(), PathBuf::from);
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut child = Proc(
            Some(self.command(&["run"], &config).stderr(file).stdout(Stdio::null()).spawn().unwrap()),
            Some(log.clone()),
        );
        let start = Instant::now();
        while http_get(port, "/readyz").0 != 200 {
            // A daemon that exited at start will never be ready: say so at once, with its log.
            let exited = child.0.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || start.elapsed() > Duration::from_secs(120) {
                let why = exited.map_or("not ready after 120 s".to_string(), |s| format!("exited at start ({s})"));
                panic!("{name} {why}; its log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (child, port)
    }

    pub fn simulate(&self, args: &[&str]) -> Proc {
        let config = self.config("simulate", free_port());
        let log = self.dir.path().join("simulate.log");
        let file = std::fs::File::create(&log).unwrap();
        Proc(Some(self.command(&["simulate", "--azure"], &config).args(args).stderr(file).spawn().unwrap()), Some(log))
    }

    /// The end-to-end tests' traffic: `blobs` blobs of mixed formats over `minutes` minutes from
    /// `start`, one event every `interval_ms`, a fifth of them duplicated and a fifth delayed,
    /// and the rest reordered.
    pub fn simulate_shuffled(
        &self,
        blobs: u32,
        minutes: u32,
        tuples: u32,
        seed: u32,
        start: &str,
        interval_ms: u32,
    ) -> Proc {
        let (blobs, minutes, tuples) = (blobs.to_string(), minutes.to_string(), tuples.to_string());
        let (seed, interval) = (seed.to_string(), interval_ms.to_string());
        self.simulate(&[
            "--format",
            "mixed",
            "--blobs",
            &blobs,
            "--minutes",
            &minutes,
            "--tuples-per-minute",
            &tuples,
            "--seed",
            &seed,
            "--start",
            start,
            "--interval-ms",
            &interval,
            "--duplicate-percent",
            "20",
            "--delay-percent",
            "20",
            "--reorder",
        ])
    }
}

#[path = "stack_process.rs"]
mod process;
#[path = "stack_results.rs"]
mod results;
use process::log_tail;
// Each test binary uses a different part of the stack.
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use results::*;
