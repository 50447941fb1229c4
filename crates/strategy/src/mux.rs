use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sshrace_core::{
    Cause, ConnectOptions, Connection, ExecResult, Mark, StrategyParams, TransportError,
};
use tokio::time::Instant;

use crate::backoff::capped;
use crate::policy::run_on_new_connection;
use crate::{ConnectionPolicy, Env, MasterCommand, Request};

/// How a [`Mux`] recycles a master that is too old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuxMode {
    /// `ssh -O exit`, then a new master: every session in flight on the old one dies (255).
    Exit,
    /// `ssh -O stop`, then a new master for new sessions; the old one closes with its last
    /// session. Master creation is serialised per host.
    Stop,
}

/// A ControlMaster per host, as Coolify's `SshMultiplexingHelper` keeps one.
///
/// Before each command: `ssh -O check`; if it fails, start a master (`ssh -fNM`, ControlPersist,
/// ConnectTimeout 10, ServerAliveInterval 20) and remember its start time. If the master is
/// older than the max age it is refreshed: in [`MuxMode::Exit`] (`mux-exit`, incident 000
/// *before*) with `ssh -O exit` and no lock — killing every deployment streaming over it — in
/// [`MuxMode::Stop`] (`mux-stop`, the upstream fix, PR 11377) by stop-and-drain under a per-host
/// lock. Failed commands are retried on transport errors when the call site allows it, after
/// `min(2 s * 2^attempt, 30 s)`. A session refused by the master's MaxSessions falls back to a
/// direct connection, as the OpenSSH client does ("disabling multiplexing"). With
/// `health_check_bypass` (Coolify PR 7503), health checks use their own direct connection and
/// never touch the master.
///
/// Parameters (defaults): `max_age_ms` (1800000), `persist_ms` (3600000), `attempts` (3),
/// `retry_base_ms` (2000), `retry_cap_ms` (30000), `keepalive_interval_ms` (20000),
/// `keepalive_count` (3), `connect_timeout_ms` (10000), `health_check_bypass` (false).
pub struct Mux {
    env: Env,
    mode: MuxMode,
    max_age: Duration,
    attempts: u32,
    retry_base: Duration,
    retry_cap: Duration,
    options: ConnectOptions,
    health_check_bypass: bool,
    masters: Mutex<BTreeMap<String, Master>>,
    creation_locks: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Clone)]
struct Master {
    connection: Arc<dyn Connection>,
    started: Instant,
}

/// The track master decisions are drawn on in a timeline viewer.
const MASTERS_TRACK: &str = "masters";

impl Mux {
    /// Build for one run.
    pub fn new(env: Env, mode: MuxMode, params: &StrategyParams) -> Self {
        let options = ConnectOptions {
            connect_timeout: params.duration_or_off(params.connect_timeout_ms, Some(10_000)),
            server_alive_interval: params
                .duration_or_off(params.keepalive_interval_ms, Some(20_000)),
            server_alive_count_max: params.keepalive_count.unwrap_or(3),
            // ControlPersist is the master's own (the `ssh` client's, over OpenSSH).
            control_persist: Some(params.duration(params.persist_ms, 3_600_000)),
            ..ConnectOptions::default()
        };
        Self {
            env,
            mode,
            max_age: params.duration(params.max_age_ms, 1_800_000),
            attempts: params.attempts.unwrap_or(3).max(1),
            retry_base: params.duration(params.retry_base_ms, 2_000),
            retry_cap: params.duration(params.retry_cap_ms, 30_000),
            options,
            health_check_bypass: params.health_check_bypass.unwrap_or(false),
            masters: Mutex::default(),
            creation_locks: Mutex::default(),
        }
    }

