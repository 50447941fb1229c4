use std::time::Duration;

use sshrace_core::{ExecResult, TransportError};
use sshrace_scenario::{PlannedKind, PlannedOperation};
use sshrace_strategy::JobReport;

/// What the client side saw of one planned operation.
#[derive(Debug, Clone)]
pub struct OpRecord {
    /// Planned operation id.
    pub id: u64,
    /// Workload item it came from.
    pub workload: String,
    /// Whether it counts toward the failure rate.
    pub measured: bool,
    /// Command ids (CommandSpec operation) the ledger knows it by: one for a command, one per
    /// step for a job.
    pub commands: Vec<u64>,
    /// Host(s) it ran on.
    pub hosts: Vec<String>,
    /// When it started.
    pub started: Duration,
    /// When it resolved (`None`: still running when the scenario ended).
    pub finished: Option<Duration>,
    /// What the strategy reported.
    pub result: OpResult,
}

/// What a strategy reported for an operation.
#[derive(Debug, Clone)]
pub enum OpResult {
    /// A command's result.
    Command(Result<ExecResult, TransportError>),
    /// A job's report and the events it lost after DONE.
    Job {
        /// What the job runner reported.
        report: JobReport,
        /// Events emitted after DONE.
        lost_events: usize,
    },
    /// No answer before the operation's deadline or the scenario's end.
    TimedOut,
}

impl OpRecord {
    /// The record of `operation` before it ran: no answer yet.
    pub(crate) fn planned(operation: &PlannedOperation) -> OpRecord {
        let (commands, hosts) = match &operation.kind {
            PlannedKind::Command { host, spec } | PlannedKind::Interactive { host, spec } => {
                (vec![spec.operation], vec![host.clone()])
            }
            PlannedKind::Job { steps } => {
                let mut hosts: Vec<String> = Vec::new();
                for step in steps {
                    if !hosts.contains(&step.host) {
                        hosts.push(step.host.clone());
                    }
                }
                (steps.iter().map(|s| s.spec.operation).collect(), hosts)
            }
        };
        OpRecord {
            id: operation.id,
            workload: operation.workload.clone(),
            measured: operation.measured,
            commands,
            hosts,
            started: operation.at,
            finished: None,
            result: OpResult::TimedOut,
        }
    }
}
