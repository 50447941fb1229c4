//! The simulated sshd enforces OpenSSH's limits with OpenSSH's error semantics
//! (../shared/FACTS.md, "OpenSSH semantics"). Each test pins one behaviour.

use std::time::Duration;

use sshrace_core::{Cause, CommandSpec, ConnectOptions, ConnectionEnd, SessionEnd};
use sshrace_runner::wilson;
use sshrace_sim::{World, WorldConfig};
use sshrace_sshd::{MaxStartups, SshdConfig};
use sshrace_tests::{now, run, secs};
use tokio::io::AsyncReadExt;

/// Open `n` connections at once and report how each attempt failed (`None`: authenticated).
fn flood(seed: u64, n: usize) -> (Vec<Option<Cause>>, sshrace_core::Ledger) {
    let config = WorldConfig::new(seed).target("target").duration(secs(60));
    let outcome = World::run(&config, move |ctx| async move {
        let mut tasks = Vec::new();
        for _ in 0..n {
            let transport = ctx.transport.clone();
            tasks.push(tokio::spawn(async move {
                let options = ConnectOptions::default();
                let connection = transport.connect("target", &options).await;
                tokio::time::sleep(secs(5)).await;
                connection.err().map(|e| e.cause)
            }));
        }
        let mut causes = Vec::new();
        for task in tasks {
            causes.push(task.await.expect("task"));
        }
        causes
    })
    .expect("simulation runs");
    (outcome.client.expect("client finished"), outcome.ledger)
}

/// MaxStartups 10:30:100: every arrival between `start` and `full` unauthenticated connections is
/// dropped with OpenSSH's probability. Over many seeds the drops observed at each arrival agree
/// with the formula: the total is within the 95% interval of the sum of those Bernoulli trials
/// (a normal interval on the Poisson-binomial), and the drop fraction at 80 parallel lies in the
/// Wilson interval of what the formula predicts for the states actually visited.
#[test]
fn max_startups_drops_follow_openssh_formula() {
    let max_startups = MaxStartups::default();
    for n in [20usize, 50, 80] {
        let (mut drops, mut expected, mut variance, mut arrivals) = (0u64, 0.0f64, 0.0f64, 0u64);
        let mut client_saw_closed = 0usize;
        for seed in 0..40 {
            let (causes, ledger) = flood(seed, n);
            assert_eq!(ledger.connections.len(), n, "every attempt reached sshd");
            for record in &ledger.connections {
                let p = max_startups.drop_percent(record.startups_at_accept) as f64 / 100.0;
                expected += p;
                variance += p * (1.0 - p);
                arrivals += 1;
                if record.end == Some(ConnectionEnd::DroppedMaxStartups) {
                    drops += 1;
                }
            }
            client_saw_closed += causes
                .iter()
                .filter(|c| **c == Some(Cause::ClosedBeforeBanner))
                .count();
            // What the client saw is what sshd did: only dropped connections fail, and they
            // fail as OpenSSH's do (closed before the banner).
            let dropped = ledger
                .connections
                .iter()
                .filter(|r| r.end == Some(ConnectionEnd::DroppedMaxStartups))
                .count();
            assert_eq!(causes.iter().filter(|c| c.is_some()).count(), dropped);
        }
        assert_eq!(client_saw_closed as u64, drops);
        let z = (drops as f64 - expected) / variance.sqrt().max(1e-9);
        eprintln!(
            "n={n}: {drops} drops of {arrivals} arrivals, formula expects {expected:.1} (z = {z:.2})"
        );
        assert!(
            z.abs() < 1.96,
            "n={n}: drops {drops}, expected {expected:.1}, z {z:.2}"
        );
        if n == 80 {
            let (low, high) = wilson(drops, arrivals);
            let mean = expected / arrivals as f64;
            assert!(
                low <= mean && mean <= high,
                "{mean} outside [{low}, {high}]"
            );
        }
    }
}

