//! The four incidents on real OpenSSH in containers, time-compressed, before and after.
//!
//! Each test runs a compressed scenario from tests/scenarios/ with its "before" and "after"
//! strategies through the container backend, the strategies unchanged, and judges them by the
//! in-container ledger exactly as the simulation does. Without Docker these tests skip with one
//! line; with CI=true a missing Docker fails them. No container is left afterwards.

use std::sync::Mutex;

use sshrace_core::{Cause, Outcome};
use sshrace_docker::image::{OpenSshProfile, ensure_image};
use sshrace_docker::preflight::require_docker;
use sshrace_docker::{Client, DockerRun, plan_docker, run_docker};
use sshrace_runner::scaled_params;
use sshrace_runner::{Registry, RunResult};
use sshrace_scenario::Scenario;

/// One container run at a time: the machine has two cores and timings matter.
static SERIAL: Mutex<()> = Mutex::new(());

fn scenario(file: &str) -> Scenario {
    let path = format!("{}/scenarios/{file}", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Run `strategy` on `file` for `seeds` on OpenSSH `version` at `scale` with `client`.
fn runs(
    file: &str,
    strategy: &str,
    seeds: std::ops::Range<u64>,
    client: Client,
    scale: f64,
) -> Vec<RunResult> {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let version = OpenSshProfile::OpenSsh92;
    ensure_image(version, &mut |line| eprintln!("image: {line}")).expect("target image");
    let scenario = scenario(file);
    let scale = plan_docker(&scenario, Some(scale)).expect("runs on containers");
    let spec = Registry::new()
        .resolve(&scenario, strategy, &scaled_params(scale))
        .expect("strategy");
    let options = DockerRun {
        openssh: version,
        time_scale: scale,
        client,
    };
    let results: Vec<RunResult> = seeds
        .map(|seed| {
            run_docker(&scenario, &spec, seed, &options, false)
                .unwrap_or_else(|e| panic!("{file} {strategy} seed {seed}: {e}"))
        })
        .collect();
    assert_no_leftovers();
    results
}

fn assert_no_leftovers() {
    let left = sshrace_docker::clean::leftovers_of_this_process().expect("docker ps");
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

/// Outcomes of the measured operations of every run.
fn outcomes(runs: &[RunResult]) -> Vec<Outcome> {
    runs.iter()
        .flat_map(|r| r.measured().map(|(_, o)| *o).collect::<Vec<_>>())
        .collect()
}

fn describe(runs: &[RunResult]) -> String {
    runs.iter()
        .map(|r| {
            format!(
                "seed {}: {:?}",
                r.seed,
                r.operations
                    .iter()
                    .map(|(_, o)| o.key())
                    .collect::<Vec<_>>()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// Seed 000: the real `ssh -O exit` kills the deploy streaming over the master (255); the real
// `ssh -O stop` lets it finish.
#[test]
fn deploy_recycled_with_exit_dies_with_255_and_with_stop_finishes() {
    if !require_docker() {
        return;
    }
    let before = runs(
        "docker-deploy-recycle.toml",
        "mux-exit-20s",
        0..2,
        Client::OpenSsh,
        0.1,
    );
    for outcome in outcomes(&before) {
        assert!(
            matches!(outcome, Outcome::Transport(_)),
            "every deploy dies of a transport error (ssh exit 255):\n{}",
            describe(&before)
        );
    }
    let after = runs(
        "docker-deploy-recycle.toml",
        "mux-stop-20s",
        0..2,
        Client::OpenSsh,
        0.1,
    );
    assert!(
        outcomes(&after).iter().all(|o| *o == Outcome::Success),
        "{}",
        describe(&after)
    );
}

// Seed 001: 80 parallel fresh connections meet the real MaxStartups 10:30:100 and some are
// dropped before the banner; a pool stays under it.
#[test]
fn flood_of_fresh_connections_hits_real_max_startups_and_a_pool_does_not() {
    if !require_docker() {
        return;
    }
    let before = runs("docker-flood.toml", "fresh", 0..1, Client::Russh, 0.5);
    let dropped = outcomes(&before)
        .iter()
        .filter(|o| **o == Outcome::Transport(Cause::ClosedBeforeBanner))
        .count();
    assert!(
        (8..=60).contains(&dropped),
        "80 parallel connections, MaxStartups 10:30:100: expected ~40% dropped, got {dropped}:\n{}",
        describe(&before)
    );
    let after = runs("docker-flood.toml", "pool", 0..1, Client::Russh, 0.5);
    assert!(
        outcomes(&after).iter().all(|o| *o == Outcome::Success),
        "{}",
        describe(&after)
    );
}

// Seed 002: the control plane flaps the agent to DISCONNECTED; the old gate tears the healthy
// real session down (a false disconnect), the fixed gate keeps it.
#[test]
fn agent_flap_tears_down_a_healthy_session_only_with_the_old_gate() {
    if !require_docker() {
        return;
    }
    let before = runs(
        "docker-agent-flap.toml",
        "agent-status",
        0..1,
        Client::OpenSsh,
        0.1,
    );
    assert_eq!(
        outcomes(&before),
        vec![Outcome::FalseDisconnect],
        "{}",
        describe(&before)
    );
    let after = runs(
        "docker-agent-flap.toml",
        "workspace-running",
        0..1,
        Client::OpenSsh,
        0.1,
    );
    assert_eq!(
        outcomes(&after),
        vec![Outcome::Success],
        "{}",
        describe(&after)
    );
}

// Seed 003: hive-b is killed mid-build; the swallowing runner reports success although the
// in-container ledger shows the build never finished (a silent failure); propagate fails loudly.
#[test]
fn swallowed_error_is_a_silent_failure_by_the_container_ledger() {
    if !require_docker() {
        return;
    }
    let before = runs(
        "docker-swallowed-error.toml",
        "swallow",
        0..1,
        Client::OpenSsh,
        0.1,
    );
    assert_eq!(
        outcomes(&before),
        vec![Outcome::SilentFailure],
        "{}",
        describe(&before)
    );
    let after = runs(
        "docker-swallowed-error.toml",
        "propagate",
        0..1,
        Client::OpenSsh,
        0.1,
    );
    let after_outcomes = outcomes(&after);
    assert!(
        after_outcomes
            .iter()
            .all(|o| o.is_failure() && *o != Outcome::SilentFailure),
        "propagate fails the job loudly: {}",
        describe(&after)
    );
}

// The client's version as a dimension: the OpenSSH 10.0 client, from the trixie image's Debian
// packages, run on the host against a 10.0 sshd. Its `ssh -O exit` kills the command in flight
// as the host's 9.2 client's does (docs/calibration.md, "The client's version").
#[test]
fn the_openssh_10_client_from_its_image_kills_with_exit() {
    if !require_docker() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let version = OpenSshProfile::OpenSsh100;
    ensure_image(version, &mut |line| eprintln!("image: {line}")).expect("target image");
    let client = sshrace_docker::ensure_client(version, &mut |line| eprintln!("client: {line}"))
        .expect("the 10.0 client");
    assert!(
        client.banner.starts_with("OpenSSH_10.0"),
        "ssh -V of the extracted client: {:?}",
        client.banner
    );
    let path = format!(
        "{}/../scenarios/calibration/mux-exit-vs-stop.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    scenario.with_profile(version);
    let scale = 0.5;
    let spec = Registry::new()
        .resolve(&scenario, "mux-exit", &scaled_params(scale))
        .expect("strategy");
    let options = DockerRun {
        openssh: version,
        time_scale: scale,
        client: Client::OpenSshVersion(version),
    };
    let run = run_docker(&scenario, &spec, 0, &options, true).expect("run");
    assert_no_leftovers();
    let all: Vec<(&str, Outcome)> = run
        .operations
        .iter()
        .map(|(record, outcome)| (record.workload.as_str(), *outcome))
        .collect();
    let trace = run.trace.as_ref().map(|t| t.render()).unwrap_or_default();
    // The warm-up ran over the extracted client (a client that cannot start fails it too).
    assert_eq!(
        all.first(),
        Some(&("warm-up", Outcome::Success)),
        "{all:?}\n{trace}"
    );
    assert!(
        matches!(all.get(1), Some(("deploy", Outcome::Transport(_)))),
        "the -O exit kills the deploy in flight (ssh exits 255): {all:?}\n{trace}"
    );
}
