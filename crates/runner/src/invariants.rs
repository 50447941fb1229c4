//! What must hold for every run, whatever the strategy and the faults: the properties the fuzzer
//! checks against the server ledger.
//!
//! - `silent-failure`: success is reported only for an operation whose commands all completed
//!   with exit 0 on the server.
//! - `hang`: every operation resolves, with success or a reported failure, within its
//!   scenario bound. An operation judged [`Outcome::Timeout`] is a hang when its workload has
//!   no `timeout_ms` (nothing but the strategy could have ended it) or when it was still
//!   unanswered at the end of the run.
//! - `leak`: no session or connection is left open on a server after the strategy shut down.
//!   Exception: a connection the network made half-open (the timeline partitions the client
//!   from the host, either way, or a NAT forgets idle flows) to a host whose sshd has no
//!   `ClientAliveInterval` is not counted, nor are its sessions: the client's close cannot
//!   reach that server and OpenSSH itself would keep such a connection forever. That is a
//!   server setting, not a strategy leak. Hosts with ClientAlive get no exception. Nor is
//!   anything counted on a host whose sshd is still paused when the last operation resolves
//!   (the strategy shuts down then): the closes wait with the rest of its traffic.
//! - `max-sessions`: no caller sees a channel refused by MaxSessions (a strategy may hit the
//!   limit but must handle the refusal), and no connection holds more sessions than the
//!   largest `max_sessions` of the scenario's hosts.
//! - `lost-events`: every event a job emits reaches the consumer before DONE.

use std::fmt;
use std::time::Duration;

use sshrace_core::{Cause, Fault, Outcome};
use sshrace_scenario::{Action, At, Scenario};

use crate::RunResult;
use crate::run::operations_end;

/// Which invariant a [`Violation`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    /// Success reported for a command the server did not complete with exit 0.
    SilentFailure,
    /// An operation never resolved.
    Hang,
    /// A session or connection left open on a server after shutdown.
    Leak,
    /// A MaxSessions refusal reached the caller, or a connection went above MaxSessions.
    MaxSessions,
    /// Job events emitted after DONE.
    LostEvents,
}

impl Invariant {
    /// Every invariant, in check order.
    pub const ALL: [Invariant; 5] = [
        Invariant::SilentFailure,
        Invariant::Hang,
        Invariant::Leak,
        Invariant::MaxSessions,
        Invariant::LostEvents,
    ];

    /// Its stable name: `silent-failure`, `hang`, `leak`, `max-sessions`, `lost-events`.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::SilentFailure => "silent-failure",
            Invariant::Hang => "hang",
            Invariant::Leak => "leak",
            Invariant::MaxSessions => "max-sessions",
            Invariant::LostEvents => "lost-events",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken invariant in one run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The invariant.
    pub invariant: Invariant,
    /// The operation that broke it, if one did (leaks belong to the run).
    pub operation: Option<u64>,
    /// The run's seed.
    pub seed: u64,
    /// What happened, for people.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.invariant)?;
        if let Some(operation) = self.operation {
            write!(f, " op {operation}")?;
        }
        write!(f, " (seed {}): {}", self.seed, self.detail)
    }
}

/// Every violation of the [module's invariants](self) in `result`, a run of `scenario`, in
/// operation order, then run-wide ones. Empty when the run is sound.
pub fn check_invariants(scenario: &Scenario, result: &RunResult) -> Vec<Violation> {
    let mut violations = Vec::new();
    let run_end = operations_end(scenario);
    let violation = |invariant, operation, detail: String| Violation {
        invariant,
        operation,
        seed: result.seed,
        detail,
    };
    for (record, outcome) in &result.operations {
        let op = Some(record.id);
        match outcome {
            Outcome::SilentFailure => violations.push(violation(
                Invariant::SilentFailure,
                op,
                format!(
                    "{} reported success; the server did not complete it with exit 0",
                    record.workload
                ),
            )),
            Outcome::Timeout => {
                let bounded = scenario
                    .workload
                    .iter()
                    .find(|w| w.name == record.workload)
                    .is_some_and(|w| w.timeout.is_some());
                let hit_end = record.finished.is_none_or(|finished| finished >= run_end);
                if !bounded || hit_end {
                    violations.push(violation(
                        Invariant::Hang,
                        op,
                        format!(
                            "{} started at {} ms never resolved ({})",
                            record.workload,
                            record.started.as_millis(),
                            if bounded {
                                "still running at the end of the run"
                            } else {
                                "no timeout_ms, and the strategy never answered"
                            }
                        ),
                    ));
                }
            }
            Outcome::Transport(Cause::ChannelRefused) => violations.push(violation(
                Invariant::MaxSessions,
                op,
                format!(
                    "{} got a MaxSessions refusal (channel open failed) from the strategy",
                    record.workload
                ),
            )),
            Outcome::LostEvent => violations.push(violation(
                Invariant::LostEvents,
                op,
                format!("{} emitted events after DONE", record.workload),
            )),
            _ => {}
        }
    }
    let last_resolved = result
        .operations
        .iter()
        .map(|(record, _)| record.finished.unwrap_or(run_end))
        .max()
        .unwrap_or_default();
    for (host, (sessions, connections)) in &result.leaked_by_host {
        if half_open_excused(scenario, host) || paused_at(scenario, host, last_resolved) {
            continue;
        }
        violations.push(violation(
            Invariant::Leak,
            None,
            format!(
                "{host}: {sessions} sessions and {connections} connections still open after shutdown"
            ),
        ));
    }
    let max_sessions = scenario
        .hosts
        .iter()
        .map(|h| h.sshd.max_sessions)
        .max()
        .unwrap_or(0);
    if result.peak_sessions_per_connection > max_sessions {
        violations.push(violation(
            Invariant::MaxSessions,
            None,
            format!(
                "{} sessions on one connection, above MaxSessions {max_sessions}",
                result.peak_sessions_per_connection
            ),
        ));
    }
    violations
}

/// Whether what `host` still holds open may be a half-open connection the client could not
/// close: the timeline cuts the path (a partition either way, or a NAT idle timeout) and the
/// host's sshd has no ClientAlive to notice.
fn half_open_excused(scenario: &Scenario, host: &str) -> bool {
    let no_client_alive = scenario
        .hosts
        .iter()
        .find(|h| h.name == host)
        .is_some_and(|h| h.sshd.client_alive_interval.is_none());
    let cut = scenario.timeline.iter().any(|entry| match &entry.action {
        Action::Fault(Fault::Partition { a, b }) => a == host || b == host,
        Action::Fault(Fault::PartitionOneWay { from, to }) => from == host || to == host,
        Action::Fault(Fault::NatIdleTimeout { idle }) => idle.is_some(),
        _ => false,
    });
    no_client_alive && cut
}

/// Whether `host`'s sshd is paused at `instant` by the timeline (ranges taken at their end).
fn paused_at(scenario: &Scenario, host: &str, instant: Duration) -> bool {
    let mut changes: Vec<(Duration, bool)> = scenario
        .timeline
        .iter()
        .filter_map(|entry| {
            let at = match entry.at {
                At::Fixed(at) => at,
                At::Range(_, hi) => hi,
            };
            match &entry.action {
                Action::Fault(Fault::Pause { host: h }) if h == host => Some((at, true)),
                Action::Fault(Fault::Resume { host: h }) if h == host => Some((at, false)),
                _ => None,
            }
        })
        .collect();
    changes.sort_by_key(|(at, _)| *at);
    changes
        .iter()
        .rev()
        .find(|(at, _)| *at <= instant)
        .is_some_and(|(_, paused)| *paused)
}
