//! One (scenario, strategy) pair with its seeds, run in parallel and aggregated into a row.

use std::sync::Arc;

use sshrace_runner::{Job, Row, RunError, RunResult, execute};
use sshrace_scenario::Scenario;
use sshrace_strategy::StrategySpec;

use crate::{Error, Strategy};

/// A scenario, a strategy resolved for it, and the seeds to run.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) strategy: Strategy,
    pub(crate) spec: StrategySpec,
    pub(crate) seeds: Vec<u64>,
    /// The scenario's `[[expect]]` bound for this strategy's name, if any.
    pub(crate) max_failure_rate: Option<f64>,
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
            scenario: scenario.clone(),
            strategy: strategy.clone(),
            spec,
            seeds,
            max_failure_rate,
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
            self.cell.max_failure_rate,
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
    let jobs: Vec<Job> = cells
        .iter()
        .flat_map(|cell| {
            cell.seeds.iter().map(|seed| Job {
                scenario: cell.scenario.clone(),
                strategy: cell.spec.clone(),
                seed: *seed,
            })
        })
        .collect();
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
    let mut results = jobs.iter().zip(results);
    let mut grouped = Vec::with_capacity(cells.len());
    for cell in cells {
        let mut runs = Vec::with_capacity(cell.seeds.len());
        for _ in &cell.seeds {
            let (job, result) = results.next().expect("one result per job");
            let run = result.map_err(|source| Error::Run {
                scenario: job.scenario.path.clone(),
                strategy: job.strategy.name().to_owned(),
                seed: job.seed,
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
