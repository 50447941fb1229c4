//! What a check runs and what its assertions judge.

mod common;

use std::sync::Arc;

use common::{leaky, one_shot, panic_message};
use sshrace::{Check, Error, Scenario, builtin};
use sshrace_runner::{Job, Row, execute};

/// A burst of 60 connections against MaxStartups 10:30:100 (fast: no idle time).
const STORM: &str = "max-startups-retry-storm";
/// 13 parallel commands over one connection with MaxSessions 10.
const SESSIONS: &str = "max-sessions-one-master";

#[test]
fn rows_are_the_command_line_rows() {
    let report = Check::new("pool")
        .scenario(builtin::named(STORM))
        .seeds(0..3)
        .run();
    let scenario = Arc::new(builtin::named(STORM));
    let spec = sshrace_runner::Registry::new()
        .resolve(&scenario, "pool", &Default::default())
        .unwrap();
    let jobs: Vec<Job> = (0..3)
        .map(|seed| Job {
            scenario: scenario.clone(),
            strategy: spec.clone(),
            seed,
        })
        .collect();
    let runs: Vec<_> = execute(&jobs, 1, &|_| {})
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let expected = Row::aggregate(&runs.iter().collect::<Vec<_>>(), Some(0.0));
    assert_eq!(report.rows(), [expected]);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let check = Check::new(one_shot())
        .scenarios([builtin::named(STORM), builtin::named(SESSIONS)])
        .seeds(0..3);
    assert_eq!(
        check.clone().threads(1).run().rows(),
        check.threads(4).run().rows()
    );
}

#[test]
fn a_failed_assertion_shows_the_table_the_seeds_and_the_test_to_rerun() {
    let report = Check::new(one_shot())
        .scenario(builtin::named(STORM))
        .seeds(0..2)
        .run();
    let message = panic_message(|| {
        report.assert_failure_rate_below(STORM, 0.01);
    });
    assert!(
        message.starts_with("sshrace: one-shot failed 40.8% of measured operations in max-startups-retry-storm (49 of 120"),
        "{message}"
    );
    assert!(
        message.contains("scenario                  strategy  runs  ops"),
        "{message}"
    );
    assert!(
        message.contains("failing seeds:\n  max-startups-retry-storm: 0, 1\n"),
        "{message}"
    );
    assert!(
        message.ends_with(
            "replay:\n  SSHRACE_SEED=0 cargo test -- a_failed_assertion_shows_the_table_the_seeds_and_the_test_to_rerun --exact --nocapture\n"
        ),
        "{message}"
    );
}

#[test]
fn a_builtin_strategy_is_replayed_with_the_command_line() {
    let report = Check::new("fresh")
        .scenario(builtin::named(STORM))
        .seeds(3..5)
        .run();
    let message = panic_message(|| {
        report.assert_failure_rate_below(STORM, 0.01);
    });
    assert!(
        message.contains(
            "replay:\n  sshrace replay scenarios/max-startups-retry-storm.toml --strategy fresh --seed 3\n"
        ),
        "{message}"
    );
}

#[test]
fn a_passing_check_chains_its_assertions() {
    Check::new("pool")
        .scenarios([builtin::named(STORM), builtin::named(SESSIONS)])
        .seeds(0..2)
        .run()
        .assert_no_silent_failures()
        .assert_no_leaks()
        .assert_meets_expectations()
        .assert_failure_rate_below(STORM, 0.01)
        .assert_failure_rate_below(SESSIONS, 0.01);
}

#[test]
fn a_swallowed_error_is_a_silent_failure() {
    let report = Check::new("swallow")
        .scenario(builtin::named("swallowed-install-error"))
        .seeds(0..2)
        .run();
    let message = panic_message(|| {
        report.assert_no_silent_failures();
    });
    assert!(
        message.starts_with(
            "sshrace: swallow reported success for 2 operation(s) the server never completed"
        ),
        "{message}"
    );
    assert!(message.contains("--strategy swallow --seed 0"), "{message}");
}

#[test]
fn connections_left_open_after_shutdown_are_leaks() {
    let report = Check::new(leaky())
        .scenario(builtin::named(SESSIONS))
        .seeds(0..1)
        .run();
    let message = panic_message(|| {
        report.assert_no_leaks();
    });
    assert!(
        message.starts_with("sshrace: leaky left sessions or connections open after shutdown"),
        "{message}"
    );
    assert!(message.contains("SSHRACE_SEED=0 cargo test"), "{message}");
}

#[test]
fn a_strategy_is_not_worse_than_itself() {
    Check::new(one_shot())
        .scenario(builtin::named(STORM))
        .seeds(0..4)
        .run()
        .assert_not_worse_than(one_shot());
}

