//! The two workloads the speed benchmark times (`cargo bench -p sshrace-sim`, `sshrace bench`).
//! They return the outcome; callers measure wall time.

use std::time::Duration;

use sshrace_core::{CommandSpec, ConnectOptions};

use crate::{SimError, SimOutcome, World, WorldConfig};

/// A day-long, mostly idle timeline: one connection with ServerAliveInterval 60 s that runs a
/// one-minute command every hour, for `duration`, stepped at `tick`.
pub fn idle_timeline(duration: Duration, tick: Duration) -> Result<SimOutcome<u32>, SimError> {
    let config = WorldConfig::new(1)
        .target("target")
        .tick(tick)
        .duration(duration + Duration::from_secs(1));
    World::run(&config, move |ctx| async move {
        let options = ConnectOptions {
            server_alive_interval: Some(Duration::from_secs(60)),
            ..ConnectOptions::default()
        };
        let connection = ctx.transport.connect("target", &options).await.ok()?;
        let hours = (duration.as_secs() / 3600).max(1);
        for hour in 0..hours {
            let spec = CommandSpec::new(hour, Duration::from_secs(60));
            if let Ok(session) = connection.exec(&spec.to_command_line()).await {
                let _ = session.wait().await;
            }
            tokio::time::sleep(Duration::from_secs(3600 - 60)).await;
        }
        Some(())
    })
    .map(|outcome| {
        let completed = outcome
            .ledger
            .sessions
            .iter()
            .filter(|s| s.end == Some(sshrace_core::SessionEnd::Exited(0)))
            .count() as u32;
        SimOutcome {
            client: Some(completed),
            ledger: outcome.ledger,
            trace: outcome.trace,
            elapsed: outcome.elapsed,
            steps: outcome.steps,
            stalled: outcome.stalled,
        }
    })
}

/// `n` clients connect (TCP, key exchange, authentication) at the same instant; with
/// `exec`, each then runs one command. MaxStartups is raised past `n` so every handshake
/// completes. The client returns how many connections (and commands) succeeded.
pub fn parallel_handshakes(n: u32, exec: bool) -> Result<SimOutcome<u32>, SimError> {
    let sshd = sshrace_sshd::SshdConfig {
        max_startups: sshrace_sshd::MaxStartups {
            start: n + 1,
            rate: 30,
            full: n + 2,
        },
        ..Default::default()
    };
    let config = WorldConfig::new(2)
        .target_with("target", sshd)
        .duration(Duration::from_secs(60));
    World::run(&config, move |ctx| async move {
        let mut tasks = Vec::new();
        for op in 0..n as u64 {
            let transport = ctx.transport.clone();
            tasks.push(tokio::spawn(async move {
                let connection = transport
                    .connect("target", &ConnectOptions::default())
                    .await
                    .ok()?;
                if !exec {
                    return Some(());
                }
                let spec = CommandSpec::new(op, Duration::from_millis(10));
                connection
                    .exec(&spec.to_command_line())
                    .await
                    .ok()?
                    .wait()
                    .await
                    .ok()
                    .map(|_| ())
            }));
        }
        let mut completed = 0;
        for task in tasks {
            completed += task.await.ok().flatten().is_some() as u32;
        }
        completed
    })
}
