//! The workloads the speed benchmark times (`cargo bench -p sshrace-sim`, `sshrace bench`), and
//! the floors they are held against (no traffic; no simulation).
//! They return the outcome; callers measure wall time (the bare handshakes time their phases).

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

/// The stepping floor of [`idle_timeline`]: the same world (one target, the control plane, the
/// client host) stepped at `tick` for `duration` with no traffic at all; the client only
/// sleeps. What the idle timeline costs beyond this is the cost of its SSH traffic.
pub fn idle_floor(duration: Duration, tick: Duration) -> Result<SimOutcome<()>, SimError> {
    let config = WorldConfig::new(1)
        .target("target")
        .tick(tick)
        .duration(duration + Duration::from_secs(1));
    World::run(&config, move |_ctx| async move {
        tokio::time::sleep(duration).await;
    })
}

/// What [`bare_handshakes`] measured.
#[derive(Debug, Clone, Default)]
pub struct BareHandshakes {
    /// Connections that completed key exchange and authentication.
    pub handshakes: u32,
    /// Commands that exited 0.
    pub exits_ok: u32,
    /// Wall time spent connecting: key exchange plus authentication (no TCP), summed.
    pub handshake_wall: Duration,
    /// Wall time spent on the one exec per connection (open a session, run a zero-length
    /// command (in paused time), read its exit status), summed.
    pub exec_wall: Duration,
}

impl BareHandshakes {
    /// Mean wall time of one handshake (key exchange plus authentication).
    pub fn per_handshake(&self) -> Duration {
        self.handshake_wall / self.handshakes.max(1)
    }

    /// Mean wall time of one handshake plus one exec.
    pub fn per_handshake_and_exec(&self) -> Duration {
        (self.handshake_wall + self.exec_wall) / self.handshakes.max(1)
    }
}

/// The crypto and protocol floor: `n` russh handshakes (key exchange, public-key
/// authentication) one after another, each followed by one exec of a zero-length command, against
/// the same [`sshrace_sshd::Sshd`] model and with the same client as the simulation, but over
/// an in-memory stream (`tokio::io::duplex`) on a plain current-thread tokio runtime with paused
/// time: no turmoil, no simulated network, no stepping, no real waiting. The simulation cannot do a handshake in less
/// wall time than this.
pub fn bare_handshakes(n: u32) -> std::io::Result<BareHandshakes> {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use sshrace_core::{FixedClock, Ledger, Trace};
    use sshrace_russh::RusshTransport;
    use sshrace_sshd::Sshd;

    // Paused tokio time (auto-advanced whenever the runtime is idle): the sshd model's timers
    // (its simulated handshake cost, the command's run time, tokio's 1 ms timer granularity)
    // cost no real waiting, so the floor is CPU only. turmoil enables tokio's test-util.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    runtime.block_on(async move {
        let trace = Trace::new(Arc::new(FixedClock::default()));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let sshd = Sshd::new(
            "target",
            sshrace_sshd::SshdConfig::default(),
            0,
            ledger,
            trace.clone(),
        );
        let transport = RusshTransport::new(DuplexDialer { sshd }, "client", trace);
        let mut measured = BareHandshakes::default();
        for op in 0..u64::from(n) {
            let start = Instant::now();
            let Ok(connection) =
                sshrace_core::Transport::connect(&transport, "target", &ConnectOptions::default())
                    .await
            else {
                continue;
            };
            let connected = Instant::now();
            measured.handshake_wall += connected - start;
            measured.handshakes += 1;
            let spec = CommandSpec::new(op, Duration::ZERO);
            if let Ok(session) = connection.exec(&spec.to_command_line()).await
                && let Ok(result) = session.wait().await
                && result.exit_status == 0
            {
                measured.exits_ok += 1;
            }
            measured.exec_wall += connected.elapsed();
            drop(connection);
        }
        Ok(measured)
    })
}

/// Opens each connection as an in-memory duplex pipe with the sshd model serving its far end.
struct DuplexDialer {
    sshd: sshrace_sshd::Sshd,
}

#[async_trait::async_trait]
impl sshrace_russh::Dialer for DuplexDialer {
    type Stream = tokio::io::DuplexStream;

    async fn dial(&self, _host: &str) -> std::io::Result<Self::Stream> {
        let (client, server) = tokio::io::duplex(1 << 16);
        let sshd = self.sshd.clone();
        tokio::spawn(async move { sshd.serve(server).await });
        Ok(client)
    }
}
