use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use russh::keys::PrivateKey;
use russh::keys::ssh_key::private::Ed25519Keypair;
use sshrace_core::{ConnectionEnd, Ledger, Mark, SessionEnd, Trace};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;

use crate::handler::{
    ConnectionHandler, ConnectionState, connection_span, connection_track, session_ends,
};
use crate::killable::KillableStream;
use crate::penalties::{PenaltyKind, PenaltyTable};
use sshrace_core::SshdConfig;

/// Seed offset of the sessions' random stream ([`ServerState::grace_rng`]).
const GRACE_STREAM: u64 = 0x6c6f_6769_6e67_7261;

/// An sshd on one host. Cheap to clone; clones share state.
///
/// Invariant: at most `max_sessions` session channels are open on any connection, and the
/// number of unauthenticated connections it counts equals the number accepted, not dropped and
/// not yet authenticated or ended.
#[derive(Clone)]
pub struct Sshd {
    pub(crate) shared: Arc<ServerState>,
}

impl std::fmt::Debug for Sshd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sshd")
            .field("host", &self.shared.host)
            .field("config", &self.shared.config)
            .finish()
    }
}

pub(crate) struct ServerState {
    pub(crate) host: String,
    pub(crate) config: SshdConfig,
    pub(crate) russh: Arc<russh::server::Config>,
    pub(crate) ledger: Arc<Mutex<Ledger>>,
    pub(crate) trace: Trace,
    rng: Mutex<ChaCha8Rng>,
    /// The sessions' own draws (LoginGraceTime jitter): another process's randomness in
    /// OpenSSH, so a stream apart from the listener's MaxStartups draws.
    grace_rng: Mutex<ChaCha8Rng>,
    pub(crate) unauthenticated: AtomicU32,
    pub(crate) handshake_workers: Semaphore,
    /// PerSourcePenalties (OpenSSH 10.0), `None` when off (9.2). The listener's memory: a new
    /// boot starts empty.
    penalties: Option<Mutex<PenaltyTable>>,
}

impl Sshd {
    /// The address [`Sshd::serve`] assumes a connection comes from (`192.168.0.1`): one source
    /// shared by every client, as behind a NAT or docker-proxy.
    pub const DEFAULT_SOURCE: std::net::IpAddr =
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 0, 1));
}

