//! The built-in matrix at a fixed seed set, as a reviewed insta snapshot: any change in any
//! cell (a failure count, an outcome, a connection count) fails CI until it is reviewed with
//! `cargo insta review` and the commit message says why. CI runs with INSTA_UPDATE=no.

use sshrace_runner::report::{Format, render};
use sshrace_tests::matrix_rows;

#[test]
fn builtin_matrix_at_seeds_0_and_1() {
    let rows = matrix_rows(&[0, 1]);
    for row in &rows {
        assert!(
            !row.breaks_expectation(),
            "{} / {} breaks its expectation: {:.3} > {:?}",
            row.scenario,
            row.strategy,
            row.failure_rate,
            row.max_failure_rate
        );
    }
    insta::assert_snapshot!(render(&rows, Format::Table));
}

/// Seeds run in parallel, but results come back in job order: the same rows whatever the
/// number of threads.
#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    use sshrace_runner::{Job, Registry, builtin_scenarios, execute};
    let scenario = std::sync::Arc::new(
        builtin_scenarios()
            .iter()
            .find(|b| b.name == "max-sessions-one-master")
            .unwrap()
            .parse()
            .unwrap(),
    );
    let strategy = Registry::new()
        .resolve(&scenario, "cached", &Default::default())
        .unwrap();
    let jobs: Vec<Job> = (0..6)
        .map(|seed| Job {
            scenario: scenario.clone(),
            strategy: strategy.clone(),
            seed,
        })
        .collect();
    let hashes = |threads| -> Vec<String> {
        execute(&jobs, threads, &|_| {})
            .into_iter()
            .map(|r| r.unwrap().trace_hash)
            .collect()
    };
    assert_eq!(hashes(1), hashes(3));
}
