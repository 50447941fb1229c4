//! Helpers shared by sshrace's behaviour tests.

use std::time::Duration;

use sshrace_core::{CommandSpec, Connection, ExecResult, TransportError};

/// Run `spec` on `connection` and wait for it.
pub async fn run(
    connection: &dyn Connection,
    spec: CommandSpec,
) -> Result<ExecResult, TransportError> {
    connection.exec(&spec.to_command_line()).await?.wait().await
}

/// Seconds as a `Duration`.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Simulated time now (inside a simulation host).
pub fn now() -> Duration {
    turmoil::sim_elapsed().expect("inside a simulation")
}

/// A strategy environment for client code running in a simulation.
pub fn env(ctx: &sshrace_sim::SimContext) -> sshrace_strategy::Env {
    sshrace_strategy::Env {
        transport: ctx.transport.clone(),
        control: ctx.control.clone(),
        trace: ctx.trace.clone(),
        seed: ctx.seed,
    }
}

/// A request to run `spec` on `host`.
pub fn request(host: &str, spec: &CommandSpec) -> sshrace_strategy::Request {
    sshrace_strategy::Request::new(host, spec.to_command_line())
}

/// Rows of every built-in scenario with each of its strategies over `seeds`, as `sshrace matrix`
/// computes them (in parallel; results do not depend on the thread count).
pub fn matrix_rows(seeds: &[u64]) -> Vec<sshrace_runner::Row> {
    use sshrace_runner::{Job, Registry, Row, builtin_scenarios, execute};
    let mut cells = Vec::new();
    for builtin in builtin_scenarios() {
        let scenario = std::sync::Arc::new(builtin.parse().expect("built-in parses"));
        for name in &scenario.strategies {
            let spec = Registry::new()
                .resolve(&scenario, name, &Default::default())
                .expect("strategy resolves");
            let expected = scenario.max_failure_rate(name);
            cells.push((scenario.clone(), spec, expected));
        }
    }
    let jobs: Vec<Job> = cells
        .iter()
        .flat_map(|(scenario, spec, _)| {
            seeds.iter().map(|seed| Job {
                scenario: scenario.clone(),
                strategy: spec.clone(),
                seed: *seed,
            })
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: Vec<_> = execute(&jobs, threads, &|_| {})
        .into_iter()
        .map(|r| r.expect("run"))
        .collect();
    cells
        .iter()
        .zip(results.chunks(seeds.len()))
        .map(|((_, _, expected), runs)| Row::aggregate(&runs.iter().collect::<Vec<_>>(), *expected))
        .collect()
}
