use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sshrace_core::{Connection, ExecResult, StrategyParams, TransportError};

use crate::{ConnectionPolicy, Env, Request};

/// `cached`: one connection per host, reused while it is not known to be closed.
///
/// Models the automation service of incident 001 *after* its fix ("cache one connection per
/// host, reuse while `!is_closed()`"), with that fix's own flaws: no limit on sessions per
/// connection (the 11th parallel command is refused by MaxSessions), no keepalive and no
/// liveness check (a half-open connection is reused and hangs), and no lock around the first
/// connect (parallel first calls each connect).
///
/// Logs (tracing, target `sshrace_strategy::cached`) `connection established` once per
/// connect and `reusing connection` per reuse, the check the incident report relied on.
///
/// Parameters: `connect_timeout_ms` (default 10000).
pub struct Cached {
    env: Env,
    connect_timeout: Option<Duration>,
    cache: Mutex<BTreeMap<String, Arc<dyn Connection>>>,
}

impl Cached {
    /// Build for one run.
    pub fn new(env: Env, params: &StrategyParams) -> Self {
        Self {
            env,
            connect_timeout: params.duration_or_off(params.connect_timeout_ms, Some(10_000)),
            cache: Mutex::default(),
        }
    }

    async fn connection(&self, request: &Request) -> Result<Arc<dyn Connection>, TransportError> {
        let cached = self
            .cache
            .lock()
            .expect("cache lock")
            .get(&request.host)
            .filter(|c| !c.is_closed())
            .cloned();
        if let Some(connection) = cached {
            tracing::info!(host = %request.host, id = connection.id(), "reusing connection");
            self.env
                .record(format!("cached: reusing connection c{}", connection.id()));
            return Ok(connection);
        }
        let mut options = request.options();
        options.connect_timeout = self.connect_timeout;
        let connection = self.env.transport.connect(&request.host, &options).await?;
        tracing::info!(host = %request.host, id = connection.id(), "connection established");
        self.env.record(format!(
            "cached: connection established c{}",
            connection.id()
        ));
        self.cache
            .lock()
            .expect("cache lock")
            .insert(request.host.clone(), connection.clone());
        Ok(connection)
    }
}

#[async_trait]
impl ConnectionPolicy for Cached {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let connection = self.connection(request).await?;
        connection.exec(&request.command).await?.wait().await
    }

    async fn disconnect(&self, host: &str) {
        let connection = self.cache.lock().expect("cache lock").remove(host);
        if let Some(connection) = connection {
            connection.close().await;
        }
    }

    async fn shutdown(&self) {
        let all: Vec<_> = std::mem::take(&mut *self.cache.lock().expect("cache lock"))
            .into_values()
            .collect();
        for connection in all {
            connection.close().await;
        }
    }
}
