//! Sweeps: a sweep's rows are exactly the rows a direct run gives at the same parameter value
//! and seeds, for scenario settings and strategy parameters alike.

use std::time::Duration;

use sshrace_core::StrategyParams;
use sshrace_runner::{Registry, Row, SweepPlan, run_one};
use sshrace_scenario::{Arrivals, Scenario};

fn scenario() -> Scenario {
    sshrace_runner::builtin_scenarios()
        .iter()
        .find(|b| b.name == "max-sessions-one-master")
        .expect("built-in")
        .parse()
        .expect("parses")
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Rows of `name` on `scenario` with `params`, run one seed at a time and aggregated.
fn direct_row(scenario: &Scenario, name: &str, params: &StrategyParams, seeds: &[u64]) -> Row {
    let spec = Registry::new()
        .resolve(scenario, name, params)
        .expect("resolves");
    let runs: Vec<_> = seeds
        .iter()
        .map(|seed| run_one(scenario, &spec, *seed, false).expect("runs"))
        .collect();
    Row::aggregate(&runs.iter().collect::<Vec<_>>(), None)
}

#[test]
fn burst_sweep_rows_equal_direct_runs_at_the_same_points() {
    let scenario = scenario();
    let strategies = ["cached".to_owned(), "pool".to_owned()];
    let seeds = [0, 1];
    let plan = SweepPlan::new(
        &Registry::new(),
        &scenario,
        &strategies,
        "workload.parallel.burst",
        &[5.0, 13.0],
        &seeds,
    )
    .expect("plans");
    let sweep = plan.run(threads(), &|_| {}).expect("runs");
    assert_eq!(sweep.points.len(), 2);
    for point in &sweep.points {
        let mut direct = scenario.clone();
        direct.workload[1].arrivals = Arrivals::Burst {
            at: Duration::from_secs(5),
            count: point.value as u32,
        };
        for (row, name) in point.rows.iter().zip(&strategies) {
            let expected = direct_row(&direct, name, &StrategyParams::default(), &seeds);
            assert_eq!(row, &expected, "{name} at burst {}", point.value);
        }
    }
    // Five parallel commands fit in MaxSessions 10 on one cached connection; thirteen do not.
    assert_eq!(sweep.points[0].rows[0].failures, 0);
    assert_eq!(sweep.points[1].rows[0].failures, 6);
}

#[test]
fn strategy_parameter_sweep_rows_equal_direct_runs() {
    let scenario = scenario();
    let seeds = [0];
    let plan = SweepPlan::new(
        &Registry::new(),
        &scenario,
        &["pool".to_owned()],
        "max_connections",
        &[1.0, 4.0],
        &seeds,
    )
    .expect("plans");
    let sweep = plan.run(threads(), &|_| {}).expect("runs");
    for point in &sweep.points {
        let params = StrategyParams {
            max_connections: Some(point.value as u32),
            ..StrategyParams::default()
        };
        assert_eq!(
            point.rows[0],
            direct_row(&scenario, "pool", &params, &seeds)
        );
    }
    // One connection per host at most, against the default four, for 13 parallel commands.
    assert_eq!(sweep.points[0].rows[0].connections_opened, 1);
    assert!(sweep.points[1].rows[0].connections_opened > 1);
}

#[test]
fn unknown_parameters_are_refused_before_anything_runs() {
    let error = SweepPlan::new(
        &Registry::new(),
        &scenario(),
        &["pool".to_owned()],
        "workload.parallel.bursts",
        &[1.0],
        &[0],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("workload.<name>.<key> with <name> one of warm-up, parallel"),
        "{error}"
    );
}