/// Below `start` nothing is dropped; at `full` everything is.
#[test]
fn max_startups_never_drops_below_start_and_always_at_full() {
    let (causes, _) = flood(1, 9);
    assert!(causes.iter().all(Option::is_none), "{causes:?}");

    let config = WorldConfig::new(3)
        .target_with(
            "target",
            SshdConfig {
                max_startups: MaxStartups {
                    start: 2,
                    rate: 30,
                    full: 4,
                },
                handshake_cost: Duration::from_secs(1),
                handshake_workers: 1,
                ..SshdConfig::default()
            },
        )
        .duration(secs(60));
    let outcome = World::run(&config, |ctx| async move {
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let transport = ctx.transport.clone();
            tasks.push(tokio::spawn(async move {
                transport
                    .connect("target", &ConnectOptions::default())
                    .await
                    .err()
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
    })
    .unwrap();
    for record in &outcome.ledger.connections {
        if record.startups_at_accept >= 4 {
            assert_eq!(record.end, Some(ConnectionEnd::DroppedMaxStartups));
        }
        if record.startups_at_accept < 2 {
            assert_ne!(record.end, Some(ConnectionEnd::DroppedMaxStartups));
        }
    }
    assert!(
        outcome
            .ledger
            .connections
            .iter()
            .any(|r| r.startups_at_accept >= 4)
    );
}

/// MaxSessions 10: the 11th concurrent session on one connection is refused with
/// CHANNEL_OPEN_FAILURE reason 2, "open failed"; the ten others run to completion.
#[test]
fn eleventh_session_on_one_connection_is_refused_with_reason_2() {
    let config = WorldConfig::new(11).target("target");
    let outcome = World::run(&config, |ctx| async move {
        let connection = ctx
            .transport
            .connect("target", &ConnectOptions::default())
            .await
            .unwrap();
        let mut sessions = Vec::new();
        for op in 0..10 {
            let spec = CommandSpec::new(op, secs(30));
            sessions.push(connection.exec(&spec.to_command_line()).await.unwrap());
        }
        let eleventh = connection
            .exec(&CommandSpec::new(10, secs(30)).to_command_line())
            .await;
        let mut exits = Vec::new();
        for session in sessions {
            exits.push(session.wait().await.unwrap().exit_status);
        }
        // Once the ten have ended, a session fits again.
        let later = run(connection.as_ref(), CommandSpec::new(11, secs(1))).await;
        (eleventh.err(), exits, later)
    })
    .unwrap();
    let (eleventh, exits, later) = outcome.client.unwrap();
    let error = eleventh.expect("11th session refused");
    assert_eq!(error.cause, Cause::ChannelRefused);
    assert!(error.message.contains("open failed"), "{}", error.message);
    assert!(error.message.contains("reason 2"), "{}", error.message);
    assert_eq!(exits, vec![0; 10]);
    assert_eq!(later.unwrap().exit_status, 0);
    let refused: Vec<_> = outcome
        .ledger
        .sessions
        .iter()
        .filter(|s| s.end == Some(SessionEnd::Refused))
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].channel, 10);
    assert_eq!(outcome.ledger.peak_sessions_per_connection["target"], 10);
}

/// LoginGraceTime 120 s: a client that connects and never speaks is disconnected after 120 s.
#[test]
fn login_grace_time_closes_a_silent_connection() {
    let config = WorldConfig::new(5).target("target");
    let outcome = World::run(&config, |_ctx| async move {
        let mut stream = turmoil::net::TcpStream::connect(("target", 22))
            .await
            .unwrap();
        let start = now();
        let mut buffer = vec![0u8; 256];
        let banner = stream.read(&mut buffer).await.unwrap();
        assert!(String::from_utf8_lossy(&buffer[..banner]).starts_with("SSH-2.0-OpenSSH_9.2p1"));
        // Say nothing more; wait for sshd to hang up.
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        now() - start
    })
    .unwrap();
    let waited = outcome.client.unwrap();
    assert!(
        waited >= secs(120) && waited <= secs(121),
        "closed after {waited:?}"
    );
    assert_eq!(
        outcome.ledger.connections[0].end,
        Some(ConnectionEnd::LoginGraceExpired)
    );
}

/// ClientAliveInterval 10 x ClientAliveCountMax 3: sshd hangs up on a client it cannot hear
/// between 2 x interval x count and 2 x interval x (count + 1) after the client went silent
/// (OpenSSH's probes on a quiet connection are two intervals apart: its whole-second check
/// `now > last_client_time + interval`; calibrated against real sshd 9.2, which reaps ~6.1 s
/// after the cut at 1 s x 3), and the command running for it is killed.
#[test]
fn client_alive_reaps_an_unreachable_client() {
    let (ledger, detected) = reaped_after_partition(SshdConfig {
        client_alive_interval: Some(secs(10)),
        ..SshdConfig::default()
    });
    assert_eq!(
        ledger.connections[0].end,
        Some(ConnectionEnd::ClientAliveTimeout)
    );
    assert!(
        detected >= secs(60) && detected <= secs(81),
        "reaped {detected:?} after partition"
    );
    assert_eq!(
        ledger.sessions[0].end,
        Some(SessionEnd::KilledConnectionLost)
    );
}

/// On the OpenSSH 10.0 profile ClientAlive probes every interval: 10 s x 3 reaps between 30 and
/// 41 s after the cut (real 10.0 at 1 s x 3: ~3.1 s; 9.2: ~6.1 s).
#[test]
fn client_alive_on_openssh_10_probes_every_interval() {
    let mut sshd = SshdConfig::for_profile(sshrace_core::OpenSshProfile::OpenSsh100);
    sshd.client_alive_interval = Some(secs(10));
    let (ledger, detected) = reaped_after_partition(sshd);
    assert_eq!(
        ledger.connections[0].end,
        Some(ConnectionEnd::ClientAliveTimeout)
    );
    assert!(
        detected >= secs(30) && detected <= secs(41),
        "reaped {detected:?} after partition"
    );
}

/// A client runs an hour-long command on `sshd`; the path is cut both ways at 20 s and the
/// client stays silent. Returns the ledger and how long after the cut the connection ended.
fn reaped_after_partition(sshd: SshdConfig) -> (sshrace_core::Ledger, Duration) {
    let partition_at = secs(20);
    let config = WorldConfig::new(8)
        .target_with("target", sshd)
        .fault(
            partition_at,
            sshrace_core::Fault::Partition {
                a: "client".into(),
                b: "target".into(),
            },
        )
        .duration(secs(300));
    let outcome = World::run(&config, |ctx| async move {
        let connection = ctx
            .transport
            .connect("target", &ConnectOptions::default())
            .await
            .unwrap();
        let session = connection
            .exec(&CommandSpec::new(1, secs(3600)).to_command_line())
            .await
            .unwrap();
        tokio::time::sleep(secs(200)).await;
        drop(session);
    })
    .unwrap();
    let detected = outcome.ledger.connections[0].ended_at.unwrap() - partition_at;
    (outcome.ledger, detected)
}

/// russh reaps quiet connections after 600 s by default; OpenSSH does not, and neither may we.
#[test]
fn quiet_connection_is_not_reaped() {
    let config = WorldConfig::new(9)
        .target("target")
        .tick(Duration::from_millis(10))
        .duration(secs(3 * 3600));
    let outcome = World::run(&config, |ctx| async move {
        let connection = ctx
            .transport
            .connect("target", &ConnectOptions::default())
            .await
            .unwrap();
        tokio::time::sleep(secs(2 * 3600)).await;
        let closed_while_quiet = connection.is_closed();
        (
            closed_while_quiet,
            run(connection.as_ref(), CommandSpec::new(1, secs(1))).await,
        )
    })
    .unwrap();
    let (closed_while_quiet, result) = outcome.client.expect("client finished");
    assert!(!closed_while_quiet);
    assert_eq!(result.unwrap().exit_status, 0);
    assert_eq!(
        outcome.ledger.connections[0].end, None,
        "still open at the end"
    );
}
