//! One (scenario, strategy) pair with its seeds, run in parallel and aggregated into a row.

use std::sync::Arc;

use sshrace_runner::{Job, Row, RunError, RunResult, execute};
use sshrace_scenario::Scenario;

use crate::{Error, Strategy};

/// The runner's cell (scenario, resolved strategy, seeds, the scenario's `[[expect]]` bound for
/// the strategy's name), with the strategy as the user named it.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) run: sshrace_runner::Cell,
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) strategy: Strategy,
    /// The strategy under test (not one added with `Check::also`, not a baseline).
    pub(crate) under_test: bool,
}

impl Cell {
    pub(crate) fn new(
        scenario: &Arc<Scenario>,
        strategy: &Strategy,
        seeds: Vec<u64>,
        under_test: bool,
    ) -> Result<Cell, Error> {
        let spec = strategy.resolve(scenario)?;
        let max_failure_rate = scenario.max_failure_rate(spec.name());
        Ok(Cell {
            run: sshrace_runner::Cell {
                scenario: scenario.clone(),
                strategy: spec,
                seeds,
                max_failure_rate,
                time_scale: None,
            },
            scenario: scenario.clone(),
            strategy: strategy.clone(),
            under_test,
        })
    }
}

/// A cell's runs, in seed order.
#[derive(Debug, Clone)]
pub(crate) struct CellRuns {
    pub(crate) cell: Cell,
    pub(crate) runs: Vec<RunResult>,
}

impl CellRuns {
    pub(crate) fn row(&self) -> Row {
        Row::aggregate(
            &self.runs.iter().collect::<Vec<_>>(),
            self.cell.run.max_failure_rate,
        )
    }
}

/// Run every seed of every cell on `threads` threads; with `keep_traces`, each run keeps its
/// whole trace (for printing a replay). Results never depend on the thread count.
pub(crate) fn run_cells(
    cells: Vec<Cell>,
    threads: usize,
    keep_traces: bool,
) -> Result<Vec<CellRuns>, Error> {
    let jobs: Vec<Job> = sshrace_runner::jobs(cells.iter().map(|cell| &cell.run));
    tracing::info!(
        cells = cells.len(),
        runs = jobs.len(),
        threads,
        keep_traces,
        "running check"
    );
    let results = if keep_traces {
        execute_traced(&jobs, threads)
    } else {
        execute(&jobs, threads, &|_| {})
    };
    let grouped_results = sshrace_runner::regroup(cells.iter().map(|cell| &cell.run), results);
    let mut grouped = Vec::with_capacity(cells.len());
    for (cell, results) in cells.into_iter().zip(grouped_results) {
        let mut runs = Vec::with_capacity(results.len());
        for (seed, result) in cell.run.seeds.iter().zip(results) {
            let run = result.map_err(|source| Error::Run {
                scenario: cell.scenario.path.clone(),
                strategy: cell.run.strategy.name().to_owned(),
                seed: *seed,
                source: Box::new(source),
            })?;
            tracing::debug!(
                scenario = %run.scenario,
                strategy = %run.strategy,
                seed = run.seed,
                failed = run.failed(),
                trace = %run.trace_hash,
                "run"
            );
            runs.push(run);
        }
        grouped.push(CellRuns { cell, runs });
    }
    Ok(grouped)
}

/// [`execute`], keeping each run's trace.
fn execute_traced(jobs: &[Job], threads: usize) -> Vec<Result<RunResult, RunError>> {
    sshrace_runner::execute_with(jobs, threads, true, &|_| {})
}
