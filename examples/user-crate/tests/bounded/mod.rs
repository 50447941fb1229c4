//! shipit's connection strategy, seeing only sshrace's `Transport`: one connection per host,
//! opened by one task at a time, with keepalives; at most `MAX_SESSIONS_PER_CONNECTION`
//! sessions on it at once; a command that certainly never started is retried once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use shipit::{CONNECT_TIMEOUT, MAX_SESSIONS_PER_CONNECTION, SERVER_ALIVE_INTERVAL};
use sshrace::{
    Cause, ConnectOptions, Connection, ConnectionPolicy, Env, ExecResult, Request, StrategySpec,
    TransportError,
};
use tokio::sync::{Mutex as AsyncMutex, Semaphore};

struct Host {
    connection: AsyncMutex<Option<Arc<dyn Connection>>>,
    sessions: Semaphore,
}

struct Bounded {
    env: Env,
    hosts: Mutex<BTreeMap<String, Arc<Host>>>,
}

impl Bounded {
    fn host(&self, name: &str) -> Arc<Host> {
        let mut hosts = self.hosts.lock().unwrap();
        let host = hosts.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(Host {
                connection: AsyncMutex::new(None),
                sessions: Semaphore::new(MAX_SESSIONS_PER_CONNECTION),
            })
        });
        host.clone()
    }

    /// The host's open connection, or a new one: the lock keeps it to one handshake at a time.
    async fn connection(
        &self,
        host: &Host,
        request: &Request,
    ) -> Result<Arc<dyn Connection>, TransportError> {
        let mut slot = host.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let options = ConnectOptions {
            server_alive_interval: Some(SERVER_ALIVE_INTERVAL),
            connect_timeout: Some(CONNECT_TIMEOUT),
            ..request.options()
        };
        let connection = self.env.transport.connect(&request.host, &options).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn attempt(&self, host: &Host, request: &Request) -> Result<ExecResult, TransportError> {
        let connection = self.connection(host, request).await?;
        connection.exec(&request.command).await?.wait().await
    }
}

#[sshrace::async_trait]
impl ConnectionPolicy for Bounded {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let host = self.host(&request.host);
        let _session = host.sessions.acquire().await.expect("never closed");
        match self.attempt(&host, request).await {
            // Refused or closed before the channel opened: the command never started.
            Err(e) if matches!(e.cause, Cause::ChannelRefused | Cause::ConnectionClosed) => {
                self.attempt(&host, request).await
            }
            other => other,
        }
    }

    async fn shutdown(&self) {
        let hosts: Vec<Arc<Host>> = self.hosts.lock().unwrap().values().cloned().collect();
        for host in hosts {
            if let Some(connection) = host.connection.lock().await.take() {
                connection.close().await;
            }
        }
    }
}

/// shipit's strategy, as sshrace runs it.
pub fn bounded() -> StrategySpec {
    StrategySpec::custom("shipit-bounded", |env| {
        Arc::new(Bounded {
            env,
            hosts: Mutex::default(),
        })
    })
}
