//! Independent-client conformance: Microsoft's Python (`azure-eventhub`) and JavaScript
//! (`@azure/event-hubs`) SDKs, with their own AMQP stacks, run their scenario scripts
//! (`conformance/*`) against an in-process emulator. Each script prints one
//! `RESULT <scenario> PASS|FAIL <why>` line per scenario; every expected scenario must pass.
//!
//! The SDKs come from `bash tests/tools/setup.sh` (a venv in `.tools/python`, npm packages in
//! `.tools/node_modules`, versions pinned in `tests/tools/requirements.txt` and `package.json`);
//! the processor scenarios need Azurite (`AZURITE_BLOB_ENDPOINT`). A missing SDK or Azurite fails
//! the test. The emulator runs with every rule it can enforce ([`Rules::strict`]).

use eventhubs_emulator::{Emulator, EmulatorConfig, EmulatorHandle, HubConfig, Rules, partition_for_key};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const HUB: &str = "conformance";
/// Bound for one script run: the slowest (processors) needs about 20 s.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

const CORE: &[&str] = &[
    "hub_properties",
    "partition_properties",
    "send_partition_key",
    "send_partition_id",
    "partition_key_with_id",
    "send_round_robin",
    "batch_size_limit",
    "receive_earliest_latest",
    "receive_offset_exclusive",
    "receive_offset_inclusive",
    "receive_sequence_inclusive",
    "receive_sequence_exclusive",
    "receive_enqueued_time",
    "consumer_groups",
    "owner_level_steal",
];
const PROCESSORS: &[&str] = &["processor_balance", "processor_takeover"];

#[derive(Clone, Copy)]
enum Sdk {
    Python,
    JavaScript,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Sdk {
    /// The interpreter, the script and extra environment; fails when setup.sh has not run.
    fn command(self) -> tokio::process::Command {
        let tools = root().join(".tools");
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
        let (program, script, installed) = match self {
            Sdk::Python => (
                tools.join("python/bin/python"),
                scripts.join("python_sdk.py"),
                tools.join("python/lib").exists() && tools.join("python/bin/python").exists(),
            ),
            Sdk::JavaScript => (
                PathBuf::from("node"),
                scripts.join("js_sdk.cjs"),
                tools.join("node_modules/@azure/event-hubs").exists(),
            ),
        };
        assert!(
            installed,
            "the {} Event Hubs SDK is not installed under {}: run `bash tests/tools/setup.sh`",
            self.name(),
            tools.display()
        );
        let mut command = tokio::process::Command::new(program);
        command.arg(script).env("NODE_PATH", tools.join("node_modules"));
        command
    }

    fn name(self) -> &'static str {
        match self {
            Sdk::Python => "Python",
            Sdk::JavaScript => "JavaScript",
        }
    }
}

/// Every enforceable rule on, the one-`$cbs`-link rule included: both SDKs keep one `$cbs` link
/// pair per connection, as the service requires.
async fn emulator() -> EmulatorHandle {
    let hub = HubConfig::new(HUB, 4).with_consumer_group("second");
    let config = EmulatorConfig::new(vec![hub]).with_rules(Rules::strict());
    Emulator::start(config, "127.0.0.1:0").await.expect("emulator starts")
}

/// Runs one script against a fresh emulator and asserts that every `expected` scenario passed.
async fn conform(sdk: Sdk, mode: &str, expected: &[&str]) {
    let emulator = emulator().await;
    let mut command = sdk.command();
    command
        .arg(mode)
        .env("EMULATOR_ADDR", emulator.local_addr().to_string())
        .env("HUB", HUB)
        .env("KEY_PARTITION", partition_for_key("conformance-key", 4).to_string())
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if mode == "processor" {
        let blob = std::env::var("AZURITE_BLOB_ENDPOINT").unwrap_or_else(|_| {
            panic!("AZURITE_BLOB_ENDPOINT is not set: start Azurite (source tests/tools/azurite.sh && azurite_start)")
        });
        command.env("AZURITE_BLOB_ENDPOINT", blob);
    }
    let child = command.spawn().unwrap_or_else(|e| panic!("starting the {} script: {e}", sdk.name()));
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the {} script ran longer than {SCRIPT_TIMEOUT:?}", sdk.name()))
        .expect("script output");
    emulator.shutdown().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let results = parse_results(&stdout);
    let failures: Vec<String> = expected
        .iter()
        .filter_map(|name| match results.iter().find(|(n, _)| n == name) {
            Some((_, None)) => None,
            Some((_, Some(why))) => Some(format!("{name}: {why}")),
            None => Some(format!("{name}: no result line")),
        })
        .collect();
    let passed = expected.len() - failures.len();
    println!("{} SDK {mode}: {passed} of {} scenarios passed\n{stdout}", sdk.name(), expected.len());
    assert!(
        failures.is_empty(),
        "{} SDK {mode} scenarios failed:\n  {}\n--- stdout ---\n{stdout}\n--- stderr (tail) ---\n{}",
        sdk.name(),
        failures.join("\n  "),
        tail(&stderr, 6000)
    );
}

/// `RESULT name PASS` -> (name, None); `RESULT name FAIL why` -> (name, Some(why)).
fn parse_results(stdout: &str) -> Vec<(String, Option<String>)> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("RESULT "))
        .filter_map(|rest| {
            let mut parts = rest.splitn(3, ' ');
            let name = parts.next()?.to_string();
            match parts.next()? {
                "PASS" => Some((name, None)),
                _ => Some((name, Some(parts.next().unwrap_or("failed").to_string()))),
            }
        })
        .collect()
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    &text[start..]
}

#[tokio::test]
async fn python_sdk_core_scenarios() {
    conform(Sdk::Python, "core", CORE).await;
}

#[tokio::test]
async fn python_sdk_event_processors_with_blob_checkpoints() {
    conform(Sdk::Python, "processor", PROCESSORS).await;
}

#[tokio::test]
async fn javascript_sdk_core_scenarios() {
    conform(Sdk::JavaScript, "core", CORE).await;
}

#[tokio::test]
async fn javascript_sdk_event_processors_with_blob_checkpoints() {
    conform(Sdk::JavaScript, "processor", PROCESSORS).await;
}

#[test]
fn result_lines_parse() {
    let parsed = parse_results("INFO x\nRESULT a PASS\nRESULT b FAIL it broke badly\n");
    assert_eq!(parsed, vec![("a".into(), None), ("b".into(), Some("it broke badly".into()))]);
}
