use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::TransportError;

/// Client options a connection is made with, named after their `ssh_config` counterparts.
///
/// Defaults are OpenSSH's: no ConnectTimeout (the TCP stack decides), ServerAliveInterval 0 (off),
/// ServerAliveCountMax 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `ConnectTimeout`: covers TCP connect, banner and key exchange.
    pub connect_timeout: Option<Duration>,
    /// `ServerAliveInterval`: probe the server after this long without traffic from it.
    pub server_alive_interval: Option<Duration>,
    /// `ServerAliveCountMax`: unanswered probes before the connection is declared dead.
    pub server_alive_count_max: u32,
    /// Name of the key to authenticate with (`IdentityFile`); sshd accepts every key except ones
    /// its configuration lists as revoked.
    pub identity: String,
    /// `ControlPersist` of a ControlMaster: once no session has been open for this long, the
    /// connection exits by itself; a session opened in time cancels that. A session requested
    /// while it exits fails with `mux_client_hello_exchange: write packet: Broken pipe`
    /// ([`crate::Cause::ConnectionClosed`]). The transport does it (the `ssh` client itself, over
    /// OpenSSH), not the strategy. `None`: the connection stays until closed or lost.
    pub control_persist: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: None,
            server_alive_interval: None,
            server_alive_count_max: 3,
            identity: "default".to_owned(),
            control_persist: None,
        }
    }
}

/// What a finished remote command returned to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecResult {
    /// The remote command's exit status.
    pub exit_status: u32,
    /// Stdout bytes received.
    pub stdout_bytes: u64,
    /// Stderr bytes received.
    pub stderr_bytes: u64,
}

/// One piece of a running session's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// Stdout bytes arrived.
    Stdout(u64),
    /// Stderr bytes arrived.
    Stderr(u64),
    /// The command exited with this status; no more events follow.
    Exit(u32),
}

/// Opens connections to hosts. The one door a strategy has to the network: the simulation,
/// russh over real TCP and the OpenSSH client each implement it.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Connect to `host` (TCP, SSH handshake, authentication). Fails with exit-255 causes such
    /// as [`crate::Cause::ClosedBeforeBanner`] or [`crate::Cause::ConnectTimeout`].
    async fn connect(
        &self,
        host: &str,
        options: &ConnectOptions,
    ) -> Result<Arc<dyn Connection>, TransportError>;
}

/// An authenticated SSH connection (for the OpenSSH client transport: a ControlMaster).
///
/// Sessions opened on it share its fate: when it closes or dies, each session without an exit
/// status yet fails with exit 255.
#[async_trait]
pub trait Connection: Send + Sync {
    /// Transport-assigned id, unique within a run, in connect order.
    fn id(&self) -> u64;

    /// The host it is connected to.
    fn host(&self) -> &str;

    /// Open a session channel and run `command` in it.
    async fn exec(&self, command: &str) -> Result<Box<dyn Session>, TransportError>;

    /// Whether the connection is known to be closed (locally, by the peer, or by keepalive).
    /// A half-open connection is not known to be closed: this is a local check, not a probe.
    fn is_closed(&self) -> bool;

    /// `ssh -O check`: ask the connection (master) whether it is alive. For a local connection
    /// this is [`Connection::is_closed`]; for a ControlMaster it asks the master process.
    async fn check(&self) -> Result<(), TransportError>;

    /// `ssh -O exit`: close now. Every session on it without an exit status fails with 255.
    async fn close(&self);

    /// `ssh -O stop`: accept no new sessions; close once the running ones have ended.
    async fn drain(&self);

    /// Sessions currently open on this connection.
    fn open_sessions(&self) -> usize;
}

/// A remote command running in a session channel.
#[async_trait]
pub trait Session: Send {
    /// The next piece of output or the exit status. `Err` when the session died first (its
    /// connection closed or was lost); after `Exit` or an error, `None`.
    async fn next(&mut self) -> Option<Result<SessionEvent, TransportError>>;

    /// Read everything until the command exits.
    async fn wait(mut self: Box<Self>) -> Result<ExecResult, TransportError> {
        let mut result = ExecResult {
            exit_status: 0,
            stdout_bytes: 0,
            stderr_bytes: 0,
        };
        loop {
            match self.next().await {
                Some(Ok(SessionEvent::Stdout(n))) => result.stdout_bytes += n,
                Some(Ok(SessionEvent::Stderr(n))) => result.stderr_bytes += n,
                Some(Ok(SessionEvent::Exit(status))) => {
                    result.exit_status = status;
                    return Ok(result);
                }
                Some(Err(error)) => return Err(error),
                None => {
                    return Err(TransportError::new(
                        crate::Cause::ConnectionLost,
                        "session ended without an exit status",
                    ));
                }
            }
        }
    }
}
