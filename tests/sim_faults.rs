//! Faults applied by the simulated world, and what clients and the server ledger see of them.

use std::time::Duration;

use sshrace_core::{Cause, CommandSpec, ConnectOptions, Fault, SessionEnd};
use sshrace_sim::{World, WorldConfig};
use sshrace_tests::{now, run, secs};

fn partition(a: &str, b: &str) -> Fault {
    Fault::Partition {
        a: a.into(),
        b: b.into(),
    }
}

fn heal(a: &str, b: &str) -> Fault {
    Fault::Heal {
        a: a.into(),
        b: b.into(),
    }
}

fn keepalive(interval: u64, count: u32) -> ConnectOptions {
    ConnectOptions {
        server_alive_interval: Some(secs(interval)),
        server_alive_count_max: count,
        ..ConnectOptions::default()
    }
}

/// A partition drops segments silently: nothing tells the client, so a session on a
/// partitioned connection fails only when ServerAliveInterval x ServerAliveCountMax probes go
/// unanswered, between interval x count and interval x (count + 1) after the partition, with
/// OpenSSH's `Timeout, server ... not responding.` (exit 255).
#[test]
fn partition_is_detected_only_by_keepalives_after_interval_times_count() {
    let partition_at = secs(30);
    let config = WorldConfig::new(21)
        .target("target")
        .fault(partition_at, partition("client", "target"));
    let outcome = World::run(&config, |ctx| async move {
        let connection = ctx
            .transport
            .connect("target", &keepalive(15, 3))
            .await
            .unwrap();
        let result = run(connection.as_ref(), CommandSpec::new(1, secs(600))).await;
        (result, now())
    })
    .unwrap();
    let (result, failed_at) = outcome.client.unwrap();
    let error = result.unwrap_err();
    assert_eq!(error.cause, Cause::KeepaliveTimeout);
    assert_eq!(error.message, "Timeout, server target not responding.");
    let detected = failed_at - partition_at;
    assert!(
        detected >= secs(45) && detected <= secs(60) + Duration::from_millis(10),
        "detected {detected:?} after the partition"
    );
    // The server heard nothing either: its command still runs (half-open), ground truth says so.
    assert_eq!(outcome.ledger.sessions[0].end, None);
}

/// Without keepalives nothing ever notices a partition: the session hangs for as long as the
/// client is willing to wait.
#[test]
fn partition_without_keepalives_hangs_forever() {
    let config = WorldConfig::new(22)
        .target("target")
        .fault(secs(30), partition("client", "target"))
        .tick(Duration::from_millis(10))
        .duration(secs(4 * 3600));
    let outcome = World::run(&config, |ctx| async move {
        let options = ConnectOptions::default();
        let connection = ctx.transport.connect("target", &options).await.unwrap();
        let session = run(connection.as_ref(), CommandSpec::new(1, secs(600)));
        tokio::time::timeout(secs(3 * 3600), session).await.is_err()
    })
    .unwrap();
    assert!(outcome.client.unwrap(), "still waiting after 3 hours");
}

/// A crash of the sshd host kills every session on it: the client sees the connection closed by
/// the remote host (exit 255), the ledger records the command killed by the crash, and after a
/// restart new connections work again.
#[test]
fn crash_kills_inflight_sessions_with_exit_255() {
    let config = WorldConfig::new(23)
        .target("target")
        .fault(
            secs(10),
            Fault::Crash {
                host: "target".into(),
            },
        )
        .fault(
            secs(20),
            Fault::Restart {
                host: "target".into(),
            },
        );
    let outcome = World::run(&config, |ctx| async move {
        let options = ConnectOptions::default();
        let connection = ctx.transport.connect("target", &options).await.unwrap();
        let inflight = run(connection.as_ref(), CommandSpec::new(1, secs(60))).await;
        let failed_at = now();
        let during = ctx.transport.connect("target", &options).await.err();
        tokio::time::sleep_until(tokio::time::Instant::now() + secs(15)).await;
        let after = ctx.transport.connect("target", &options).await.unwrap();
        let again = run(after.as_ref(), CommandSpec::new(2, secs(1))).await;
        (inflight, failed_at, during, again)
    })
    .unwrap();
    let (inflight, failed_at, during, again) = outcome.client.unwrap();
    let error = inflight.unwrap_err();
    assert_eq!(error.cause, Cause::ConnectionLost);
    assert!(
        failed_at >= secs(10) && failed_at < secs(11),
        "{failed_at:?}"
    );
    assert_eq!(during.unwrap().cause, Cause::ConnectionRefused);
    assert_eq!(again.unwrap().exit_status, 0);
    assert_eq!(
        outcome.ledger.sessions[0].end,
        Some(SessionEnd::KilledHostCrashed)
    );
    assert!(outcome.ledger.completed_successfully(2));
}

