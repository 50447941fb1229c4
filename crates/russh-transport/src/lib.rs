//! # sshrace-russh: the [`Transport`](sshrace_core::Transport) over the russh client
//!
//! [`RusshTransport`] speaks real SSH over whatever stream a [`Dialer`] opens: a
//! `turmoil::net::TcpStream` in the simulation, a `tokio::net::TcpStream` against a real sshd.
//! It maps russh's failures to the [`Cause`](sshrace_core::Cause)s an OpenSSH client reports
//! (closed before the banner, channel refused, keepalive timeout, ...), so strategies see the
//! same errors on every backend.
//!
//! Client options follow OpenSSH: `ConnectTimeout` bounds connect, banner, key exchange and
//! authentication; `ServerAliveInterval` x `ServerAliveCountMax` unanswered probes close the
//! connection; there is no inactivity timeout.
#![warn(missing_docs)]

mod connection;
mod counting;
mod session;
mod stall;
mod transport;

pub use stall::stall;
pub use transport::{Dialer, RusshTransport};