#[test]
fn a_consistent_regression_is_worse_than_the_baseline() {
    let report = Check::new(one_shot())
        .scenarios([builtin::named(STORM), builtin::named(SESSIONS)])
        .seeds(0..4)
        .run();
    let differences = report.compare("pool").unwrap();
    assert_eq!(differences.len(), 2);
    assert!(differences[0].is_worse(), "{}", differences[0].summary());
    assert_eq!(differences[0].baseline_failure_rate, 0.0);
    assert_eq!(differences[0].worse_seeds.len(), 4);

    let message = panic_message(|| {
        report.assert_not_worse_than("pool");
    });
    assert!(
        message.starts_with(
            "sshrace: one-shot is worse than pool:\n  max-startups-retry-storm: one-shot "
        ),
        "{message}"
    );
    assert!(message.contains("points (95% CI +"), "{message}");
    assert!(
        message.contains("max-startups-retry-storm  pool      4"),
        "{message}"
    );
    assert!(message.contains("SSHRACE_SEED="), "{message}");
}

#[test]
fn other_strategies_add_rows_but_assertions_judge_the_strategy_under_test() {
    let report = Check::new("pool")
        .also("fresh")
        .scenario(builtin::named(STORM))
        .seeds(0..2)
        .run();
    let strategies: Vec<&str> = report.rows().iter().map(|r| r.strategy.as_str()).collect();
    assert_eq!(strategies, ["pool", "fresh"]);
    assert!(report.rows()[1].failures > 0);
    assert_eq!(report.row(STORM).unwrap().strategy, "pool");
    report.assert_failure_rate_below(STORM, 0.01);
}

#[test]
fn a_scenarios_expectation_applies_to_the_strategy_of_that_name() {
    let pretender = one_shot().renamed("pool");
    let report = Check::new(pretender)
        .scenario(builtin::named(STORM))
        .seeds(0..2)
        .run();
    assert_eq!(report.rows()[0].max_failure_rate, Some(0.0));
    let message = panic_message(|| {
        report.assert_meets_expectations();
    });
    assert!(
        message
            .starts_with("sshrace: pool breaks the max_failure_rate of max-startups-retry-storm"),
        "{message}"
    );
    assert!(
        message.contains("! failure rate above the scenario's max_failure_rate"),
        "{message}"
    );
}

#[test]
fn an_unknown_scenario_name_lists_the_checked_scenarios() {
    let report = Check::new("pool")
        .scenario(builtin::named(SESSIONS))
        .seeds(0..1)
        .run();
    let message = panic_message(|| {
        report.assert_failure_rate_below("max-sessions", 0.01);
    });
    assert_eq!(
        message,
        "sshrace: this check has no scenario named \"max-sessions\" (it has: max-sessions-one-master)"
    );
}

#[test]
fn your_own_scenario_files_run_like_the_builtins() {
    let dir = std::env::temp_dir().join(format!("sshrace-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = |name: &str| {
        let builtin = sshrace_runner::builtin_scenarios()
            .iter()
            .find(|b| b.name == name);
        builtin.unwrap().text
    };
    std::fs::write(dir.join("b-sessions.toml"), text(SESSIONS)).unwrap();
    std::fs::write(dir.join("a-storm.toml"), text(STORM)).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a scenario").unwrap();
    let scenarios = sshrace::scenarios_in(&dir).unwrap();
    let one = Scenario::load(dir.join("b-sessions.toml")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a-storm", "b-sessions"]);
    assert_eq!(one, scenarios[1]);
    let report = Check::new("pool").scenarios(scenarios).seeds(0..1).run();
    let builtin = Check::new("pool")
        .scenario(builtin::named(SESSIONS))
        .seeds(0..1)
        .run();
    assert_eq!(
        report.row("b-sessions").unwrap().failures,
        builtin.rows()[0].failures
    );
    assert_eq!(
        report.replay_command("b-sessions", 0).unwrap(),
        format!(
            "sshrace replay {} --strategy pool --seed 0",
            dir.join("b-sessions.toml").display()
        )
    );
}

#[test]
fn a_check_that_cannot_run_says_why() {
    assert!(matches!(
        Check::new("pool").try_run(),
        Err(Error::NoScenarios)
    ));
    assert!(matches!(
        Check::new("pool")
            .scenario(builtin::named(STORM))
            .seeds(0..0)
            .try_run(),
        Err(Error::NoSeeds)
    ));
    let error = Check::new("pool")
        .scenarios([builtin::named(STORM), builtin::named(STORM)])
        .try_run()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "two scenarios are named \"max-startups-retry-storm\" (scenarios/max-startups-retry-storm.toml and scenarios/max-startups-retry-storm.toml): set `name` in one of them"
    );
    let error = Check::new("pool-of-two")
        .scenario(builtin::named(STORM))
        .try_run()
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("scenarios/max-startups-retry-storm.toml: unknown strategy \"pool-of-two\" (known: fresh, cached,"),
        "{error}"
    );
    let message = panic_message(|| {
        Check::new("pool").run();
    });
    assert_eq!(
        message,
        "sshrace: no scenarios to run: add some with Check::scenarios, e.g. builtin::all()"
    );
}
