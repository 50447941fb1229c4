//! Writing your own strategy: about 40 lines, seeing only the `Transport`, run against every
//! built-in scenario. This file is the example the README shows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sshrace_core::{Cause, ConnectOptions, Connection, ExecResult, TransportError};
use sshrace_strategy::{ConnectionPolicy, Env, Request, StrategySpec};

/// One connection per host with keepalives; reconnect when it is known closed; retry once when
/// the command certainly never started.
struct Keepalive {
    env: Env,
    connections: Mutex<BTreeMap<String, Arc<dyn Connection>>>,
}

impl Keepalive {
    async fn connection(&self, request: &Request) -> Result<Arc<dyn Connection>, TransportError> {
        let cached = self.connections.lock().unwrap().get(&request.host).cloned();
        if let Some(connection) = cached.filter(|c| !c.is_closed()) {
            return Ok(connection);
        }
        let options = ConnectOptions {
            server_alive_interval: Some(Duration::from_secs(15)),
            connect_timeout: Some(Duration::from_secs(10)),
            identity: request.identity.clone(),
            ..ConnectOptions::default()
        };
        let connection = self.env.transport.connect(&request.host, &options).await?;
        self.connections
            .lock()
            .unwrap()
            .insert(request.host.clone(), connection.clone());
        Ok(connection)
    }
}

#[async_trait::async_trait]
impl ConnectionPolicy for Keepalive {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let attempt = async {
            self.connection(request)
                .await?
                .exec(&request.command)
                .await?
                .wait()
                .await
        };
        match attempt.await {
            Err(e) if matches!(e.cause, Cause::ChannelRefused | Cause::ConnectionClosed) => {
                self.connection(request)
                    .await?
                    .exec(&request.command)
                    .await?
                    .wait()
                    .await
            }
            other => other,
        }
    }

    async fn shutdown(&self) {
        let all: Vec<_> = std::mem::take(&mut *self.connections.lock().unwrap())
            .into_values()
            .collect();
        for connection in all {
            connection.close().await;
        }
    }
}

fn keepalive() -> StrategySpec {
    StrategySpec::custom("keepalive", |env| {
        Arc::new(Keepalive {
            env,
            connections: Mutex::default(),
        })
    })
}

#[test]
fn custom_strategy_runs_against_every_builtin_scenario() {
    use sshrace_runner::{Registry, builtin_scenarios, run_one};
    let registry = Registry::new().with(keepalive());
    for builtin in builtin_scenarios() {
        let scenario = builtin.parse().unwrap();
        let spec = registry
            .resolve(&scenario, "keepalive", &Default::default())
            .unwrap();
        let result = run_one(&scenario, &spec, 0, false).unwrap();
        let silent = result
            .operations
            .iter()
            .filter(|(_, o)| *o == sshrace_core::Outcome::SilentFailure)
            .count();
        assert_eq!(
            silent, 0,
            "{}: a real transport never reports a false success",
            builtin.name
        );
        assert_eq!(result.strategy, "keepalive");
    }
}
