//! `flowlog check`: a preflight that tries every dependency the configuration names, in the
//! order the daemon needs them, and says for each what answered or what is wrong and how to fix
//! it. The daemon's start runs the cheap part of the same probes (`daemon::preflight`).
pub mod advice;
#[cfg(feature = "azure")]
pub mod azure;
#[cfg(feature = "azure")]
pub mod credential;
#[cfg(feature = "azure")]
pub mod hubs;
pub mod local;
#[cfg(feature = "azure")]
pub mod log_analytics;
pub mod report;

use std::path::PathBuf;
use std::time::Duration;

use crate::app::config::{Config, Mode};
use crate::pipeline::probe::FailureClass;

/// One dependency tried: what, where, from which setting, and how it went.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub endpoint: String,
    /// The setting that names the dependency (`offsets.table`).
    pub setting: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    Fail {
        class: FailureClass,
        cause: String,
        fix: String,
    },
    /// Not tried because a check it depends on failed.
    Skipped(String),
}

impl Check {
    pub fn new(name: &str, endpoint: impl Into<String>, setting: &str, outcome: Outcome) -> Self {
        Check { name: name.to_string(), endpoint: endpoint.into(), setting: setting.to_string(), outcome }
    }

    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Pass(_))
    }

    /// The failure's class, when it failed.
    pub fn failure(&self) -> Option<FailureClass> {
        match &self.outcome {
            Outcome::Fail { class, .. } => Some(*class),
            _ => None,
        }
    }
}

/// How the probes run: `check` tries everything; the daemon's start only what is cheap and
/// leaves creating missing state to its usual start.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub timeout: Duration,
    pub create: bool,
    pub daemon: bool,
}

/// Where settings came from, for the report: the configuration file, and the settings that
/// command-line flags set (`("local.watch", "--watch")`).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub file: Option<PathBuf>,
    pub flags: Vec<(&'static str, &'static str)>,
}

impl Origins {
    /// Where `setting`'s value came from, in the order of precedence: its flag, its `FLOWLOG_*`
    /// variable, the file, else the default.
    pub fn of(&self, setting: &str) -> String {
        if let Some((_, flag)) = self.flags.iter().find(|(s, _)| *s == setting) {
            return flag.to_string();
        }
        let var = format!("FLOWLOG_{}", setting.replace('.', "_").to_ascii_uppercase());
        if std::env::var_os(&var).is_some() {
            return var;
        }
        self.file.as_ref().map_or_else(|| "default".to_string(), |f| f.display().to_string())
    }
}

/// Runs every check and prints the report (text, or JSON with `json`); returns whether every
/// check passed.
pub async fn report(cfg: &Config, options: Options, json: bool, origins: &Origins) -> bool {
    let checks = checks(cfg, options).await;
    if json {
        println!("{}", report::json(&checks, origins));
    } else {
        print!("{}", report::text(&checks, origins));
    }
    checks.iter().all(Check::passed)
}

/// Every check the configuration calls for, in the order the daemon needs them.
pub async fn checks(cfg: &Config, options: Options) -> Vec<Check> {
    // The daemon loads the enrichment files itself, first, failing with their names: loading
    // large databases again on every round of its start checks would only cost memory.
    let mut checks = if options.daemon { Vec::new() } else { vec![local::enrichment(&cfg.enrich)] };
    match &cfg.mode {
        Mode::Local(l) => checks.extend(local::checks(l).await),
        #[cfg(feature = "azure")]
        Mode::Azure(az) => checks.extend(azure::checks(az, options).await),
        #[cfg(not(feature = "azure"))]
        Mode::Azure(_) => checks.push(Check::new(
            "azure",
            "",
            "input",
            Outcome::Fail {
                class: FailureClass::Other,
                cause: "the configuration selects Azure mode ([input]), but this flowlog was built without the `azure` feature".into(),
                fix: "build with default features".into(),
            },
        )),
    }
    checks
}
