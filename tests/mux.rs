//! ControlMaster strategies: `mux-exit` (Coolify before) kills what runs on a recycled master,
//! `mux-stop` (the upstream fix) lets it finish. Incident: ../shared/seeds/000_7164edcda800eb69.txt

use std::sync::Arc;

use sshrace_core::{Cause, CommandSpec, SessionEnd, StrategyParams};
use sshrace_sim::{World, WorldConfig};
use sshrace_strategy::{ConnectionPolicy, Mux, MuxMode};
use sshrace_tests::{env, request, secs};

/// A 60 s deploy streams over the master; a status poll 30 s later finds the master past its
/// max age (20 s here) and refreshes it.
fn deploy_then_poll(mode: MuxMode) -> sshrace_sim::SimOutcome<(Result<u32, Cause>, bool)> {
    let config = WorldConfig::new(40).target("target");
    World::run(&config, move |ctx| async move {
        let params = StrategyParams {
            max_age_ms: Some(20_000),
            ..Default::default()
        };
        let policy: Arc<dyn ConnectionPolicy> = Arc::new(Mux::new(env(&ctx), mode, &params));
        let deploy = CommandSpec::new(1, secs(60))
            .stdout_bytes(6000)
            .streamed(60);
        let deploying = {
            let policy = policy.clone();
            tokio::spawn(async move { policy.run(&request("target", &deploy)).await })
        };
        tokio::time::sleep(secs(30)).await;
        let mut poll = request("target", &CommandSpec::new(2, secs(1)));
        poll.health_check = true;
        let polled = policy.run(&poll).await.is_ok();
        let deployed = deploying
            .await
            .unwrap()
            .map(|r| r.exit_status)
            .map_err(|e| e.cause);
        policy.shutdown().await;
        (deployed, polled)
    })
    .unwrap()
}

#[test]
fn exit_kills_inflight_deploy_with_255() {
    let outcome = deploy_then_poll(MuxMode::Exit);
    let (deployed, polled) = outcome.client.unwrap();
    assert_eq!(
        deployed,
        Err(Cause::ClosedLocally),
        "the deploy dies with the master"
    );
    assert!(polled, "the poll itself succeeds on the new master");
    let deploy = outcome.ledger.sessions_of(1).next().unwrap();
    assert_eq!(deploy.end, Some(SessionEnd::KilledConnectionLost));
    assert!(outcome.trace.render().contains("ssh -O exit"));
}

#[test]
fn stop_lets_inflight_deploy_finish() {
    let outcome = deploy_then_poll(MuxMode::Stop);
    let (deployed, polled) = outcome.client.unwrap();
    assert_eq!(deployed, Ok(0));
    assert!(polled);
    assert!(outcome.ledger.completed_successfully(1));
    // Two masters: the drained one and its successor.
    assert_eq!(outcome.ledger.connections.len(), 2);
    assert!(outcome.trace.render().contains("ssh -O stop"));
}

