use std::time::Duration;

use async_trait::async_trait;
use sshrace_core::{ExecResult, StrategyParams, TransportError};

use crate::policy::run_on_new_connection;
use crate::{ConnectionPolicy, Env, Request};

/// `fresh`: connect, run, close, for every command; no reuse, no retry.
///
/// Models the automation service of incident 001 *before* its fix: parallel tool calls each
/// open their own SSH connection, so a burst of them is a burst of unauthenticated connections
/// that sshd's MaxStartups drops.
///
/// Parameters: `connect_timeout_ms` (default 10000).
pub struct Fresh {
    env: Env,
    connect_timeout: Option<Duration>,
}

impl Fresh {
    /// Build for one run.
    pub fn new(env: Env, params: &StrategyParams) -> Self {
        Self {
            env,
            connect_timeout: params.duration_or_off(params.connect_timeout_ms, Some(10_000)),
        }
    }
}

#[async_trait]
impl ConnectionPolicy for Fresh {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let mut options = request.options();
        options.connect_timeout = self.connect_timeout;
        run_on_new_connection(self.env.transport.as_ref(), &options, request).await
    }

    async fn shutdown(&self) {}
}
