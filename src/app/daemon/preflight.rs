//! The Azure daemon's start: the cheap part of `flowlog check` (tokens, the offsets table, the
//! checkpoint and dead-letter containers, both hubs, the consumer group), repeated until every
//! probe passes, so that a wrong setting is named at once instead of surfacing later as a spent
//! retry budget.
//!
//! - A failure retrying cannot fix (a rejected credential, a missing role, hub or consumer
//!   group, TLS, an enrichment file) is logged once as an ERROR naming the dependency's
//!   endpoint, setting, cause and fix, and ends the start: the process exits 1 (under
//!   Kubernetes the pod's last log line says why it restarts).
//! - An unreachable dependency (refused, timeout, DNS, busy) is logged as a WARN at its first
//!   failure, as one ERROR once the start has waited [`GRACE`] for it, then as a WARN every
//!   [`REMIND`], and is tried again until it answers or the process is stopped.
//!
//! Meanwhile `/readyz` answers 503 and lists each failing dependency.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::app::check::{Check, Options, Outcome};
use crate::app::config::Config;
use crate::app::ops::server::Readiness;

/// Each probe's time limit at start.
const PROBE_TIMEOUT: Duration = Duration::from_secs(4);
/// How long an unreachable dependency is waited for before it is logged as an ERROR.
pub const GRACE: Duration = Duration::from_secs(5);
/// How often a dependency still failing is logged again.
pub const REMIND: Duration = Duration::from_secs(60);
/// Longest pause between two rounds of probes.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// One line for logs and `/readyz`: name, endpoint, setting, cause.
pub fn describe(c: &Check) -> String {
    match &c.outcome {
        Outcome::Fail { class, cause, .. } => format!("{} {} ({}): {class}: {cause}", c.name, c.endpoint, c.setting),
        Outcome::Skipped(why) => format!("{} {} ({}): {why}", c.name, c.endpoint, c.setting),
        Outcome::Pass(_) => format!("{} {} ({}): ok", c.name, c.endpoint, c.setting),
    }
}

/// Probes until everything answers (`Ok(true)`), the process is stopped (`Ok(false)`), or a
/// failure retrying cannot fix is found (an error naming it).
pub async fn until_ready(cfg: &Config, ready: &Readiness, shutdown: &CancellationToken) -> anyhow::Result<bool> {
    let options = Options { timeout: PROBE_TIMEOUT, create: false, daemon: true };
    let started = Instant::now();
    // Per failing dependency: when it was last logged, and whether its ERROR was logged.
    let mut logged: HashMap<String, (Instant, bool)> = HashMap::new();
    let mut pause = Duration::from_millis(250);
    loop {
        let checks = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(false),
            checks = crate::app::check::checks(cfg, options) => checks,
        };
        let failing: Vec<&Check> = checks.iter().filter(|c| !c.passed()).collect();
        ready.set_failing(failing.iter().map(|c| describe(c)).collect());
        if failing.is_empty() {
            let waited_ms = started.elapsed().as_millis() as u64;
            tracing::info!(waited_ms, checks = checks.len(), "every dependency answers");
            return Ok(true);
        }
        for c in failing {
            let Outcome::Fail { class, cause, fix } = &c.outcome else { continue };
            let (check, endpoint, setting) = (c.name.as_str(), c.endpoint.as_str(), c.setting.as_str());
            let cause = format!("{class}: {cause}");
            if !class.retryable() {
                tracing::error!(check, endpoint, setting, cause = %cause, fix = %fix, "{check} failed; retrying will not fix this");
                anyhow::bail!("{check} {endpoint} ({setting}): {cause}; fix: {fix}");
            }
            let now = Instant::now();
            match logged.get_mut(&format!("{check} {endpoint}")) {
                None => {
                    tracing::warn!(check, endpoint, setting, cause = %cause, fix = %fix, "{check} unreachable; retrying");
                    logged.insert(format!("{check} {endpoint}"), (now, false));
                }
                Some((_, escalated @ false)) if started.elapsed() >= GRACE => {
                    tracing::error!(
                        check,
                        endpoint,
                        setting,
                        cause = %cause,
                        fix = %fix,
                        "{check} still unreachable after {} s; flowlog cannot start until it answers (still retrying)",
                        started.elapsed().as_secs()
                    );
                    *escalated = true;
                }
                Some((last, _)) if last.elapsed() >= REMIND => {
                    tracing::warn!(check, endpoint, setting, cause = %cause, fix = %fix, "{check} still unreachable; retrying");
                    *last = now;
                }
                Some(_) => {}
            }
        }
        // The ERROR is due at GRACE: wake then rather than a whole pause later.
        let waiting = logged.values().any(|(_, escalated)| !escalated);
        let until_grace = GRACE.saturating_sub(started.elapsed());
        let nap = if waiting && !until_grace.is_zero() { pause.min(until_grace) } else { pause };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(false),
            _ = tokio::time::sleep(nap) => {}
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}
