//! # sshrace-driver: bring your own client
//!
//! The sshrace side of the driver protocol (`docs/driver-protocol.md`): a user's program, in
//! any language, is started once per run and spoken to in JSON lines on its stdin and stdout.
//! sshrace sends `hello` (the targets), then a `run` or `job` request per operation as the plan
//! reaches it, `control` events and finally `shutdown`; the program answers each request with
//! a `reply` (and, for a job, `event`s and a `done`), in any order.
//!
//! - [`Program`]: start a program, [`Program::run`] a command, [`Program::job`] a job,
//!   [`Program::control`], [`Program::shutdown`]. A reader task owns the program's stdout and
//!   routes each reply to the operation waiting for its id.
//! - Every misbehaviour is an outcome of one operation, never a hang: a program that dies fails
//!   what is in flight at once ([`sshrace_core::Cause::ClosedLocally`]), a reply in the wrong
//!   shape fails its operation, garbage lines, unknown ids and duplicates are recorded as
//!   [`Violation`]s (in the trace and in [`ProgramDiagnostics`]) and skipped, and a program that
//!   never answers leaves the operation to its caller's deadline.
//! - An `error` the program reports carries the [`sshrace_core::Cause`] it names (`cause`), or
//!   else is classified as `ssh`'s stderr is ([`reported_error`], [`classify_error`], by
//!   `sshrace_openssh::classify`).
#![warn(missing_docs)]

mod diagnostics;
mod error;
mod lines;
mod name;
mod pipes;
mod program;
mod protocol;
mod routing;

pub use diagnostics::{ProgramDiagnostics, Violation, ViolationKind};
pub use error::{DriverError, cause_named, classify_error, reported_error};
pub use name::display_name;
pub use program::{Options, Program, kill_all};
pub use protocol::{
    JobRequest, JobStepRequest, OpPurpose, OpRequest, PROTOCOL_VERSION, TargetInfo,
};
