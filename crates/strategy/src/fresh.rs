use std::time::Duration;

use async_trait::async_trait;
use sshrace_core::{Cause, ExecResult, StrategyParams, TransportError};

use crate::backoff::capped;
use crate::policy::{never_started, run_on_new_connection};
use crate::{ConnectionPolicy, Env, Request};

/// `fresh`: connect, run, close, for every command; no reuse, and by default no retry.
///
/// Models the automation service of incident 001 *before* its fix: parallel tool calls each
/// open their own SSH connection, so a burst of them is a burst of unauthenticated connections
/// that sshd's MaxStartups drops. With `attempts` above 1 it is a retry wrapper around `ssh`
/// (separate jobs, each its own process): a failed command is tried again after
/// `min(retry_base * 2^attempt, retry_cap)` when it never started (its authentication failure
/// included, unless `retry_auth_failures` is off: a wrapper that retries every exit 255 retries
/// `Permission denied` too) or the caller marked it retryable.
///
/// Parameters (defaults): `connect_timeout_ms` (10000), `attempts` (1: no retry),
/// `retry_base_ms` (1000), `retry_cap_ms` (30000), `retry_auth_failures` (true).
pub struct Fresh {
    env: Env,
    connect_timeout: Option<Duration>,
    attempts: u32,
    retry_base: Duration,
    retry_cap: Duration,
    retry_auth_failures: bool,
}

impl Fresh {
    /// Build for one run.
    pub fn new(env: Env, params: &StrategyParams) -> Self {
        Self {
            env,
            connect_timeout: params.duration_or_off(params.connect_timeout_ms, Some(10_000)),
            attempts: params.attempts.unwrap_or(1).max(1),
            retry_base: params.duration(params.retry_base_ms, 1_000),
            retry_cap: params.duration(params.retry_cap_ms, 30_000),
            retry_auth_failures: params.retry_auth_failures.unwrap_or(true),
        }
    }
}

#[async_trait]
impl ConnectionPolicy for Fresh {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let mut options = request.options();
        options.connect_timeout = self.connect_timeout;
        let mut attempt = 0;
        loop {
            let result =
                run_on_new_connection(self.env.transport.as_ref(), &options, request).await;
            let may_retry = |error: &TransportError| match error.cause {
                // A command whose authentication failed never ran, so a retry is "safe".
                Cause::AuthFailed => self.retry_auth_failures,
                cause => never_started(cause) || request.retryable,
            };
            match result {
                Err(error) if attempt + 1 < self.attempts && may_retry(&error) => {
                    let delay = capped(self.retry_base, self.retry_cap, attempt);
                    self.env.record(format!(
                        "fresh: attempt {} on {} failed ({}), retrying in {}s",
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

    async fn shutdown(&self) {}
}
