//! Fault fuzzing: timelines generated over scenarios/fuzz-base.toml, every run checked
//! against the invariants (`sshrace_runner::check_invariants`). The recommended `pool` passes;
//! weaker built-ins are caught, shrunk to a few events, and the printed scenario file replays
//! the same violation. The proptest seed is fixed (ChaCha), so every run of this file draws the
//! same cases; failing cases are stored in `fuzz-STRATEGY.proptest-regressions` beside it and
//! replay first. Logs are a contract in two places, checked with tracing-test.

use proptest::test_runner::FileFailurePersistence;
use sshrace_core::Fault;
use sshrace_runner::fuzz::{Direction, FuzzEventKind};
use sshrace_runner::{
    FuzzConfig, FuzzEvent, FuzzReport, Invariant, Registry, apply_events, builtin_scenarios,
    check_invariants, fuzz, run_one,
};
use sshrace_scenario::Scenario;
use tracing_test::traced_test;

fn base() -> Scenario {
    builtin_scenarios()
        .iter()
        .find(|b| b.name == "fuzz-base")
        .expect("fuzz-base is a built-in")
        .parse()
        .expect("fuzz-base parses")
}

/// The regression file of `strategy`'s fuzz test, beside this file: one per strategy, so a case
/// stored for one strategy does not steer another's search.
fn regressions(strategy: &str) -> &'static str {
    let path = format!(
        "{}/fuzz-{strategy}.proptest-regressions",
        env!("CARGO_MANIFEST_DIR")
    );
    Box::leak(path.into_boxed_str())
}

/// Fuzz `strategy` over fuzz-base with `cases` cases from the fixed seed, persisting failures.
fn fuzz_strategy(strategy: &str, cases: u32) -> FuzzReport {
    let base = base();
    let spec = Registry::new()
        .resolve(&base, strategy, &Default::default())
        .expect("built-in strategy");
    let config = FuzzConfig {
        persistence: Some(Box::new(FileFailurePersistence::Direct(regressions(
            strategy,
        )))),
        source_file: Some(file!()),
        ..FuzzConfig::new(cases, 0)
    };
    let report = fuzz(&base, &spec, config).expect("fuzzing runs");
    eprintln!(
        "{strategy}: {} runs in {:.2} s ({:.1} cases/s)",
        report.runs,
        report.elapsed.as_secs_f64(),
        report.runs_per_second()
    );
    report
}

/// `strategy` is caught breaking `invariant` with at most `max_events` events, and the printed
/// scenario file, parsed back and run, breaks it again.
fn assert_caught(strategy: &str, invariant: Invariant, max_events: usize) {
    let report = fuzz_strategy(strategy, 64);
    let failure = report
        .failure
        .unwrap_or_else(|| panic!("{strategy}: no violation found"));
    let path = format!("scenarios/fuzz-base-{strategy}-{invariant}.toml");
    let text = failure.scenario_file(
        &format!("sshrace fuzz fuzz-base --strategy {strategy} --cases 64 --seed 0"),
        strategy,
        &path,
    );
    eprintln!("{text}");
    assert_eq!(failure.invariant, invariant, "{strategy}: {text}");
    assert!(
        failure.events.len() <= max_events,
        "{strategy}: shrunk to {} events: {text}",
        failure.events.len()
    );
    assert!(text.starts_with("# found by sshrace fuzz fuzz-base"));
    let replayed = Scenario::from_str(&text, &path).expect("the printed scenario parses");
    assert_eq!(replayed.strategies, vec![strategy.to_owned()]);
    let spec = Registry::new()
        .resolve(&replayed, strategy, &Default::default())
        .expect("strategy resolves");
    let result = run_one(&replayed, &spec, failure.seed, false).expect("replay runs");
    let violations = check_invariants(&replayed, &result);
    assert!(
        violations.iter().any(|v| v.invariant == invariant),
        "{strategy}: the replay does not break {invariant}: {violations:?}"
    );
}

#[test]
fn pool_passes_every_invariant() {
    let report = fuzz_strategy("pool", 96);
    if let Some(failure) = report.failure {
        panic!(
            "pool broke an invariant: {:?}\n{}",
            failure.violations,
            failure.scenario_file("test", "pool", "scenarios/fuzz-base-pool.toml")
        );
    }
}

// Incident 001's fix: one cached connection, no bound on sessions: a burst past MaxSessions
// gets "open failed" on the 11th channel.
#[test]
fn cached_gets_max_sessions_refusals_under_a_burst() {
    assert_caught("cached", Invariant::MaxSessions, 2);
}

// No keepalive: a NAT forgets the flow during the silent build step, and the job hangs.
#[test]
fn fresh_hangs_when_a_nat_forgets_a_quiet_connection() {
    assert_caught("fresh", Invariant::Hang, 2);
}

