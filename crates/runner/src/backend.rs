//! Where runs happen: the simulation ([`Sim`]), or a real-time backend's hosts played by
//! [`run_real_time`](crate::run_real_time) (containers: the `sshrace-docker` crate).

use sshrace_scenario::Scenario;

use crate::{Job, RunError, RunResult, run_one};

/// Where the runs of a command happen. Every backend's runs are judged alike, against the
/// servers' ledger, so their rows compare.
pub trait Backend: Send + Sync {
    /// The name in reports and results files for runs of `scenario` (`sim`,
    /// `docker-openssh-9.2`).
    fn name(&self, scenario: &Scenario) -> String;

    /// One run of `job`, judged. With `keep_trace` the result keeps its trace and ledger.
    fn run(&self, job: &Job, keep_trace: bool) -> Result<RunResult, RunError>;
}

/// The turmoil simulation with the sshd model: virtual time, deterministic, needs nothing
/// installed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sim;

impl Backend for Sim {
    fn name(&self, _: &Scenario) -> String {
        "sim".to_owned()
    }

    fn run(&self, job: &Job, keep_trace: bool) -> Result<RunResult, RunError> {
        run_one(&job.scenario, &job.strategy, job.seed, keep_trace)
    }
}
