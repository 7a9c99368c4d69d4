//! The Azure daemon's start: the cheap part of `flowlog check` (tokens, the offsets table, the
//! checkpoint and dead-letter containers, both hubs, the consumer group), repeated until every
//! probe passes, so that a wrong setting is named at once instead of surfacing later as a spent
//! retry budget.
//!
//! - A failure retrying cannot fix (a rejected credential, a missing role, hub or consumer
//!   group, TLS) is logged once as an ERROR naming the dependency's endpoint, setting, cause
//!   and fix, and ends the start: the process exits 1 (under Kubernetes the pod's last log
//!   line says why it restarts).
//! - An unreachable dependency (refused, timeout, DNS, busy) is logged as a WARN at its first
//!   failure, as one ERROR once the start has waited [`GRACE`] for it, then as a WARN every
//!   [`REMIND`], and is tried again until it answers or the process is stopped.
//!
//! Meanwhile `/readyz` answers 503 and lists each failing dependency.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::app::azure_wiring::Credentials;
use crate::app::check::{Check, Options, Outcome};
use crate::app::config::AzureConfig;
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

/// What to log about an unreachable dependency this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Say {
    Warn,
    Error,
    Remind,
    Nothing,
}

/// When each unreachable dependency was last logged (time since the start) and whether its
/// ERROR was: a WARN at its first failure, one ERROR once the start has waited [`GRACE`], then
/// a WARN every [`REMIND`].
#[derive(Debug, Default)]
struct Reminders {
    logged: HashMap<String, (Duration, bool)>,
}

impl Reminders {
    fn say(&mut self, dependency: &str, since_start: Duration) -> Say {
        match self.logged.get_mut(dependency) {
            None => {
                self.logged.insert(dependency.to_string(), (since_start, false));
                Say::Warn
            }
            Some((at, escalated @ false)) if since_start >= GRACE => {
                (*at, *escalated) = (since_start, true);
                Say::Error
            }
            Some((at, true)) if since_start.saturating_sub(*at) >= REMIND => {
                *at = since_start;
                Say::Remind
            }
            Some(_) => Say::Nothing,
        }
    }

    /// Whether some dependency's ERROR is still due.
    fn error_due(&self) -> bool {
        self.logged.values().any(|(_, escalated)| !escalated)
    }
}

/// Probes until everything answers (`Ok(true)`), the process is stopped (`Ok(false)`), or a
/// failure retrying cannot fix is found (an error naming it). The probes use `creds`, the
/// credentials and Blob transport the daemon then starts with.
pub async fn until_ready(
    az: &AzureConfig,
    creds: &Credentials,
    ready: &Readiness,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    let options = Options { timeout: PROBE_TIMEOUT, create: false, daemon: true };
    let started = Instant::now();
    let mut reminders = Reminders::default();
    let mut pause = Duration::from_millis(250);
    loop {
        let checks = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(false),
            checks = crate::app::check::azure::checks_with(az, creds, options) => checks,
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
            let waited = started.elapsed();
            match reminders.say(&format!("{check} {endpoint}"), waited) {
                Say::Warn => {
                    tracing::warn!(check, endpoint, setting, cause = %cause, fix = %fix, "{check} unreachable; retrying")
                }
                Say::Error => tracing::error!(
                    check,
                    endpoint,
                    setting,
                    cause = %cause,
                    fix = %fix,
                    "{check} still unreachable after {} s; flowlog cannot start until it answers (still retrying)",
                    waited.as_secs()
                ),
                Say::Remind => tracing::warn!(
                    check,
                    endpoint,
                    setting,
                    cause = %cause,
                    fix = %fix,
                    "{check} still unreachable after {} s; retrying",
                    waited.as_secs()
                ),
                Say::Nothing => {}
            }
        }
        // An ERROR is due at GRACE: wake then rather than a whole pause later.
        let until_grace = GRACE.saturating_sub(started.elapsed());
        let nap = if reminders.error_due() && !until_grace.is_zero() { pause.min(until_grace) } else { pause };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(false),
            _ = tokio::time::sleep(nap) => {}
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warn_at_once_one_error_after_the_grace_then_a_warn_a_minute() {
        let mut r = Reminders::default();
        let s = Duration::from_secs;
        assert_eq!(r.say("table", s(0)), Say::Warn);
        assert_eq!(r.say("table", s(2)), Say::Nothing);
        assert!(r.error_due());
        assert_eq!(r.say("table", GRACE), Say::Error);
        assert!(!r.error_due());
        assert_eq!(r.say("table", GRACE + s(30)), Say::Nothing);
        assert_eq!(r.say("table", GRACE + REMIND), Say::Remind);
        assert_eq!(r.say("table", GRACE + REMIND + s(1)), Say::Nothing);
        assert_eq!(r.say("table", GRACE + REMIND * 2), Say::Remind);
        // Each dependency has its own schedule: one failing later starts with its WARN.
        assert_eq!(r.say("hub", s(100)), Say::Warn);
        assert_eq!(r.say("hub", s(101)), Say::Error);
    }
}