/// Through a master, an 11th session is refused by MaxSessions and the client falls back to a
/// direct connection, as OpenSSH's does ("disabling multiplexing"): all 13 commands succeed.
#[test]
fn refused_session_falls_back_to_a_direct_connection() {
    let config = WorldConfig::new(41).target("target");
    let outcome = World::run(&config, |ctx| async move {
        let policy: Arc<dyn ConnectionPolicy> = Arc::new(Mux::new(
            env(&ctx),
            MuxMode::Exit,
            &StrategyParams::default(),
        ));
        // Start the master first, as an earlier command would have.
        policy
            .run(&request("target", &CommandSpec::new(100, secs(0))))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for op in 0..13 {
            let policy = policy.clone();
            tasks.push(tokio::spawn(async move {
                policy
                    .run(&request("target", &CommandSpec::new(op, secs(5))))
                    .await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            ok += task.await.unwrap().is_ok() as u32;
        }
        policy.shutdown().await;
        ok
    })
    .unwrap();
    assert_eq!(outcome.client, Some(13));
    let refused = outcome
        .ledger
        .sessions
        .iter()
        .filter(|s| s.end == Some(SessionEnd::Refused))
        .count();
    assert_eq!(refused, 3);
    assert_eq!(
        outcome.ledger.connections.len(),
        4,
        "one master and three direct connections"
    );
}

/// Retries on transport errors, when the call site allows them, rescue a command killed by a
/// refresh: Coolify's 2 s / 4 s backoff.
#[test]
fn retryable_command_survives_a_master_exit() {
    let config = WorldConfig::new(42).target("target");
    let outcome = World::run(&config, |ctx| async move {
        let policy: Arc<dyn ConnectionPolicy> = Arc::new(Mux::new(
            env(&ctx),
            MuxMode::Exit,
            &StrategyParams::default(),
        ));
        let mut command = request("target", &CommandSpec::new(1, secs(10)));
        command.retryable = true;
        let running = {
            let policy = policy.clone();
            tokio::spawn(async move { policy.run(&command).await })
        };
        tokio::time::sleep(secs(5)).await;
        policy
            .master("target", sshrace_strategy::MasterCommand::Exit)
            .await;
        let result = running.await.unwrap();
        policy.shutdown().await;
        result.map(|r| r.exit_status)
    })
    .unwrap();
    assert_eq!(outcome.client.unwrap(), Ok(0));
    assert!(outcome.ledger.completed_successfully(1));
    assert!(outcome.trace.render().contains("retrying in 2s"));
}

/// A `mux-exit` master with ControlPersist 60 s runs command 1; `wait` later command 2 runs:
/// its result (exit status, or the error's message) and the world's outcome.
fn second_command_after(
    config: &WorldConfig,
    attempts: Option<u32>,
    wait: std::time::Duration,
) -> sshrace_sim::SimOutcome<Result<u32, String>> {
    World::run(config, move |ctx| async move {
        let params = StrategyParams {
            persist_ms: Some(60_000),
            attempts,
            ..Default::default()
        };
        let policy: Arc<dyn ConnectionPolicy> =
            Arc::new(Mux::new(env(&ctx), MuxMode::Exit, &params));
        policy
            .run(&request("target", &CommandSpec::new(1, secs(1))))
            .await
            .unwrap();
        tokio::time::sleep(wait).await;
        let second = policy
            .run(&request("target", &CommandSpec::new(2, secs(1))))
            .await
            .map(|r| r.exit_status)
            .map_err(|e| e.message);
        policy.shutdown().await;
        second
    })
    .unwrap()
}

/// ControlPersist: an idle master exits after the persist time, and the next command starts a
/// new one.
#[test]
fn idle_master_exits_after_control_persist() {
    let config = WorldConfig::new(43)
        .target("target")
        .tick(std::time::Duration::from_millis(10));
    let outcome = second_command_after(&config, None, secs(120));
    outcome.client.unwrap().unwrap();
    assert_eq!(outcome.ledger.connections.len(), 2);
    assert!(outcome.trace.render().contains("ControlPersist 60s idle"));
}

/// ControlPersist racing a new command: the command arrives at every 100 ms step from 58 s to
/// 61 s after the last one ended, across the master's exit. A real master takes 0.28 ms from
/// deciding to exit to closing its control socket's listener (strace, docs/docker-matrix.md),
/// and the strategy's `ssh -O check` before the session is reset in that window like the
/// session would be, so it starts a new master: no command fails (real OpenSSH: 0 of 150 in
/// control-persist-race). The simulation used to hold the exiting master's socket open for
/// 100 ms while `-O check` passed, and the command arriving then died with a broken pipe
/// (this test failed with `Err("mux_client_hello_exchange: write packet: Broken pipe")`).
#[test]
fn a_command_meeting_the_control_persist_exit_starts_a_new_master() {
    let mut met_exit = 0;
    for step in 0..=30u64 {
        let wait = std::time::Duration::from_millis(58_000 + step * 100);
        let config = WorldConfig::new(44)
            .target("target")
            .tick(std::time::Duration::from_millis(100));
        let outcome = second_command_after(&config, Some(1), wait);
        let trace = outcome.trace.render();
        assert_eq!(outcome.client.unwrap(), Ok(0), "waiting {wait:?}:\n{trace}");
        if trace.contains("master exits") && trace.contains("c1: connect to target") {
            met_exit += 1;
        }
    }
    // The expiry was crossed: the later arrivals found the master gone and started c1.
    assert!(met_exit >= 10, "{met_exit} steps after the exit");
}
