//! The OpenSSH client (`ssh` processes) as an [`sshrace_core::Transport`].
//!
//! A connection is a ControlMaster: `ssh -N -M -S <workdir>/c<id>.sock -o ControlPersist=no`,
//! kept as a child process (so it dies with the run: `kill_on_drop`), ready once its control
//! socket appears (OpenSSH creates it after authentication). A session is one
//! `ssh -S <socket> -o ControlMaster=no ... -- <command>` process with stdout and stderr piped.
//! Everything OpenSSH does is left to OpenSSH: a session whose master is killed exits 255, a
//! session refused by MaxSessions makes the client fall back to a direct connection ("disabling
//! multiplexing"), `-O stop` lets running sessions finish.
//!
//! Exit 255 is mapped to the [`Cause`]s the simulation uses, from what `ssh` printed (the
//! session's stderr, or when it printed nothing, how its master ended). Unknown text becomes
//! [`Cause::ConnectionLost`] with the text kept in the message.
//!
//! `LogLevel=INFO`, not `ERROR`: OpenSSH logs `Timeout, server HOST not responding.` at INFO,
//! so at ERROR a keepalive timeout would be indistinguishable from any other loss. Lines that
//! are `ssh`'s own diagnostics (`Warning: Permanently added ...`, `mux_client_...`,
//! `Control socket connect(...)`, ...) are kept out of the [`SessionEvent::Stderr`] counts.
//!
//! - `transport`: [`OpenSshTransport`], its workdir (key file, control sockets) and `connect`.
//! - `args`: the `ssh` command lines.
//! - `program`: [`SshProgram`], which `ssh` runs (default: `ssh` from PATH).
//! - `master`: the ControlMaster's lifecycle (start, watch, `-O` commands, how it ended).
//! - `classify`: exit 255 to a [`Cause`] from `ssh`'s stderr ([`classify`]), and the filter
//!   that keeps `ssh`'s diagnostics out of the remote's stderr.
//! - `connection`: the [`sshrace_core::Connection`] and [`sshrace_core::Session`] impls.
//!
//! [`Cause`]: sshrace_core::Cause
//! [`Cause::ConnectionLost`]: sshrace_core::Cause::ConnectionLost
//! [`SessionEvent::Stderr`]: sshrace_core::SessionEvent::Stderr

mod args;
mod classify;
mod connection;
mod master;
mod program;
mod transport;

pub use classify::classify;
pub use program::SshProgram;
pub use transport::OpenSshTransport;

/// The host name the client's trace events carry (as in the simulation).
const CLIENT_HOST: &str = "client";

/// The track the client's connections are drawn on (as `RusshTransport` draws them).
const CONNECTIONS_TRACK: &str = "connections";

/// The span of connection `id` on [`CONNECTIONS_TRACK`].
fn connection_span(id: u64) -> String {
    format!("c{id}")
}
