//! shipit's connection strategy against sshrace's race timelines: a MaxStartups flood, a retry
//! storm, MaxSessions on one connection, and a silent build behind a NAT. A failure prints the
//! table, the failing seeds and the command that replays one.

mod bounded;

use std::sync::Arc;

use sshrace::{
    Check, ConnectionPolicy, Env, ExecResult, Request, StrategySpec, TransportError, builtin,
};

fn races() -> Vec<sshrace::Scenario> {
    [
        "flood-fresh-connections",
        "max-startups-retry-storm",
        "max-sessions-one-master",
        "silent-build-no-keepalive",
    ]
    .map(builtin::named)
    .into()
}

#[test]
fn bounded_connections_survive_the_races() {
    let report = Check::new(bounded::bounded())
        .scenarios(races())
        .seeds(0..8)
        .run();
    report
        .assert_no_silent_failures()
        .assert_no_leaks()
        .assert_failure_rate_below("flood-fresh-connections", 0.01)
        .assert_failure_rate_below("max-startups-retry-storm", 0.01)
        .assert_failure_rate_below("max-sessions-one-master", 0.01)
        .assert_failure_rate_below("silent-build-no-keepalive", 0.01)
        .assert_not_worse_than("pool");
    insta::assert_yaml_snapshot!(report.snapshot_rows());
}

/// The same seed gives the same trace in another process: what makes a replay command worth
/// running. The test runs itself as a child process and compares the trace hashes.
#[test]
fn a_seed_gives_the_same_trace_in_another_process() {
    let hashes = || {
        Check::new(bounded::bounded())
            .scenario(builtin::named("flood-fresh-connections"))
            .scenario(builtin::named("max-startups-retry-storm"))
            .seeds([1])
            .run()
            .runs()
            .map(|run| format!("{}/{}={}", run.scenario, run.seed, run.trace_hash))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if std::env::var_os("SHIPIT_TRACE_HASHES_CHILD").is_some() {
        println!("trace hashes: {}", hashes());
        return;
    }
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_seed_gives_the_same_trace_in_another_process",
            "--exact",
            "--nocapture",
        ])
        .env("SHIPIT_TRACE_HASHES_CHILD", "1")
        .output()
        .unwrap();
    assert!(child.status.success(), "child failed: {child:?}");
    let stdout = String::from_utf8_lossy(&child.stdout);
    let theirs = stdout
        .lines()
        .find_map(|line| line.strip_prefix("trace hashes: "))
        .unwrap_or_else(|| panic!("no hashes in the child's output:\n{stdout}"));
    assert_eq!(
        hashes(),
        theirs,
        "the same seed gave another trace in another process"
    );
}

/// shipit before the fix: a fresh connection per command, no keepalives.
struct OnePerCommand(Env);

#[sshrace::async_trait]
impl ConnectionPolicy for OnePerCommand {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let connection = self
            .0
            .transport
            .connect(&request.host, &request.options())
            .await?;
        let result = async { connection.exec(&request.command).await?.wait().await }.await;
        connection.close().await;
        result
    }

    async fn shutdown(&self) {}
}

#[test]
#[should_panic(
    expected = "SSHRACE_SEED=0 cargo test -- one_connection_per_command_fails_the_flood --exact --nocapture"
)]
fn one_connection_per_command_fails_the_flood() {
    let weak = StrategySpec::custom("one-per-command", |env| Arc::new(OnePerCommand(env)));
    Check::new(weak)
        .scenario(builtin::named("flood-fresh-connections"))
        .seeds(0..8)
        .run()
        .assert_failure_rate_below("flood-fresh-connections", 0.01);
}