/// A paused sshd (SIGSTOP, `docker pause`) answers nothing: a client with ConnectTimeout gives
/// up with exit 255; after the resume, held traffic is processed and connections work.
#[test]
fn paused_sshd_times_out_new_clients_until_resumed() {
    let config = WorldConfig::new(24)
        .target("target")
        .fault(
            secs(5),
            Fault::Pause {
                host: "target".into(),
            },
        )
        .fault(
            secs(60),
            Fault::Resume {
                host: "target".into(),
            },
        );
    let outcome = World::run(&config, |ctx| async move {
        tokio::time::sleep(secs(10)).await;
        let options = ConnectOptions {
            connect_timeout: Some(secs(10)),
            ..ConnectOptions::default()
        };
        let paused = ctx.transport.connect("target", &options).await.err();
        tokio::time::sleep(secs(60)).await;
        let resumed = ctx.transport.connect("target", &options).await.map(|_| ());
        (paused, resumed)
    })
    .unwrap();
    let (paused, resumed) = outcome.client.unwrap();
    assert_eq!(paused.unwrap().cause, Cause::ConnectTimeout);
    assert_eq!(resumed, Ok(()));
}

/// A NAT that forgets flows idle for 300 s leaves an idle connection half-open: the next
/// command on it goes nowhere, and only keepalives find out.
#[test]
fn nat_idle_drop_leaves_connection_half_open() {
    let config = WorldConfig::new(25)
        .target("target")
        .fault(
            Duration::ZERO,
            Fault::NatIdleTimeout {
                idle: Some(secs(300)),
            },
        )
        .tick(Duration::from_millis(10));
    let outcome = World::run(&config, |ctx| async move {
        // The keepalive (60 s) keeps one connection alive through the NAT; the other is quiet.
        let kept = ctx
            .transport
            .connect("target", &keepalive(60, 3))
            .await
            .unwrap();
        let quiet = ctx
            .transport
            .connect("target", &ConnectOptions::default())
            .await
            .unwrap();
        tokio::time::sleep(secs(400)).await;
        let kept_result = run(kept.as_ref(), CommandSpec::new(1, secs(1))).await;
        let quiet_result =
            tokio::time::timeout(secs(600), run(quiet.as_ref(), CommandSpec::new(2, secs(1))))
                .await;
        (kept_result, quiet_result.is_err(), quiet.is_closed())
    })
    .unwrap();
    let (kept, quiet_hung, quiet_closed) = outcome.client.unwrap();
    assert_eq!(kept.unwrap().exit_status, 0);
    assert!(quiet_hung, "the forgotten flow hangs");
    assert!(!quiet_closed, "and nothing tells the client");
    assert!(
        outcome.ledger.sessions_of(2).next().is_none(),
        "the server never saw op 2"
    );
}

/// A one-way partition (client to target lost) starves the server of the client's traffic; the
/// client's keepalives get no answers and it gives up like on a full partition.
#[test]
fn one_way_partition_is_detected_by_client_keepalives() {
    let config = WorldConfig::new(26).target("target").fault(
        secs(5),
        Fault::PartitionOneWay {
            from: "client".into(),
            to: "target".into(),
        },
    );
    let outcome = World::run(&config, |ctx| async move {
        let connection = ctx
            .transport
            .connect("target", &keepalive(10, 2))
            .await
            .unwrap();
        tokio::time::sleep(secs(6)).await;
        let result = run(connection.as_ref(), CommandSpec::new(1, secs(5))).await;
        (result, now())
    })
    .unwrap();
    let (result, at) = outcome.client.unwrap();
    assert_eq!(result.unwrap_err().cause, Cause::KeepaliveTimeout);
    assert!(at >= secs(25) && at <= secs(36), "{at:?}");
}