impl Sshd {
    /// An sshd for `host` that records into `ledger` and `trace`. Its random early drops are
    /// drawn from a ChaCha8 generator seeded with `seed`. Call only inside a tokio runtime with
    /// time enabled (a simulated host, or a test runtime).
    pub fn new(
        host: &str,
        config: SshdConfig,
        seed: u64,
        ledger: Arc<Mutex<Ledger>>,
        trace: Trace,
    ) -> Self {
        let host_key = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        let russh = russh::server::Config {
            server_id: russh::SshId::Standard(config.profile.server_id().into()),
            auth_rejection_time: std::time::Duration::ZERO,
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            keys: vec![host_key],
            // OpenSSH has no inactivity reaping; russh's default of 600 s must not leak in.
            inactivity_timeout: None,
            // OpenSSH 9.2 probes a quiet client when a poll of ClientAliveInterval times out
            // *and* `now > last_client_time + interval` on whole-second monotime()
            // (serverloop.c), so on a quiet connection its probes are two intervals apart; 10.0
            // probes every interval. Both hang up at the probe after CountMax unanswered ones.
            // Calibrated at 1 s x 3: real 9.2 reaps ~6.1 s after the path dies, real 10.0
            // ~3.1 s (docs/calibration.md, `client-alive-reap`).
            keepalive_interval: config
                .client_alive_interval
                .map(|interval| interval * config.profile.client_alive_period_factor()),
            keepalive_max: config.client_alive_count_max as usize,
            nodelay: true,
            // Same round trips as OpenSSH's hybrid post-quantum key exchange, a third of the CPU:
            // simulation speed matters and the exchange's messages, not its maths, set the timing.
            // AES-GCM runs on the CPU's AES instructions; chacha20-poly1305 (russh's first
            // choice) costs several times more per streamed byte.
            preferred: russh::Preferred {
                kex: std::borrow::Cow::Borrowed(&[russh::kex::CURVE25519]),
                cipher: std::borrow::Cow::Borrowed(&[russh::cipher::AES_256_GCM]),
                ..russh::Preferred::DEFAULT
            },
            // russh's time-based rekey measures the wall clock; never rekey on time, so the
            // speed of the machine cannot move a rekey (and the trace). The byte limits stay.
            limits: russh::Limits {
                rekey_time_limit: std::time::Duration::MAX,
                ..russh::Limits::default()
            },
            ..Default::default()
        };
        let workers = config.handshake_workers.max(1) as usize;
        Self {
            shared: Arc::new(ServerState {
                host: host.to_owned(),
                russh: Arc::new(russh),
                ledger,
                trace,
                rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
                grace_rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ GRACE_STREAM)),
                unauthenticated: AtomicU32::new(0),
                handshake_workers: Semaphore::new(workers),
                penalties: config
                    .per_source_penalties
                    .clone()
                    .map(|p| Mutex::new(PenaltyTable::new(p))),
                config,
            }),
        }
    }

    /// The host this sshd runs on.
    pub fn host(&self) -> &str {
        &self.shared.host
    }

    /// Serve one accepted connection from [`Sshd::DEFAULT_SOURCE`] until it ends.
    pub async fn serve<S>(&self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_from(stream, Self::DEFAULT_SOURCE).await;
    }

    /// Serve one accepted connection from `source` until it ends: PerSourcePenalties and
    /// MaxStartups decisions (in that order, as `drop_connection` in OpenSSH's `sshd.c`),
    /// handshake, sessions.
    pub async fn serve_from<S>(&self, stream: S, source: std::net::IpAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let shared = &self.shared;
        let now = shared.trace.clock().now();
        let startups = shared.unauthenticated.load(Ordering::SeqCst);
        let id = shared
            .ledger()
            .connection_accepted(&shared.host, now, startups);
        if let Some(penalties) = &shared.penalties {
            let verdict = penalties
                .lock()
                .expect("penalties lock")
                .check_allow(source, now);
            if let Err(reason) = verdict {
                // OpenSSH writes a best-effort "Not allowed at this time" line first; its client
                // skips lines before the banner and reports the close, exactly as when nothing
                // was written, so the model writes nothing (as for MaxStartups).
                shared
                    .ledger()
                    .connection_ended(id, now, ConnectionEnd::DroppedPenalty);
                shared.trace.record_marked(
                    &shared.host,
                    format!("drop connection #{id} from {source}: {reason}"),
                    vec![Mark::instant("dropped by PerSourcePenalties")],
                );
                drop(stream);
                return;
            }
        }
        let percent = shared.config.max_startups.drop_percent(startups);
        // Draw only where OpenSSH draws (between start and full), so the draw sequence matches.
        let dropped = match percent {
            0 => false,
            100 => true,
            p => shared.rng.lock().expect("rng lock").random_range(0..100) < p,
        };
        if dropped {
            shared
                .ledger()
                .connection_ended(id, now, ConnectionEnd::DroppedMaxStartups);
            shared.trace.record_marked(
                &shared.host,
                format!("drop connection #{id}: past MaxStartups ({startups} unauthenticated)"),
                vec![Mark::instant("dropped by MaxStartups")],
            );
            drop(stream);
            return;
        }
        let unauthenticated = shared.unauthenticated.fetch_add(1, Ordering::SeqCst) + 1;
        shared
            .ledger()
            .note_unauthenticated(&shared.host, unauthenticated);
        shared.trace.record_marked(
            &shared.host,
            format!("accept connection #{id}"),
            vec![Mark::begin(
                connection_span(id),
                format!("connection #{id}"),
                connection_track(id),
            )],
        );

        let (stream, kill) = KillableStream::new(stream);
        let connection = Arc::new(Mutex::new(ConnectionState::new(id, source)));
        let handler = ConnectionHandler::new(shared.clone(), connection.clone());

        // LoginGraceTime 0 is no limit; 10.0 adds its random jitter to a set one.
        let mut grace = shared.config.login_grace_time;
        let jitter = shared.config.profile.login_grace_jitter();
        if !grace.is_zero() && !jitter.is_zero() {
            let micros = shared
                .grace_rng
                .lock()
                .expect("rng lock")
                .random_range(0..jitter.as_micros() as u64);
            grace += Duration::from_micros(micros);
        }
        let grace_connection = connection.clone();
        let grace_shared = shared.clone();
        let grace_timer = tokio::spawn(async move {
            if grace.is_zero() {
                // LoginGraceTime 0: no limit.
                return;
            }
            tokio::time::sleep(grace).await;
            let mut state = grace_connection.lock().expect("connection lock");
            if !state.authenticated {
                state.end = Some(ConnectionEnd::LoginGraceExpired);
                drop(state);
                grace_shared.trace.record_marked(
                    &grace_shared.host,
                    format!("connection #{id}: LoginGraceTime exceeded"),
                    vec![Mark::instant(connection_track(id))],
                );
                kill.kill();
            }
        });

        let result = match russh::server::run_stream(shared.russh.clone(), stream, handler).await {
            Ok(running) => running.await,
            Err(error) => Err(error),
        };
        grace_timer.abort();
        self.connection_finished(&connection, result);
    }

    fn connection_finished(
        &self,
        connection: &Mutex<ConnectionState>,
        result: Result<(), russh::Error>,
    ) {
        let shared = &self.shared;
        let now = shared.trace.clock().now();
        let mut state = connection.lock().expect("connection lock");
        if !state.authenticated {
            shared.unauthenticated.fetch_sub(1, Ordering::SeqCst);
        }
        let end = state.end.unwrap_or(match result {
            Err(russh::Error::KeepaliveTimeout) => ConnectionEnd::ClientAliveTimeout,
            _ => ConnectionEnd::ClientClosed,
        });
        let id = state.id;
        if !state.authenticated {
            self.penalise(&state, end, now);
        }
        let mut ledger = shared.ledger();
        for (_, channel) in std::mem::take(&mut state.channels) {
            if let Some(task) = channel.task {
                task.abort();
            }
            if ledger.sessions[channel.ledger_index].end.is_none() {
                ledger.session_ended(channel.ledger_index, now, SessionEnd::KilledConnectionLost);
                shared.trace.record_marked(
                    &shared.host,
                    format!(
                        "session {id}.{}: killed (SIGHUP), connection lost",
                        channel.number
                    ),
                    session_ends(id, channel.number),
                );
            }
        }
        ledger.connection_ended(id, now, end);
        drop(ledger);
        shared.trace.record_marked(
            &shared.host,
            format!("connection #{id} ended: {end:?}"),
            vec![Mark::end(connection_span(id))],
        );
    }
}

