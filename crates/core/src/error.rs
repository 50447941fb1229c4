use std::fmt;

/// Why an SSH-level operation failed: every cause is one an OpenSSH client reports with exit
/// status 255. The message of a [`TransportError`] is the text OpenSSH prints for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// TCP connect refused (host down, nothing listening): `connect to host ... Connection refused`.
    ConnectionRefused,
    /// TCP connect, banner or key exchange did not finish within ConnectTimeout.
    ConnectTimeout,
    /// sshd closed the connection before the banner, as MaxStartups does:
    /// `kex_exchange_identification: Connection closed by remote host`.
    ClosedBeforeBanner,
    /// The server rejected every key: `Permission denied (publickey).`
    AuthFailed,
    /// The server refused a session channel, as MaxSessions does:
    /// `channel 0: open failed: connect failed: open failed`.
    ChannelRefused,
    /// The connection died under a running session: `Connection to HOST closed by remote host.`
    ConnectionLost,
    /// ServerAliveInterval x ServerAliveCountMax passed without an answer:
    /// `Timeout, server HOST not responding.`
    KeepaliveTimeout,
    /// The client side closed the connection under a running session (`ssh -O exit` on the
    /// master, or a strategy tearing it down).
    ClosedLocally,
    /// The connection was already closed or draining when a session was asked of it.
    ConnectionClosed,
}

impl Cause {
    /// A stable, lower-case name for reports (`closed-before-banner`).
    pub fn name(self) -> &'static str {
        match self {
            Cause::ConnectionRefused => "connection-refused",
            Cause::ConnectTimeout => "connect-timeout",
            Cause::ClosedBeforeBanner => "closed-before-banner",
            Cause::AuthFailed => "auth-failed",
            Cause::ChannelRefused => "channel-refused",
            Cause::ConnectionLost => "connection-lost",
            Cause::KeepaliveTimeout => "keepalive-timeout",
            Cause::ClosedLocally => "closed-locally",
            Cause::ConnectionClosed => "connection-closed",
        }
    }

    /// Every cause, in report order.
    pub const ALL: [Cause; 9] = [
        Cause::ConnectionRefused,
        Cause::ConnectTimeout,
        Cause::ClosedBeforeBanner,
        Cause::AuthFailed,
        Cause::ChannelRefused,
        Cause::ConnectionLost,
        Cause::KeepaliveTimeout,
        Cause::ClosedLocally,
        Cause::ConnectionClosed,
    ];
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An SSH-level failure, as the OpenSSH client reports it: exit status 255, a [`Cause`], and the
/// message OpenSSH would print.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (exit 255, {cause})")]
pub struct TransportError {
    /// Why it failed.
    pub cause: Cause,
    /// What an OpenSSH client would print.
    pub message: String,
}

impl TransportError {
    /// A failure with `cause` and OpenSSH's message for it.
    pub fn new(cause: Cause, message: impl Into<String>) -> Self {
        Self {
            cause,
            message: message.into(),
        }
    }

    /// The exit status an OpenSSH client returns for any SSH-level error.
    pub const EXIT_STATUS: u32 = 255;
}

/// How one client operation failed, in the classes an OpenSSH user tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureClass {
    /// Exit 255: an SSH-level failure.
    Transport(Cause),
    /// The remote command ran and exited non-zero.
    RemoteExit(u32),
    /// The client gave up waiting (a timeout of the strategy or of the operation).
    Timeout,
}

impl From<&TransportError> for FailureClass {
    fn from(error: &TransportError) -> Self {
        FailureClass::Transport(error.cause)
    }
}
