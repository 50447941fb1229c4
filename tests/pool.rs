//! Connection-per-command, the cached connection and the pool under the same bursts and faults.
//! Incident: ../shared/seeds/001_7ba13a09bc44eb0f.txt (fresh before, cached after, pool ours).

use std::sync::Arc;
use std::time::Duration;

use sshrace_core::{Cause, CommandSpec, ConnectionEnd, Fault, SessionEnd, StrategyParams};
use sshrace_sim::{SimContext, World, WorldConfig};
use sshrace_strategy::{Cached, ConnectionPolicy, Fresh, Pool};
use sshrace_tests::{env, request, secs};

type Build = fn(&SimContext) -> Arc<dyn ConnectionPolicy>;

fn fresh(ctx: &SimContext) -> Arc<dyn ConnectionPolicy> {
    Arc::new(Fresh::new(env(ctx), &StrategyParams::default()))
}
fn cached(ctx: &SimContext) -> Arc<dyn ConnectionPolicy> {
    Arc::new(Cached::new(env(ctx), &StrategyParams::default()))
}
fn pool(ctx: &SimContext) -> Arc<dyn ConnectionPolicy> {
    Arc::new(Pool::new(env(ctx), &StrategyParams::default()))
}

/// `n` commands at the same instant; returns how each failed (`None`: succeeded).
fn burst(seed: u64, n: u64, build: Build) -> sshrace_sim::SimOutcome<Vec<Option<Cause>>> {
    let config = WorldConfig::new(seed).target("target").duration(secs(600));
    World::run(&config, move |ctx| async move {
        let policy = build(&ctx);
        let mut tasks = Vec::new();
        for op in 0..n {
            let policy = policy.clone();
            tasks.push(tokio::spawn(async move {
                policy
                    .run(&request("target", &CommandSpec::new(op, secs(2))))
                    .await
            }));
        }
        let mut causes = Vec::new();
        for task in tasks {
            causes.push(task.await.unwrap().err().map(|e| e.cause));
        }
        policy.shutdown().await;
        causes
    })
    .unwrap()
}

#[test]
fn fresh_connection_per_command_is_dropped_by_max_startups() {
    let outcome = burst(50, 40, fresh);
    let failures = outcome.client.unwrap();
    let dropped = failures
        .iter()
        .filter(|c| **c == Some(Cause::ClosedBeforeBanner))
        .count();
    assert!(
        dropped > 0,
        "a burst of 40 fresh connections passes MaxStartups 10"
    );
    assert_eq!(outcome.ledger.connections.len(), 40);
}

#[test]
fn pool_absorbs_the_same_burst_without_a_drop() {
    let outcome = burst(50, 40, pool);
    assert!(outcome.client.unwrap().iter().all(Option::is_none));
    let ledger = &outcome.ledger;
    assert!(
        ledger
            .connections
            .iter()
            .all(|c| c.end != Some(ConnectionEnd::DroppedMaxStartups))
    );
    assert!(ledger.connections.len() <= 4);
    assert!(ledger.peak_sessions_per_connection["target"] <= 8);
    assert!(ledger.peak_unauthenticated["target"] <= 4);
}

#[test]
fn cached_reuses_open_connection() {
    let config = WorldConfig::new(51).target("target");
    let outcome = World::run(&config, |ctx| async move {
        let policy = cached(&ctx);
        for op in 0..5 {
            policy
                .run(&request("target", &CommandSpec::new(op, secs(1))))
                .await
                .unwrap();
        }
        policy.shutdown().await;
    })
    .unwrap();
    assert_eq!(outcome.ledger.connections.len(), 1);
    let trace = outcome.trace.render();
    assert_eq!(trace.matches("connection established").count(), 1);
    assert_eq!(trace.matches("reusing connection").count(), 4);
}

#[test]
fn cached_exceeds_max_sessions_under_11_parallel_commands() {
    let config = WorldConfig::new(52).target("target");
    let outcome = World::run(&config, |ctx| async move {
        let policy = cached(&ctx);
        policy
            .run(&request("target", &CommandSpec::new(100, secs(0))))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for op in 0..11 {
            let policy = policy.clone();
            tasks.push(tokio::spawn(async move {
                policy
                    .run(&request("target", &CommandSpec::new(op, secs(5))))
                    .await
            }));
        }
        let mut causes = Vec::new();
        for task in tasks {
            causes.push(task.await.unwrap().err().map(|e| e.cause));
        }
        policy.shutdown().await;
        causes
    })
    .unwrap();
    let causes = outcome.client.unwrap();
    assert_eq!(
        causes
            .iter()
            .filter(|c| **c == Some(Cause::ChannelRefused))
            .count(),
        1
    );
    assert_eq!(causes.iter().filter(|c| c.is_none()).count(), 10);
    let refused = outcome
        .ledger
        .sessions
        .iter()
        .filter(|s| s.end == Some(SessionEnd::Refused))
        .count();
    assert_eq!(refused, 1);
}

/// The cached connection has no keepalive. In a blackhole that does not heal it is reused
/// half-open and the command hangs until the caller's own deadline, while the pool's keepalives
/// notice the dead connection and fail long before. When the blackhole heals (at 120 s) both
/// get through: cached's command, sent into the blackhole at about 101 s, when TCP's next
/// retransmission does (25.4 s after it was sent), and the pool by reconnecting. (Before the
/// simulation retransmitted, cached hung even after a heal; real OpenSSH resumes:
/// docs/docker-matrix.md, `wedged-master-blackhole`.)
#[test]
fn half_open_connection_hangs_cached_but_not_pool() {
    fn after_partition(build: Build, heal: bool) -> Option<(bool, Duration)> {
        let mut config = WorldConfig::new(53).target("target").fault(
            secs(10),
            Fault::Partition {
                a: "client".into(),
                b: "target".into(),
            },
        );
        if heal {
            config = config.fault(
                secs(120),
                Fault::Heal {
                    a: "client".into(),
                    b: "target".into(),
                },
            );
        }
        let config = config.tick(Duration::from_millis(10)).duration(secs(900));
        World::run(&config, move |ctx| async move {
            let policy = build(&ctx);
            policy
                .run(&request("target", &CommandSpec::new(1, secs(1))))
                .await
                .unwrap();
            tokio::time::sleep(secs(100)).await;
            let mut command = request("target", &CommandSpec::new(2, secs(1)));
            command.retryable = true;
            let start = tokio::time::Instant::now();
            let result = tokio::time::timeout(secs(600), policy.run(&command)).await;
            let waited = start.elapsed();
            policy.shutdown().await;
            (result.map(|r| r.is_ok()).unwrap_or(false), waited)
        })
        .unwrap()
        .client
    }
    let (ok, waited) = after_partition(cached, false).unwrap();
    assert!(!ok, "cached fails in a blackhole that does not heal");
    assert!(
        waited >= secs(600),
        "cached hangs until the deadline: {waited:?}"
    );
    let (ok, waited) = after_partition(pool, false).unwrap();
    assert!(!ok, "pool fails in a blackhole that does not heal");
    assert!(
        waited < secs(300),
        "pool's keepalives fail it early: {waited:?}"
    );
    let (ok, waited) = after_partition(cached, true).unwrap();
    assert!(ok, "cached resumes after the heal");
    assert!(
        waited >= Duration::from_millis(25_400) && waited < secs(30),
        "cached waits for the retransmission after the heal: {waited:?}"
    );
    let (ok, _) = after_partition(pool, true).unwrap();
    assert!(ok, "pool reconnects after the heal");
}
