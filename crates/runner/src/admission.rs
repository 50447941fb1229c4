//! Admission: a scenario with its seeds, strategies and sweep points weighed as a whole before
//! anything runs. The scenario's own fields were checked against
//! [`sshrace_core::limits`] when it was parsed; what is left is what only the whole command
//! knows: how many runs there are, and what one run writes.

use sshrace_core::limits;
use sshrace_scenario::{Scenario, WorkloadKind};

use crate::RunError;

/// What a command will do, as admission worked it out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Operations one run plans (the expected count for Poisson arrivals).
    pub operations_per_run: f64,
    /// Bytes of stdout and stderr one run's commands write.
    pub bytes_per_run: f64,
    /// Runs: seeds × strategies × points.
    pub runs: u64,
    /// Operations over all runs.
    pub operations: f64,
}

/// Weigh `scenario` run `runs` times (seeds × strategies × sweep points); refuse it, naming
/// the scenario file and the limit, if it is past one.
pub fn admit(scenario: &Scenario, runs: u64) -> Result<Cost, RunError> {
    let mut operations_per_run = 0.0;
    let mut bytes_per_run = 0.0;
    for workload in &scenario.workload {
        let count = workload.arrivals.expected_count();
        operations_per_run += count;
        let bytes: f64 = match &workload.kind {
            WorkloadKind::Command { command, .. } | WorkloadKind::Interactive { command, .. } => {
                (command.stdout_bytes + command.stderr_bytes) as f64
            }
            WorkloadKind::Job { hosts, steps } => {
                hosts.len() as f64
                    * steps
                        .iter()
                        .map(|s| (s.command.stdout_bytes + s.command.stderr_bytes) as f64)
                        .sum::<f64>()
            }
        };
        bytes_per_run += count * bytes;
    }
    let refuse = |field: &str, message: String| {
        RunError::Admission(format!("{}: {field}: {message}", scenario.path))
    };
    if bytes_per_run > limits::RUN_BYTES as f64 {
        return Err(refuse(
            "workload",
            format!(
                "one run writes {bytes_per_run:.0} bytes of output, more than the limit of {} (16 GiB)",
                limits::RUN_BYTES
            ),
        ));
    }
    let operations = operations_per_run * runs as f64;
    if operations > limits::OPERATIONS_TOTAL as f64 {
        return Err(refuse(
            "workload",
            format!(
                "{operations_per_run:.0} operations per run × {runs} runs (seeds × strategies × points) = {operations:.0}, more than the limit of {} per command; run fewer seeds",
                limits::OPERATIONS_TOTAL
            ),
        ));
    }
    Ok(Cost {
        operations_per_run,
        bytes_per_run,
        runs,
        operations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_times_operations_past_the_limit_are_refused_naming_the_file() {
        let scenario = crate::builtin_scenarios()
            .iter()
            .find(|b| b.name == "flood-fresh-connections")
            .expect("built-in")
            .parse()
            .expect("parses");
        let cost = admit(&scenario, 1).expect("one run is admitted");
        assert!(cost.operations_per_run >= 1.0);
        let runs = (limits::OPERATIONS_TOTAL as f64 / cost.operations_per_run) as u64 + 1;
        let error = admit(&scenario, runs).unwrap_err().to_string();
        assert!(error.contains("flood-fresh-connections"), "{error}");
        assert!(
            error.contains("more than the limit of 100000000"),
            "{error}"
        );
    }
}
