use async_trait::async_trait;
use sshrace_core::{Cause, ConnectOptions, ExecResult, Transport, TransportError};

/// One command the caller wants run on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Target host.
    pub host: String,
    /// The command line.
    pub command: String,
    /// A health check / status poll rather than real work (Coolify's ServerConnectionCheckJob).
    pub health_check: bool,
    /// Whether the caller allows a retry (is the command safe to run twice?).
    pub retryable: bool,
    /// Key to authenticate with.
    pub identity: String,
}

impl Request {
    /// A request for `command` on `host`, not retryable, default identity.
    pub fn new(host: &str, command: impl Into<String>) -> Self {
        Self {
            host: host.to_owned(),
            command: command.into(),
            health_check: false,
            retryable: false,
            identity: "default".to_owned(),
        }
    }

    /// ConnectOptions with this request's identity.
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            identity: self.identity.clone(),
            ..ConnectOptions::default()
        }
    }
}

/// A command to a ControlMaster, as `ssh -O` sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterCommand {
    /// `ssh -O exit`: end the master and every session on it.
    Exit,
    /// `ssh -O stop`: stop accepting sessions; the master exits with its last one.
    Stop,
}

/// How connections and sessions are opened, shared, checked, recycled and retried.
///
/// The runner calls [`ConnectionPolicy::run`] concurrently from many tasks; what it returns is
/// what the caller believes happened, and is compared with the server's ledger.
#[async_trait]
pub trait ConnectionPolicy: Send + Sync {
    /// Run `request.command` on `request.host` and return its result as the caller will see it.
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError>;

    /// Tear down every connection to `host` (a reachability gate said it is unreachable).
    async fn disconnect(&self, host: &str) {
        let _ = host;
    }

    /// A recycle moment from the timeline: do whatever this policy does when it refreshes
    /// its connections to `host` (nothing, by default).
    async fn refresh(&self, host: &str) {
        let _ = host;
    }

    /// `ssh -O exit` / `ssh -O stop` sent to this policy's master for `host` from outside
    /// (another process on the same machine). Without a master: `Exit` disconnects the host,
    /// `Stop` does nothing.
    async fn master(&self, host: &str, command: MasterCommand) {
        if command == MasterCommand::Exit {
            self.disconnect(host).await;
        }
    }

    /// The run is over: close everything this policy holds.
    async fn shutdown(&self);
}

/// Connect with `options`, run `request.command`, close: one command on its own connection.
pub(crate) async fn run_on_new_connection(
    transport: &dyn Transport,
    options: &ConnectOptions,
    request: &Request,
) -> Result<ExecResult, TransportError> {
    let connection = transport.connect(&request.host, options).await?;
    let result = match connection.exec(&request.command).await {
        Ok(session) => session.wait().await,
        Err(error) => Err(error),
    };
    connection.close().await;
    result
}

/// Whether a failed command certainly never started on the server.
pub(crate) fn never_started(cause: Cause) -> bool {
    matches!(
        cause,
        Cause::ConnectionRefused
            | Cause::ConnectTimeout
            | Cause::ClosedBeforeBanner
            | Cause::ChannelRefused
            | Cause::ConnectionClosed
    )
}
