use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand_chacha::ChaCha8Rng;
use sshrace_core::{Cause, ConnectOptions, Connection, ExecResult, StrategyParams, TransportError};
use tokio::sync::{Notify, Semaphore};

use crate::backoff::full_jitter;
use crate::policy::never_started;
use crate::{ConnectionPolicy, Env, Request};

/// `pool`: the strategy we recommend.
///
/// Per host: at most `max_connections` connections, at most `max_sessions` sessions on each
/// (keep it at or below sshd's MaxSessions, so no channel is ever refused), at most
/// `handshake_limit` handshakes in flight (so a burst never looks like a flood to MaxStartups).
/// Liveness comes from keepalives (ServerAliveInterval x CountMax), and dead connections are
/// dropped from the pool. Connects are retried with capped exponential backoff and full jitter
/// drawn from the run's seed. A command is retried only where that is safe: when it never
/// started (connect failed, channel refused, connection already closed), or when the caller
/// marked it retryable. Authentication failures are not retried (OpenSSH 10's
/// PerSourcePenalties punishes every client behind the same address for them) unless
/// `retry_auth_failures` is on.
///
/// Parameters (defaults): `max_connections` (4), `max_sessions` (8), `handshake_limit` (4),
/// `keepalive_interval_ms` (15000), `keepalive_count` (3), `connect_timeout_ms` (10000),
/// `attempts` (5), `retry_base_ms` (500), `retry_cap_ms` (8000), `retry_auth_failures` (false).
pub struct Pool {
    env: Env,
    max_connections: usize,
    max_sessions: usize,
    handshake_limit: usize,
    attempts: u32,
    retry_base: Duration,
    retry_cap: Duration,
    retry_auth_failures: bool,
    options: ConnectOptions,
    hosts: Mutex<BTreeMap<String, Arc<HostPool>>>,
    rng: Mutex<ChaCha8Rng>,
}

struct HostPool {
    entries: Mutex<Vec<Entry>>,
    connecting: Mutex<usize>,
    handshakes: Semaphore,
    changed: Notify,
}

struct Entry {
    connection: Arc<dyn Connection>,
    in_use: usize,
}

enum Checkout {
    Ready(Arc<dyn Connection>),
    Connect,
    Wait,
}

impl Pool {
    /// Build for one run.
    pub fn new(env: Env, params: &StrategyParams) -> Self {
        let options = ConnectOptions {
            connect_timeout: params.duration_or_off(params.connect_timeout_ms, Some(10_000)),
            server_alive_interval: params
                .duration_or_off(params.keepalive_interval_ms, Some(15_000)),
            server_alive_count_max: params.keepalive_count.unwrap_or(3),
            ..ConnectOptions::default()
        };
        let rng = env.rng("pool-backoff");
        Self {
            env,
            max_connections: params.max_connections.unwrap_or(4).max(1) as usize,
            max_sessions: params.max_sessions.unwrap_or(8).max(1) as usize,
            handshake_limit: params.handshake_limit.unwrap_or(4).max(1) as usize,
            attempts: params.attempts.unwrap_or(5).max(1),
            retry_base: params.duration(params.retry_base_ms, 500),
            retry_cap: params.duration(params.retry_cap_ms, 8_000),
            retry_auth_failures: params.retry_auth_failures.unwrap_or(false),
            options,
            hosts: Mutex::default(),
            rng: Mutex::new(rng),
        }
    }

    fn host(&self, host: &str) -> Arc<HostPool> {
        self.hosts
            .lock()
            .expect("hosts lock")
            .entry(host.to_owned())
            .or_insert_with(|| {
                Arc::new(HostPool {
                    entries: Mutex::default(),
                    connecting: Mutex::new(0),
                    handshakes: Semaphore::new(self.handshake_limit),
                    changed: Notify::new(),
                })
            })
            .clone()
    }

