//! Cells: one (scenario, strategy) pair with its seeds, the unit of a report row. The CLI and
//! the `sshrace` facade both expand cells into [`Job`]s with [`jobs`] and group the results
//! back with [`regroup`], so their rows are the same by construction.

use std::sync::Arc;

use sshrace_scenario::Scenario;
use sshrace_strategy::StrategySpec;

use crate::Job;

/// One (scenario, strategy) cell and the seeds to run it on.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// The strategy, resolved for the scenario.
    pub strategy: StrategySpec,
    /// The seeds, regression seeds first.
    pub seeds: Vec<u64>,
    /// The failure rate the row must not exceed, if any.
    pub max_failure_rate: Option<f64>,
    /// Real seconds per scenario second on containers (`None`: the simulation).
    pub time_scale: Option<f64>,
}

/// Every (scenario, strategy, seed) run of `cells`, cell by cell, in seed order.
pub fn jobs<'a>(cells: impl IntoIterator<Item = &'a Cell>) -> Vec<Job> {
    cells
        .into_iter()
        .flat_map(|cell| {
            cell.seeds.iter().map(|seed| Job {
                scenario: cell.scenario.clone(),
                strategy: cell.strategy.clone(),
                seed: *seed,
            })
        })
        .collect()
}

/// `results` in [`jobs`] order, grouped back per cell (each group in seed order).
///
/// # Panics
///
/// If there are fewer results than the cells have seeds.
pub fn regroup<'a, T>(
    cells: impl IntoIterator<Item = &'a Cell>,
    results: impl IntoIterator<Item = T>,
) -> Vec<Vec<T>> {
    let mut results = results.into_iter();
    cells
        .into_iter()
        .map(|cell| {
            cell.seeds
                .iter()
                .map(|_| results.next().expect("one result per job"))
                .collect()
        })
        .collect()
}
