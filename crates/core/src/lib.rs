//! # sshrace-core: the vocabulary every other sshrace crate speaks
//!
//! This crate has no simulation, SSH or Docker code in it (like ripgrep's `matcher`), so that a
//! connection strategy which depends on it alone runs unchanged in the simulation and against a
//! real sshd.
//!
//! - [`Transport`], [`Connection`], [`Session`]: what a strategy sees. A connection is TCP plus an
//!   authenticated SSH transport; a session is one remote command on it (one channel).
//! - [`TransportError`] and [`FailureClass`]: client-side failures classified the way an OpenSSH
//!   user sees them (exit 255 with a cause, remote non-zero exit, timeout).
//! - [`CommandSpec`]: a remote command described by data (duration, exit code, output), encoded
//!   as a command line the simulated sshd and the in-container script both understand.
//! - [`Ledger`]: the server-side ground truth of every connection and session.
//! - [`Trace`]: the ordered, hashable event log of one run; [`Mark`]s on its events give a
//!   timeline viewer spans (connections, sessions, commands) and instants (faults).
//! - [`Fault`]: what a timeline does to the network, a host or the control plane.
//! - [`AddressBook`]: where each host is reached now, for the transports that dial a real network.
//!
//! ```
//! use sshrace_core::CommandSpec;
//! use std::time::Duration;
//!
//! let deploy = CommandSpec::new(7, Duration::from_secs(60)).stdout_bytes(4096);
//! let line = deploy.to_command_line();
//! assert_eq!(CommandSpec::parse(&line).unwrap(), deploy);
//! ```
#![warn(missing_docs)]

mod address_book;
mod clock;
mod command;
mod control;
mod error;
mod fault;
mod ledger;
pub mod limits;
mod mark;
mod outcome;
mod sshd_config;
mod stall;
mod strategy_params;
mod trace;
mod transport;

pub use address_book::AddressBook;
pub use clock::{Clock, FixedClock};
pub use command::{CommandBehaviour, CommandSpec, CommandSpecError};
pub use control::{ControlPlane, WorkspaceStatus};
pub use error::{Cause, FailureClass, TransportError};
pub use fault::{Fault, TimedFault};
pub use ledger::{ConnectionEnd, ConnectionRecord, Ledger, SessionEnd, SessionRecord};
pub use mark::Mark;
pub use outcome::Outcome;
pub use sshd_config::{MaxStartups, OpenSshProfile, PerSourcePenalties, SshdConfig};
pub use stall::{StallFate, StallLog, StalledConnection};
pub use strategy_params::{AT_LEAST_ONE, ParamError, StrategyParams, millis_or_off};
pub use trace::{Trace, TraceEvent};
pub use transport::{ConnectOptions, Connection, ExecResult, Session, SessionEvent, Transport};