impl Sshd {
    /// `child_reap` in OpenSSH's `sshd.c`: an unauthenticated connection that ended charges its
    /// source. LoginGraceTime wins over a failed attempt (its exit status is
    /// `EXIT_LOGIN_GRACE` whatever happened before); a connection with a failed attempt exits
    /// `EXIT_AUTH_ATTEMPTED`; any other early end is `noauth`.
    fn penalise(&self, state: &ConnectionState, end: ConnectionEnd, now: std::time::Duration) {
        let shared = &self.shared;
        let Some(penalties) = &shared.penalties else {
            return;
        };
        let kind = match end {
            ConnectionEnd::LoginGraceExpired => PenaltyKind::GraceExceeded,
            _ if state.auth_attempted => PenaltyKind::AuthFail,
            _ => PenaltyKind::NoAuth,
        };
        let penalised = penalties
            .lock()
            .expect("penalties lock")
            .penalise(state.source, kind, now);
        if let Some(p) = penalised {
            let id = state.id;
            let state_word = if p.activated {
                "activating"
            } else if p.active {
                "active"
            } else {
                "deferred"
            };
            shared.trace.record_marked(
                &shared.host,
                format!(
                    "connection #{id}: {} ({state_word}, {:.3} s outstanding for {})",
                    kind.reason(),
                    p.outstanding.as_secs_f64(),
                    state.source
                ),
                vec![Mark::instant(connection_track(id))],
            );
        }
    }
}

impl ServerState {
    pub(crate) fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().expect("ledger lock")
    }
}
