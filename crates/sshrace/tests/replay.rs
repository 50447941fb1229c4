//! `SSHRACE_SEED`, `SSHRACE_SEEDS`, `SSHRACE_SHARD`, `RUST_LOG` and quiet success, seen as a developer sees them:
//! each test runs an ignored child test of this binary in its own process, with the variables
//! set, and reads what it printed.

mod common;

use common::one_shot;
use sshrace::{Check, builtin};

const STORM: &str = "max-startups-retry-storm";

/// Run the ignored child test `name` of this binary with `vars` (and none of sshrace's
/// variables from this process); whether it passed, and its stdout and stderr.
fn child(name: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([name, "--exact", "--ignored", "--nocapture"]);
    for variable in ["SSHRACE_SEED", "SSHRACE_SEEDS", "SSHRACE_SHARD", "RUST_LOG"] {
        command.env_remove(variable);
    }
    command
        .env("RUST_BACKTRACE", "0")
        .envs(vars.iter().copied());
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("running 1 test"),
        "{name} did not run: {text}"
    );
    (output.status.success(), text)
}

#[test]
#[ignore = "a child process of the tests in this file"]
fn child_prints_its_seeds() {
    let report = Check::new("pool")
        .scenario(builtin::named(STORM))
        .seeds(0..3)
        .run();
    let seeds: Vec<u64> = report.runs().map(|run| run.seed).collect();
    println!("seeds ran: {seeds:?}");
}

#[test]
#[ignore = "a child process of the tests in this file"]
fn child_prints_its_runs() {
    match Check::new("cached")
        .scenarios([builtin::named("agent-flap"), builtin::named(STORM)])
        .also("pool")
        .seeds(0..5)
        .try_run()
    {
        Ok(report) => {
            for run in report.runs() {
                println!(
                    "ran {} {} {} {}",
                    run.scenario, run.strategy, run.seed, run.trace_hash
                );
            }
        }
        Err(error) => println!("error: {error}"),
    }
}

/// The `ran ...` lines of a child, sorted.
fn runs_of(text: &str) -> Vec<String> {
    let mut runs: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("ran "))
        .map(str::to_owned)
        .collect();
    runs.sort();
    runs
}

#[test]
fn sshrace_shard_splits_a_check_so_the_shards_together_run_each_pair_once() {
    let (ok, whole) = child("child_prints_its_runs", &[]);
    assert!(ok, "{whole}");
    let whole = runs_of(&whole);
    assert!(whole.len() >= 20, "{whole:?}");
    let mut together = Vec::new();
    for k in 1..=3 {
        let (ok, text) = child(
            "child_prints_its_runs",
            &[("SSHRACE_SHARD", &format!("{k}/3"))],
        );
        assert!(ok, "{text}");
        assert!(text.contains(&format!("SSHRACE_SHARD={k}/3: ")), "{text}");
        let runs = runs_of(&text);
        // Both strategies of a (scenario, seed) pair run in the same shard.
        for run in &runs {
            let fields: Vec<&str> = run.split(' ').collect();
            let other = if fields[2] == "cached" {
                "pool"
            } else {
                "cached"
            };
            assert!(
                runs.iter()
                    .any(|r| r.starts_with(&format!("ran {} {other} {} ", fields[1], fields[3]))),
                "{run} without its pair in shard {k}/3: {runs:?}"
            );
        }
        together.extend(runs);
    }
    together.sort();
    assert_eq!(
        together, whole,
        "the shards together are the whole, each run once"
    );
    let (_, text) = child("child_prints_its_runs", &[("SSHRACE_SHARD", "4/3")]);
    assert!(
        text.contains("error: SSHRACE_SHARD=\"4/3\": 4/3: the shard number must be 1 to 3"),
        "{text}"
    );
}

#[test]
#[ignore = "a child process of the tests in this file"]
#[should_panic(expected = "SSHRACE_SEED=")]
fn child_fails_the_storm() {
    Check::new(one_shot())
        .scenario(builtin::named(STORM))
        .seeds(0..3)
        .run()
        .assert_failure_rate_below(STORM, 0.01);
}

#[test]
#[ignore = "a child process of the tests in this file"]
fn child_passes() {
    Check::new("pool")
        .scenario(builtin::named(STORM))
        .seeds(0..2)
        .run()
        .assert_no_silent_failures()
        .assert_failure_rate_below(STORM, 0.01);
}

#[test]
fn sshrace_seeds_overrides_the_seeds_of_the_check() {
    let (passed, output) = child("child_prints_its_seeds", &[]);
    assert!(
        passed && output.contains("seeds ran: [0, 1, 2]\n"),
        "{output}"
    );
    let (passed, output) = child("child_prints_its_seeds", &[("SSHRACE_SEEDS", "5..7")]);
    assert!(passed && output.contains("seeds ran: [5, 6]\n"), "{output}");
}

#[test]
fn the_printed_replay_command_reruns_the_failing_seed_with_its_timeline() {
    let (passed, output) = child("child_fails_the_storm", &[]);
    assert!(passed, "the child panics as it should: {output}");
    let line = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("SSHRACE_SEED="))
        .unwrap_or_else(|| panic!("no replay command in: {output}"));
    let (seed, rest) = line.split_once(' ').unwrap();
    assert_eq!(
        rest,
        "cargo test -- child_fails_the_storm --exact --nocapture"
    );

    let (passed, replay) = child("child_fails_the_storm", &[("SSHRACE_SEED", seed)]);
    assert!(passed, "the replay fails the same way: {replay}");
    for expected in [
        format!("sshrace: SSHRACE_SEED={seed}: running seed {seed} only\n"),
        format!(
            "sshrace: replay scenarios/max-startups-retry-storm.toml strategy one-shot seed {seed} backend sim tick 1 ms\n"
        ),
        "client     c0: connect to target\n".to_owned(),
        "outcomes:\n  op    1 storm            ".to_owned(),
        format!("failing seeds:\n  max-startups-retry-storm: {seed}\n"),
        format!("replay:\n  SSHRACE_SEED={seed} cargo test -- child_fails_the_storm"),
    ] {
        assert!(replay.contains(&expected), "{expected:?} not in: {replay}");
    }
}

#[test]
fn a_passing_check_prints_nothing() {
    let (passed, output) = child("child_passes", &[]);
    assert!(passed, "{output}");
    assert!(!output.contains("sshrace"), "{output}");
}

#[test]
fn rust_log_shows_a_line_per_run() {
    let (passed, output) = child("child_passes", &[("RUST_LOG", "sshrace=debug")]);
    assert!(passed, "{output}");
    assert!(output.contains("running check cells=1 runs=2"), "{output}");
    let runs = output
        .lines()
        .filter(|l| l.contains("sshrace::cell") && l.contains(" run "))
        .count();
    assert_eq!(runs, 2, "{output}");
}