    /// Take a session slot on a live connection, or decide to open one, or wait.
    fn checkout(&self, pool: &HostPool) -> Checkout {
        let mut entries = pool.entries.lock().expect("entries lock");
        entries.retain(|e| !e.connection.is_closed() || e.in_use > 0);
        let best = entries
            .iter_mut()
            .filter(|e| !e.connection.is_closed() && e.in_use < self.max_sessions)
            .min_by_key(|e| (e.in_use, e.connection.id()));
        if let Some(entry) = best {
            entry.in_use += 1;
            return Checkout::Ready(entry.connection.clone());
        }
        let mut connecting = pool.connecting.lock().expect("connecting lock");
        let live = entries.iter().filter(|e| !e.connection.is_closed()).count();
        if live + *connecting < self.max_connections {
            *connecting += 1;
            Checkout::Connect
        } else {
            Checkout::Wait
        }
    }

    fn release(&self, pool: &HostPool, connection: &Arc<dyn Connection>) {
        let mut entries = pool.entries.lock().expect("entries lock");
        if let Some(entry) = entries
            .iter_mut()
            .find(|e| Arc::ptr_eq(&e.connection, connection))
        {
            entry.in_use -= 1;
        }
        drop(entries);
        pool.changed.notify_waiters();
    }

    async fn connect(
        &self,
        pool: &HostPool,
        request: &Request,
    ) -> Result<Arc<dyn Connection>, TransportError> {
        let result = {
            let _handshake = pool.handshakes.acquire().await.expect("never closed");
            let mut options = self.options.clone();
            options.identity = request.identity.clone();
            self.env.transport.connect(&request.host, &options).await
        };
        *pool.connecting.lock().expect("connecting lock") -= 1;
        if let Ok(connection) = &result {
            self.env.record(format!(
                "pool: connection c{} to {} added",
                connection.id(),
                request.host
            ));
            pool.entries.lock().expect("entries lock").push(Entry {
                connection: connection.clone(),
                in_use: 1,
            });
        }
        pool.changed.notify_waiters();
        result
    }

    async fn acquire(
        &self,
        pool: &HostPool,
        request: &Request,
    ) -> Result<Arc<dyn Connection>, TransportError> {
        loop {
            let notified = pool.changed.notified();
            match self.checkout(pool) {
                Checkout::Ready(connection) => return Ok(connection),
                Checkout::Connect => return self.connect(pool, request).await,
                Checkout::Wait => notified.await,
            }
        }
    }

    async fn backoff(&self, request: &Request, attempt: u32, error: &TransportError) {
        let delay = {
            let mut rng = self.rng.lock().expect("rng lock");
            full_jitter(&mut *rng, self.retry_base, self.retry_cap, attempt)
        };
        self.env.record(format!(
            "pool: attempt {} on {} failed ({}), retrying in {:.3}s",
            attempt + 1,
            request.host,
            error.cause,
            delay.as_secs_f64()
        ));
        tokio::time::sleep(delay).await;
    }
}

#[async_trait]
impl ConnectionPolicy for Pool {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let pool = self.host(&request.host);
        let mut attempt = 0;
        loop {
            let result = match self.acquire(&pool, request).await {
                Ok(connection) => {
                    let result = match connection.exec(&request.command).await {
                        Ok(session) => session.wait().await,
                        Err(error) => Err(error),
                    };
                    self.release(&pool, &connection);
                    result
                }
                Err(error) => Err(error),
            };
            match result {
                Err(error)
                    if attempt + 1 < self.attempts
                        && (self.retry_auth_failures || error.cause != Cause::AuthFailed)
                        && (never_started(error.cause) || request.retryable) =>
                {
                    self.backoff(request, attempt, &error).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn disconnect(&self, host: &str) {
        let pool = self.host(host);
        let connections: Vec<_> = pool
            .entries
            .lock()
            .expect("entries lock")
            .iter()
            .map(|e| e.connection.clone())
            .collect();
        for connection in connections {
            connection.close().await;
        }
    }

    async fn shutdown(&self) {
        let hosts: Vec<String> = self
            .hosts
            .lock()
            .expect("hosts lock")
            .keys()
            .cloned()
            .collect();
        for host in hosts {
            self.disconnect(&host).await;
        }
    }
}