/// The server ledger agrees with what clients saw, operation by operation: a success is a
/// command that exited 0 on the server, a remote non-zero exit is that exit, a refused channel
/// is a refused session, a session killed by a crash failed with 255 on the client.
#[test]
fn ledger_agrees_with_what_clients_saw() {
    let config = WorldConfig::new(27).target("target").fault(
        secs(100),
        Fault::Crash {
            host: "target".into(),
        },
    );
    let outcome = World::run(&config, |ctx| async move {
        let options = ConnectOptions::default();
        let connection = ctx.transport.connect("target", &options).await.unwrap();
        let mut tasks = Vec::new();
        for op in 0..14u64 {
            let connection = connection.clone();
            let spec = match op % 3 {
                0 => CommandSpec::new(op, secs(10 + op)),
                1 => CommandSpec::new(op, secs(5)).exit_code(op as u32),
                _ => CommandSpec::new(op, secs(500)),
            };
            tasks.push(tokio::spawn(async move {
                (op, run(connection.as_ref(), spec).await)
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    })
    .unwrap();
    let ledger = &outcome.ledger;
    for (op, result) in outcome.client.unwrap() {
        let sessions: Vec<_> = ledger.sessions_of(op).collect();
        match result {
            Ok(exec) => {
                assert_eq!(sessions.len(), 1, "op {op}");
                assert_eq!(
                    sessions[0].end,
                    Some(SessionEnd::Exited(exec.exit_status)),
                    "op {op}"
                );
            }
            Err(error) if error.cause == Cause::ChannelRefused => {
                assert!(sessions.is_empty(), "a refused channel never ran op {op}");
                assert!(
                    ledger
                        .sessions
                        .iter()
                        .any(|s| s.end == Some(SessionEnd::Refused))
                );
            }
            Err(error) => {
                assert_eq!(error.cause, Cause::ConnectionLost, "op {op}");
                assert_eq!(
                    sessions[0].end,
                    Some(SessionEnd::KilledHostCrashed),
                    "op {op}"
                );
            }
        }
    }
    let refused = ledger
        .sessions
        .iter()
        .filter(|s| s.end == Some(SessionEnd::Refused))
        .count();
    assert_eq!(
        refused, 4,
        "14 parallel sessions on one connection, MaxSessions 10"
    );
}

/// Latency is seeded per link and interval: round trips vary with jitter but stay within the
/// configured bounds, and a latency fault changes them mid-run.
#[test]
fn latency_jitter_stays_within_bounds() {
    let config = WorldConfig::new(28)
        .target("target")
        .latency(Duration::from_millis(5), Duration::from_millis(20))
        .fault(
            secs(30),
            Fault::Latency {
                a: "client".into(),
                b: "target".into(),
                base: Duration::from_millis(200),
                jitter: Duration::ZERO,
            },
        );
    let outcome = World::run(&config, |ctx| async move {
        let connection = ctx
            .transport
            .connect("target", &ConnectOptions::default())
            .await
            .unwrap();
        let mut round_trips = Vec::new();
        for op in 0..20 {
            let start = now();
            run(connection.as_ref(), CommandSpec::new(op, Duration::ZERO))
                .await
                .unwrap();
            round_trips.push(now() - start);
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        tokio::time::sleep(secs(10)).await;
        let start = now();
        run(connection.as_ref(), CommandSpec::new(99, Duration::ZERO))
            .await
            .unwrap();
        (round_trips, now() - start)
    })
    .unwrap();
    let (round_trips, slow) = outcome.client.unwrap();
    let min = round_trips.iter().min().unwrap();
    let max = round_trips.iter().max().unwrap();
    assert!(*min >= Duration::from_millis(10), "{round_trips:?}");
    assert!(max > min, "jitter varies round trips: {round_trips:?}");
    assert!(
        slow >= Duration::from_millis(400),
        "after the latency fault: {slow:?}"
    );
}

/// The control plane answers polls over the simulated network with the status the timeline set.
#[test]
fn control_plane_reports_timeline_status() {
    let config = WorldConfig::new(29).target("target").fault(
        secs(10),
        Fault::ControlPlane {
            host: "target".into(),
            workspace: "RUNNING".into(),
            agent: "DISCONNECTED".into(),
        },
    );
    let outcome = World::run(&config, |ctx| async move {
        let before = ctx.control.status("target").await.unwrap();
        tokio::time::sleep(secs(15)).await;
        let after = ctx.control.status("target").await.unwrap();
        (before.agent, after.agent)
    })
    .unwrap();
    assert_eq!(
        outcome.client.unwrap(),
        ("CONNECTED".to_owned(), "DISCONNECTED".to_owned())
    );
}

/// A fault naming a host the world does not have is an error before anything runs.
#[test]
fn unknown_host_in_a_fault_is_refused_up_front() {
    let config = WorldConfig::new(30).target("target").fault(
        secs(1),
        Fault::Crash {
            host: "taget".into(),
        },
    );
    let error = World::run(&config, |_ctx| async {}).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("\"taget\""), "{message}");
    assert!(message.contains("target"), "{message}");
}

/// A SYN into a partition is not refused: it is retransmitted (1, 2, 4, ... 64 s) until the path
/// heals or 127 s pass ("Connection timed out"), as Linux does.
#[test]
fn connect_into_a_partition_times_out_and_succeeds_after_heal() {
    let config = WorldConfig::new(31)
        .target("target")
        .fault(secs(1), partition("client", "target"))
        .fault(secs(200), heal("client", "target"))
        .tick(Duration::from_millis(10));
    let outcome = World::run(&config, |ctx| async move {
        tokio::time::sleep(secs(2)).await;
        let options = ConnectOptions::default();
        let start = now();
        let blackholed = ctx.transport.connect("target", &options).await.err();
        let gave_up_after = now() - start;
        tokio::time::sleep_until(tokio::time::Instant::now() + secs(30)).await;
        // Now at ~159 s: the SYN retransmitted at 160 s... and 192 s fails, then 256 s succeeds.
        let start = now();
        let healed = ctx.transport.connect("target", &options).await.map(|_| ());
        (blackholed, gave_up_after, healed, now() - start)
    })
    .unwrap();
    let (blackholed, gave_up_after, healed, took) = outcome.client.unwrap();
    let error = blackholed.unwrap();
    assert_eq!(error.cause, Cause::ConnectTimeout);
    assert!(
        error.message.contains("Connection timed out"),
        "{}",
        error.message
    );
    assert!(
        gave_up_after >= secs(127) && gave_up_after < secs(128),
        "{gave_up_after:?}"
    );
    assert_eq!(healed, Ok(()));
    assert!(
        took > secs(40),
        "waited for the heal through SYN retransmits: {took:?}"
    );
}

/// A blackhole that heals within TCP's retry window does not kill an established connection:
/// the command sent into it is retransmitted on Linux's schedule (200 ms doubling, capped at
/// 120 s), and the first retransmission after the heal gets through. Sent at 31 s, healed 300 s
/// later: the retransmissions fall at +204.6 s and +324.6 s, so the command reaches sshd at
/// 355.6 s and the client has its exit status two seconds later. (Before this model a lost
/// segment was lost for good and the stream hung forever; on real OpenSSH the connection
/// resumes: docs/docker-matrix.md, `wedged-master-blackhole`.)
#[test]
fn a_healed_blackhole_resumes_the_connection_at_the_next_retransmission() {
    let config = WorldConfig::new(23)
        .target("target")
        .fault(secs(30), partition("client", "target"))
        .fault(secs(331), heal("client", "target"))
        .tick(Duration::from_millis(10))
        .duration(secs(900));
    let outcome = World::run(&config, |ctx| async move {
        let options = ConnectOptions::default();
        let connection = ctx.transport.connect("target", &options).await.unwrap();
        tokio::time::sleep_until(tokio::time::Instant::now() + secs(31) - now()).await;
        let result = run(connection.as_ref(), CommandSpec::new(1, secs(2))).await;
        (result, now())
    })
    .unwrap();
    let (result, done_at) = outcome.client.unwrap();
    assert_eq!(result.unwrap().exit_status, 0);
    let resumed = Duration::from_millis(31_000 + 324_600);
    assert!(
        done_at >= resumed + secs(2) && done_at <= resumed + secs(3),
        "done at {done_at:?}, expected just after {:?}",
        resumed + secs(2)
    );
    assert_eq!(outcome.ledger.sessions.len(), 1);
}
