//! One test per incident in ../shared/seeds/: the "before" strategy fails the way the incident
//! did and the "after" strategy does not (or fails only loudly, where that is the fix).

use sshrace_core::Outcome;
use sshrace_runner::{Registry, Row, RunResult, builtin_scenarios, run_one};

fn runs(scenario: &str, strategy: &str, seeds: std::ops::Range<u64>) -> Vec<RunResult> {
    let builtin = builtin_scenarios()
        .iter()
        .find(|b| b.name == scenario)
        .unwrap();
    let scenario = builtin.parse().unwrap();
    let spec = Registry::new()
        .resolve(&scenario, strategy, &Default::default())
        .unwrap();
    seeds
        .map(|seed| run_one(&scenario, &spec, seed, false).unwrap())
        .collect()
}

fn row(scenario: &str, strategy: &str, seeds: std::ops::Range<u64>) -> Row {
    let runs = runs(scenario, strategy, seeds);
    Row::aggregate(&runs.iter().collect::<Vec<_>>(), None)
}

// https://github.com/coollabsio/coolify (seed 000): `ssh -O exit` on an aged master kills the
// deployment streaming over it; `-O stop` (PR 11377) does not.
#[test]
fn coolify_age_recycle_kills_inflight_deploys_only_with_exit() {
    let before = row("deploy-age-recycle", "mux-exit", 0..8);
    let after = row("deploy-age-recycle", "mux-stop", 0..8);
    assert!(before.failures > 0, "{before:?}");
    assert!(before.outcomes.contains_key("transport:closed-locally"));
    assert_eq!(after.failures, 0, "{after:?}");
}

// Seed 001: a fresh connection per parallel tool call trips MaxStartups; the cached connection
// trips MaxSessions instead; the pool trips neither.
#[test]
fn automation_service_flood_fails_fresh_and_cached_not_pool() {
    let fresh = row("flood-fresh-connections", "fresh", 0..3);
    let cached = row("flood-fresh-connections", "cached", 0..3);
    let pool = row("flood-fresh-connections", "pool", 0..3);
    assert!(
        fresh
            .outcomes
            .get("transport:closed-before-banner")
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(
        cached
            .outcomes
            .get("transport:channel-refused")
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert_eq!(pool.failures, 0, "{pool:?}");
}

// https://github.com/coder/coder-jetbrains-toolbox (seed 002, fixed in 0.8.4): a DISCONNECTED
// flap tears a healthy session down under the agent-status rule only.
#[test]
fn coder_agent_flap_false_disconnects_only_with_agent_status() {
    let before = row("agent-flap", "agent-status", 0..3);
    let after = row("agent-flap", "workspace-running", 0..3);
    assert_eq!(before.outcomes.get("false-disconnect"), Some(&3));
    assert_eq!(after.failures, 0);
}

// Seed 003 (rbee daemon-sync): the swallowed error is a silent failure by the server's ledger,
// and the narration after DONE is lost; propagate fails loudly and loses nothing.
#[test]
fn rbee_swallowed_error_is_a_silent_failure() {
    let before = runs("swallowed-install-error", "swallow", 0..6);
    let after = runs("swallowed-install-error", "propagate", 0..6);
    let silent = |runs: &[RunResult]| {
        runs.iter()
            .flat_map(|r| &r.operations)
            .filter(|(_, o)| *o == Outcome::SilentFailure)
            .count()
    };
    assert!(silent(&before) > 0);
    assert!(before.iter().map(|r| r.lost_events).sum::<u64>() > 0);
    assert_eq!(silent(&after), 0);
    assert_eq!(after.iter().map(|r| r.lost_events).sum::<u64>(), 0);
    assert!(after.iter().all(|r| !r.failed()));
}