    fn flag(&self) -> &'static str {
        match self.mode {
            MuxMode::Exit => "exit",
            MuxMode::Stop => "stop",
        }
    }

    fn current(&self, host: &str) -> Option<Master> {
        self.masters
            .lock()
            .expect("masters lock")
            .get(host)
            .cloned()
    }

    /// Forget `host`'s master if it is still `connection`.
    fn forget(&self, host: &str, connection: &Arc<dyn Connection>) {
        let mut masters = self.masters.lock().expect("masters lock");
        if masters
            .get(host)
            .is_some_and(|m| Arc::ptr_eq(&m.connection, connection))
        {
            masters.remove(host);
        }
    }

    async fn retire(&self, host: &str, master: &Master, why: &str) {
        self.env.record_marked(
            format!(
                "mux: master c{} to {host} {why}: ssh -O {}",
                master.connection.id(),
                self.flag()
            ),
            vec![Mark::instant(MASTERS_TRACK)],
        );
        self.forget(host, &master.connection);
        match self.mode {
            MuxMode::Exit => master.connection.close().await,
            MuxMode::Stop => master.connection.drain().await,
        }
    }

    async fn ensure_master(&self, request: &Request) -> Result<Master, TransportError> {
        let host = request.host.as_str();
        let lock = match self.mode {
            MuxMode::Stop => Some(
                self.creation_locks
                    .lock()
                    .expect("locks lock")
                    .entry(host.to_owned())
                    .or_default()
                    .clone(),
            ),
            MuxMode::Exit => None,
        };
        let _guard = match &lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        if let Some(master) = self.current(host) {
            if master.connection.check().await.is_ok() {
                let age = master.started.elapsed();
                if age <= self.max_age {
                    return Ok(master);
                }
                let why = format!(
                    "age {}s > max age {}s",
                    age.as_secs(),
                    self.max_age.as_secs()
                );
                self.retire(host, &master, &why).await;
            } else {
                self.forget(host, &master.connection);
            }
        }
        let mut options = self.options.clone();
        options.identity = request.identity.clone();
        let connection = self.env.transport.connect(host, &options).await?;
        self.env.record_marked(
            format!(
                "mux: master c{} to {host} started (ssh -fNM)",
                connection.id()
            ),
            vec![Mark::instant(MASTERS_TRACK)],
        );
        let master = Master {
            connection,
            started: Instant::now(),
        };
        self.masters
            .lock()
            .expect("masters lock")
            .insert(host.to_owned(), master.clone());
        Ok(master)
    }

    async fn direct(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let mut options = self.options.clone();
        options.identity = request.identity.clone();
        options.control_persist = None; // a plain `ssh host cmd`, no master
        run_on_new_connection(self.env.transport.as_ref(), &options, request).await
    }

    async fn once(&self, request: &Request) -> Result<ExecResult, TransportError> {
        if request.health_check && self.health_check_bypass {
            return self.direct(request).await;
        }
        let master = self.ensure_master(request).await?;
        match master.connection.exec(&request.command).await {
            Ok(session) => session.wait().await,
            Err(error) if error.cause == Cause::ChannelRefused => {
                self.env.record(format!(
                    "mux: session refused by master c{}: disabling multiplexing, connecting directly",
                    master.connection.id()
                ));
                self.direct(request).await
            }
            Err(error) => Err(error),
        }
    }
}

#[async_trait]
impl ConnectionPolicy for Mux {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let mut attempt = 0;
        loop {
            match self.once(request).await {
                Err(error) if request.retryable && attempt + 1 < self.attempts => {
                    let delay = capped(self.retry_base, self.retry_cap, attempt);
                    self.env.record(format!(
                        "mux: attempt {} on {} failed ({}), retrying in {}s",
                        attempt + 1,
                        request.host,
                        error.cause,
                        delay.as_secs_f64()
                    ));
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn disconnect(&self, host: &str) {
        if let Some(master) = self.current(host) {
            self.forget(host, &master.connection);
            master.connection.close().await;
        }
    }

    async fn refresh(&self, host: &str) {
        if let Some(master) = self.current(host) {
            self.retire(host, &master, "refresh").await;
        }
    }

    async fn master(&self, host: &str, command: MasterCommand) {
        if let Some(master) = self.current(host) {
            self.forget(host, &master.connection);
            match command {
                MasterCommand::Exit => master.connection.close().await,
                MasterCommand::Stop => master.connection.drain().await,
            }
        }
    }

    async fn shutdown(&self) {
        let all: Vec<Master> = std::mem::take(&mut *self.masters.lock().expect("masters lock"))
            .into_values()
            .collect();
        for master in all {
            master.connection.close().await;
        }
    }
}