// Incident 003: events emitted after DONE are lost, with no fault at all.
#[test]
fn swallow_loses_events_after_done() {
    assert_caught("swallow", Invariant::LostEvents, 2);
}

// Two commands arriving at once each create a master; one is orphaned and never closed.
#[test]
fn mux_exit_leaks_a_master_when_two_commands_race_to_create_it() {
    assert_caught("mux-exit", Invariant::Leak, 2);
}

/// The hand-written form of the cached hang: a NAT that forgets the quiet cached connection
/// makes it half-open and the next command waits forever, while the pool's keepalives notice.
/// (This test used a 30 s partition until the simulation retransmitted like TCP: after a
/// blackhole heals the cached connection resumes, as on real OpenSSH; a forgotten NAT flow
/// never does.)
#[test]
fn cached_hangs_on_a_half_open_connection_after_a_nat_forgets_it() {
    let events = [FuzzEvent {
        at_ms: 100_000,
        host: 0,
        kind: FuzzEventKind::NatIdle { idle_ms: 30_000 },
    }];
    let scenario = apply_events(&base(), &events);
    let check = |strategy: &str| {
        let spec = Registry::new()
            .resolve(&scenario, strategy, &Default::default())
            .unwrap();
        let result = run_one(&scenario, &spec, 0, false).unwrap();
        check_invariants(&scenario, &result)
    };
    let cached = check("cached");
    assert!(
        cached.iter().any(|v| v.invariant == Invariant::Hang),
        "{cached:?}"
    );
    assert_eq!(check("pool"), vec![]);
}

/// Generated events become timeline entries and workload items that validate: the scenario
/// round-trips through its file form, and every instant is within the duration.
#[test]
fn applied_events_round_trip_through_the_scenario_file() {
    let base = base();
    let events = [
        FuzzEvent {
            at_ms: 599_999,
            host: 3,
            kind: FuzzEventKind::Crash { down_ms: 60_000 },
        },
        FuzzEvent {
            at_ms: 10,
            host: 0,
            kind: FuzzEventKind::Burst {
                count: 3,
                duration_ms: 100,
            },
        },
    ];
    let scenario = apply_events(&base, &events);
    assert_eq!(scenario.timeline.len(), 2);
    assert_eq!(scenario.workload.len(), base.workload.len() + 1);
    let again = Scenario::from_str(&scenario.to_toml(), &scenario.path).unwrap();
    assert_eq!(again, scenario);
}

// The incident report's check: one connect, then reuse for every later command.
#[test]
#[traced_test]
fn cached_logs_one_connect_and_a_reuse_per_sequential_command() {
    let text = r#"
description = "five sequential commands"
strategies = ["cached"]
[sim]
duration_ms = 60_000
tick_ms = 10
[[host]]
name = "target"
[[workload]]
name = "seq"
host = "target"
every_ms = 10_000
duration_ms = 1_000
"#;
    let scenario = Scenario::from_str(text, "seq.toml").unwrap();
    let spec = Registry::new()
        .resolve(&scenario, "cached", &Default::default())
        .unwrap();
    let result = run_one(&scenario, &spec, 0, false).unwrap();
    let commands = result.operations.len();
    assert_eq!(commands, 6);
    logs_assert(|lines: &[&str]| {
        let established = lines
            .iter()
            .filter(|l| l.contains("connection established"))
            .count();
        let reused = lines
            .iter()
            .filter(|l| l.contains("reusing connection"))
            .count();
        match (established, reused) {
            (1, n) if n == commands - 1 => Ok(()),
            other => Err(format!("(established, reused) = {other:?}")),
        }
    });
}

// Each fault is logged when applied, with its simulated time.
#[test]
#[traced_test]
fn each_applied_fault_is_logged_with_its_time() {
    let events = [FuzzEvent {
        at_ms: 42_000,
        host: 0,
        kind: FuzzEventKind::Partition {
            direction: Direction::ToHost,
            hold_ms: 5_000,
        },
    }];
    let scenario = apply_events(&base(), &events);
    assert!(matches!(
        scenario.timeline[0].action,
        sshrace_scenario::Action::Fault(Fault::PartitionOneWay { .. })
    ));
    let spec = Registry::new()
        .resolve(&scenario, "pool", &Default::default())
        .unwrap();
    run_one(&scenario, &spec, 0, false).unwrap();
    logs_assert(|lines: &[&str]| {
        for (at, fault) in [
            ("at_ms=42000", "partition client -> target"),
            ("at_ms=47000", "heal client <-> target"),
        ] {
            if !lines
                .iter()
                .any(|l| l.contains("fault applied") && l.contains(at) && l.contains(fault))
            {
                return Err(format!("no \"fault applied\" line with {at} and {fault}"));
            }
        }
        Ok(())
    });
}
