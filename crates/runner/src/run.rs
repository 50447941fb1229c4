use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sshrace_core::{Outcome, StallFate, StalledConnection, TimedFault, Trace};
use sshrace_scenario::{Action, Scenario};
use sshrace_sim::{World, WorldConfig};
use sshrace_strategy::{Env, StrategySpec};

use crate::classify::classify;
use crate::drive::{DriveLog, drive};
use crate::{OpRecord, OpResult, RunError};

/// Simulated time after the last operation's deadline for the strategy to shut down and its
/// closes to reach the servers.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// How long past the workload window an operation without its own `timeout_ms` may run.
const DEFAULT_DRAIN: Duration = Duration::from_secs(600);

/// When the run stops waiting for operations: the scenario's duration is the window in which
/// operations arrive; each may then run until its own deadline (or [`DEFAULT_DRAIN`] past the
/// window), so one arriving near the end is not cut short by the end itself.
pub(crate) fn operations_end(scenario: &Scenario) -> Duration {
    let longest = scenario
        .workload
        .iter()
        .map(|w| w.timeout.unwrap_or(DEFAULT_DRAIN))
        .max()
        .unwrap_or(DEFAULT_DRAIN);
    scenario.sim.duration + longest
}

/// One run of one scenario with one strategy and one seed, judged.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Strategy name.
    pub strategy: String,
    /// Where it ran: `sim`, or the real-time backend's name (`docker-openssh-9.2`).
    pub backend: String,
    /// The seed.
    pub seed: u64,
    /// Hash of the run's trace: equal hashes, identical runs.
    pub trace_hash: String,
    /// The whole trace, when asked for (`run_one(.., keep_trace: true)`).
    pub trace: Option<Trace>,
    /// The servers' whole ledger, kept with the trace.
    pub ledger: Option<sshrace_core::Ledger>,
    /// Every planned operation with its outcome, in plan order.
    pub operations: Vec<(OpRecord, Outcome)>,
    /// Connections that reached an sshd (including ones MaxStartups dropped).
    pub connections: u64,
    /// Connections that authenticated.
    pub handshakes: u64,
    /// Most unauthenticated connections any sshd held at once.
    pub peak_unauthenticated: u32,
    /// Most sessions open at once on any one connection.
    pub peak_sessions_per_connection: u32,
    /// Sessions still open on a server after the strategy shut down.
    pub leaked_sessions: u64,
    /// Connections still open on a server after the strategy shut down.
    pub leaked_connections: u64,
    /// Per host, `(sessions, connections)` still open on its sshd after the strategy shut down
    /// (only hosts with something open).
    pub leaked_by_host: BTreeMap<String, (u64, u64)>,
    /// Job events emitted after DONE.
    pub lost_events: u64,
    /// The scenario's `failing` outcome kinds.
    pub failing: Vec<String>,
    /// What the timeline's stalled clients saw (`stalled-clients` faults), in start order.
    pub stalled: Vec<StalledConnection>,
}

/// The stalled clients of a run, and how many of their connections each host still held open
/// when the run ended: those are the harness's, not leaks of the strategy.
#[derive(Debug, Default)]
pub(crate) struct Stalled {
    pub(crate) connections: Vec<StalledConnection>,
    pub(crate) open_at_end: BTreeMap<String, u64>,
}

impl Stalled {
    /// The simulation: a stalled connection that got its banner and was not closed is still
    /// open on its sshd when the run ends.
    pub(crate) fn still_open(connections: Vec<StalledConnection>) -> Self {
        let mut open_at_end = BTreeMap::new();
        for connection in &connections {
            if matches!(connection.fate, StallFate::Banner { .. }) && connection.closed_at.is_none()
            {
                *open_at_end.entry(connection.host.clone()).or_insert(0) += 1;
            }
        }
        Stalled {
            connections,
            open_at_end,
        }
    }

    /// A real-time backend: the harness closed every stalled connection before reading the
    /// ledger.
    pub(crate) fn all_closed(connections: Vec<StalledConnection>) -> Self {
        Stalled {
            connections,
            open_at_end: BTreeMap::new(),
        }
    }
}

impl RunResult {
    /// Operations that count toward the failure rate.
    pub fn measured(&self) -> impl Iterator<Item = &(OpRecord, Outcome)> {
        self.operations.iter().filter(|(record, _)| record.measured)
    }

    /// Whether `outcome` counts as a failure in this run's scenario (its `failing` kinds; a
    /// silent failure always counts).
    pub fn counts_as_failure(&self, outcome: Outcome) -> bool {
        let key = outcome.key();
        let kind = key.split(':').next().unwrap_or(&key);
        outcome == Outcome::SilentFailure
            || (outcome.is_failure() && self.failing.iter().any(|f| f == kind))
    }

    /// Whether any measured operation failed.
    pub fn failed(&self) -> bool {
        self.measured()
            .any(|(_, outcome)| self.counts_as_failure(*outcome))
    }

    /// What a replay prints after the timeline: one line per operation with its outcome
    /// (`  op    3 deploy           success`, `(not measured)` where so), then `trace HASH`.
    pub fn outcome_lines(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (record, outcome) in &self.operations {
            let _ = writeln!(
                out,
                "  op {:>4} {:<16} {}{}",
                record.id,
                record.workload,
                outcome,
                if record.measured {
                    ""
                } else {
                    " (not measured)"
                }
            );
        }
        let _ = writeln!(out, "trace {}", self.trace_hash);
        out
    }
}

