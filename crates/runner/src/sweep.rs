//! Parameter sweeps: one scenario, some strategies, one parameter over a range of values, the
//! same seeds at every point.

use std::sync::Arc;

use sshrace_core::StrategyParams;
use sshrace_scenario::Scenario;

use crate::{Job, Parameter, Registry, Row, RunError, RunResult, execute};

/// A sweep ready to run: every point's scenario and strategies built and checked, so nothing
/// half-runs on a bad value.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The scenario's name.
    pub scenario: String,
    /// The parameter as given (`max_age_ms`, `workload.tool-calls.burst`).
    pub parameter: String,
    /// The seeds every (point, strategy) runs.
    pub seeds: Vec<u64>,
    /// The workload items whose operations count toward the failure rate.
    pub measured: Vec<String>,
    /// Each value with one job list per strategy (in strategy order, then seed order).
    pub points: Vec<(f64, Vec<Vec<Job>>)>,
}

/// One value of the swept parameter and a row per strategy, in the order the strategies were
/// given.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SweepPoint {
    /// The parameter's value.
    pub value: f64,
    /// One row per strategy.
    pub rows: Vec<Row>,
}

/// A sweep's results. Field order is the JSON key order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Sweep {
    /// The scenario's name.
    pub scenario: String,
    /// The parameter as given.
    pub parameter: String,
    /// The seeds every row ran.
    pub seeds: Vec<u64>,
    /// The workload items whose operations count toward the failure rate.
    pub measured: Vec<String>,
    /// The points, in the order the values were given.
    pub points: Vec<SweepPoint>,
}

impl SweepPlan {
    /// Plan `scenario` with each of `strategies` (resolved in `registry`) at every value of
    /// `parameter`, on `seeds`. Every value is applied and checked here; a strategy parameter
    /// reaches built-in strategies and the scenario's variants, not custom ones.
    pub fn new(
        registry: &Registry,
        scenario: &Scenario,
        strategies: &[String],
        parameter: &str,
        values: &[f64],
        seeds: &[u64],
    ) -> Result<SweepPlan, RunError> {
        let parsed = Parameter::parse(parameter, scenario)?;
        let mut points = Vec::with_capacity(values.len());
        for &value in values {
            let mut point_scenario = scenario.clone();
            let mut params = StrategyParams::default();
            parsed.apply(parameter, value, &mut point_scenario, &mut params)?;
            let point_scenario = Arc::new(point_scenario);
            let mut per_strategy = Vec::with_capacity(strategies.len());
            for name in strategies {
                let strategy = registry.resolve(&point_scenario, name, &params)?;
                per_strategy.push(
                    seeds
                        .iter()
                        .map(|&seed| Job {
                            scenario: point_scenario.clone(),
                            strategy: strategy.clone(),
                            seed,
                        })
                        .collect(),
                );
            }
            points.push((value, per_strategy));
        }
        Ok(SweepPlan {
            scenario: scenario.name.clone(),
            parameter: parameter.to_owned(),
            seeds: seeds.to_vec(),
            measured: scenario
                .workload
                .iter()
                .filter(|w| w.measured)
                .map(|w| w.name.clone())
                .collect(),
            points,
        })
    }

    /// Every job, point by point, strategy by strategy, seed by seed.
    pub fn jobs(&self) -> Vec<Job> {
        self.points
            .iter()
            .flat_map(|(_, per_strategy)| per_strategy.iter().flatten().cloned())
            .collect()
    }

    /// Run every job on `threads` threads (`progress` as in [`execute`]) and aggregate a row
    /// per (point, strategy).
    pub fn run(
        &self,
        threads: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Sweep, RunError> {
        let results = execute(&self.jobs(), threads, progress);
        self.collect(results)
    }

    /// Aggregate `results`, in [`SweepPlan::jobs`] order, into the sweep.
    pub fn collect(&self, results: Vec<Result<RunResult, RunError>>) -> Result<Sweep, RunError> {
        let mut results = results.into_iter();
        let mut points = Vec::with_capacity(self.points.len());
        for (value, per_strategy) in &self.points {
            let mut rows = Vec::with_capacity(per_strategy.len());
            for jobs in per_strategy {
                let runs = jobs
                    .iter()
                    .map(|_| results.next().expect("one result per job"))
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push(Row::aggregate(&runs.iter().collect::<Vec<_>>(), None));
            }
            points.push(SweepPoint {
                value: *value,
                rows,
            });
        }
        Ok(Sweep {
            scenario: self.scenario.clone(),
            parameter: self.parameter.clone(),
            seeds: self.seeds.clone(),
            measured: self.measured.clone(),
            points,
        })
    }
}

impl Sweep {
    /// The strategies swept, in order.
    pub fn strategies(&self) -> Vec<String> {
        self.points
            .first()
            .map(|p| p.rows.iter().map(|r| r.strategy.clone()).collect())
            .unwrap_or_default()
    }
}
