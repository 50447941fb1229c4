//! # sshrace-sshd: an sshd model that enforces what OpenSSH enforces
//!
//! russh's server has no MaxStartups or MaxSessions and reaps quiet connections after 600 s;
//! OpenSSH does the opposite on all three. [`Sshd`] wraps the russh server so that, on any
//! tokio stream (a turmoil `TcpStream` in the simulation), it behaves like OpenSSH 9.2:
//!
//! - **MaxStartups** `start:rate:full` random early drop of unauthenticated connections, with
//!   OpenSSH's integer formula ([`MaxStartups::drop_percent`]) and a seeded RNG; a dropped client
//!   sees the connection closed before the banner.
//! - **MaxSessions** per connection: the extra channel is refused with reason 2, `open failed`.
//! - **LoginGraceTime**, **ClientAliveInterval/CountMax**; no inactivity reaping.
//! - **PerSourcePenalties** when the profile is OpenSSH 10.0 ([`sshrace_core::PerSourcePenalties`]):
//!   connections that end unauthenticated charge their source address; once the outstanding
//!   penalty passes `min`, every new connection from that address is closed before the banner
//!   until it expires. [`Sshd::serve_from`] says which address a connection comes from.
//! - A per-handshake cost on a bounded number of workers, so floods queue.
//! - A command model: `sshrace-cmd` lines ([`sshrace_core::CommandSpec`]) run as timed data.
//! - Ground truth: every connection and session lands in a shared [`sshrace_core::Ledger`].
//!
//! [`Sshd::serve`] takes one accepted stream; the accept loop belongs to the caller (the
//! simulation, or a test), so this crate depends on neither turmoil nor a real socket.
#![warn(missing_docs)]

mod command;
mod handler;
mod killable;
mod penalties;
mod server;

pub use server::Sshd;
pub use sshrace_core::{MaxStartups, OpenSshProfile, PerSourcePenalties, SshdConfig};