/// Run `scenario` with `strategy` and `seed` in the simulation and judge every operation.
/// With `keep_trace` the result carries the whole trace (for replay); otherwise only its hash.
pub fn run_one(
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    keep_trace: bool,
) -> Result<RunResult, RunError> {
    if let Some(command) = strategy.program_command() {
        return Err(RunError::Backend(format!(
            "client program `{command}`: a program runs in real time and cannot join the simulation's virtual time; run it on containers"
        )));
    }
    let plan = scenario.plan(seed);
    let mut config = WorldConfig::new(seed)
        .tick(scenario.sim.tick)
        .idle_tick(scenario.sim.idle_tick)
        .duration(operations_end(scenario) + SHUTDOWN_GRACE)
        .latency(scenario.sim.latency, scenario.sim.jitter);
    for host in &scenario.hosts {
        config = config.target_with(&host.name, host.sshd.clone());
    }
    config.faults = plan
        .events
        .iter()
        .filter_map(|event| match &event.action {
            Action::Fault(fault) => Some(TimedFault {
                at: event.at,
                fault: fault.clone(),
            }),
            _ => None,
        })
        .collect();
    let planned: Vec<OpRecord> = plan.operations.iter().map(OpRecord::planned).collect();
    let shared = Arc::new(DriveLog::default());
    let hosts: Vec<String> = scenario.hosts.iter().map(|h| h.name.clone()).collect();
    let end = operations_end(scenario);
    let driver_shared = shared.clone();
    let spec = strategy.clone();
    let outcome = World::run(&config, move |ctx| {
        let env = Env {
            transport: ctx.transport,
            control: ctx.control,
            trace: ctx.trace,
            seed: ctx.seed,
        };
        drive(env, spec, plan, hosts, end, driver_shared)
    })?;

    Ok(judge(
        scenario,
        strategy,
        "sim".to_owned(),
        seed,
        planned,
        &shared,
        outcome.ledger,
        outcome.trace,
        keep_trace,
        Stalled::still_open(outcome.stalled),
    ))
}

/// Judge every planned operation of a finished run against the servers' `ledger`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn judge(
    scenario: &Scenario,
    strategy: &StrategySpec,
    backend: String,
    seed: u64,
    planned: Vec<OpRecord>,
    shared: &DriveLog,
    ledger: sshrace_core::Ledger,
    trace: Trace,
    keep_trace: bool,
    stalled: Stalled,
) -> RunResult {
    let mut records = std::mem::take(&mut *shared.records.lock().expect("records lock"));
    let teardowns = shared.teardowns.lock().expect("teardowns lock").clone();
    let mut operations = Vec::with_capacity(planned.len());
    for planned in planned {
        let record = match records.iter().position(|r| r.id == planned.id) {
            Some(index) => records.swap_remove(index),
            None => planned,
        };
        let judged = classify(&record, &ledger, &teardowns);
        operations.push((record, judged));
    }
    let lost_events = operations
        .iter()
        .map(|(record, _)| match record.result {
            OpResult::Job { lost_events, .. } => lost_events as u64,
            _ => 0,
        })
        .sum();
    RunResult {
        scenario: scenario.name.clone(),
        strategy: strategy.name().to_owned(),
        backend,
        seed,
        trace_hash: trace.hash(),
        trace: keep_trace.then_some(trace),
        ledger: keep_trace.then(|| ledger.clone()),
        operations,
        connections: ledger.connections.len() as u64,
        handshakes: ledger
            .connections
            .iter()
            .filter(|c| c.authenticated_at.is_some())
            .count() as u64,
        peak_unauthenticated: ledger
            .peak_unauthenticated
            .values()
            .copied()
            .max()
            .unwrap_or(0),
        peak_sessions_per_connection: ledger
            .peak_sessions_per_connection
            .values()
            .copied()
            .max()
            .unwrap_or(0),
        leaked_sessions: ledger.open_sessions().count() as u64,
        leaked_connections: (ledger.open_connections().count() as u64)
            .saturating_sub(stalled.open_at_end.values().sum::<u64>()),
        leaked_by_host: leaked_by_host(&ledger, &stalled.open_at_end),
        lost_events,
        failing: scenario.failing.clone(),
        stalled: stalled.connections,
    }
}

/// Per host, `(sessions, connections)` the ledger still shows open.
fn leaked_by_host(
    ledger: &sshrace_core::Ledger,
    harness_open: &BTreeMap<String, u64>,
) -> BTreeMap<String, (u64, u64)> {
    let mut leaked: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for session in ledger.open_sessions() {
        leaked.entry(session.host.clone()).or_default().0 += 1;
    }
    for connection in ledger.open_connections() {
        leaked.entry(connection.host.clone()).or_default().1 += 1;
    }
    for (host, open) in harness_open {
        if let Some(entry) = leaked.get_mut(host) {
            entry.1 = entry.1.saturating_sub(*open);
        }
    }
    leaked.retain(|_, (sessions, connections)| *sessions > 0 || *connections > 0);
    leaked
}
