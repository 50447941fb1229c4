//! Comparisons: two strategies on the same seeds, the difference paired by seed.

use sshrace_runner::{Registry, compare};
use sshrace_scenario::Scenario;

fn scenario(name: &str) -> Scenario {
    sshrace_runner::builtin_scenarios()
        .iter()
        .find(|b| b.name == name)
        .expect("built-in")
        .parse()
        .expect("parses")
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `ssh -O exit` kills the long jobs in flight at each refresh; `ssh -O stop` drains them.
#[test]
fn exit_against_stop_on_stop_then_reap_is_a_significant_difference() {
    let seeds: Vec<u64> = (0..6).collect();
    let comparison = compare(
        &Registry::new(),
        &scenario("stop-then-reap"),
        ["mux-exit", "mux-stop"],
        &seeds,
        0.05,
        threads(),
        &|_| {},
    )
    .expect("compares");
    assert!(comparison.significant, "{comparison:#?}");
    assert!(comparison.paired_t.mean < 0.0 && comparison.paired_t.ci_high < 0.0);
    assert_eq!(comparison.b.failures, 0);
    assert_eq!((comparison.b_better, comparison.b_worse), (6, 0));
    assert_eq!(comparison.only_a_failed, seeds);
    assert!(comparison.only_b_failed.is_empty());
    assert_eq!(
        comparison.replay_command("mux-exit", 4),
        "sshrace replay scenarios/stop-then-reap.toml --strategy mux-exit --seed 4"
    );
}

#[test]
fn a_strategy_against_itself_is_not_significant() {
    let comparison = compare(
        &Registry::new(),
        &scenario("max-sessions-one-master"),
        ["cached", "cached"],
        &[0, 1, 2],
        0.05,
        threads(),
        &|_| {},
    )
    .expect("compares");
    assert!(
        comparison.a.failures > 0,
        "cached fails here, on both sides"
    );
    assert!(!comparison.significant);
    assert_eq!(comparison.paired_t.mean, 0.0);
    assert_eq!(comparison.p_value, 1.0);
    assert!(comparison.only_a_failed.is_empty() && comparison.only_b_failed.is_empty());
}

#[test]
fn a_comparison_needs_two_seeds() {
    let error = compare(
        &Registry::new(),
        &scenario("max-sessions-one-master"),
        ["cached", "pool"],
        &[0],
        0.05,
        threads(),
        &|_| {},
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "a comparison needs at least 2 seeds, got 1"
    );
}
