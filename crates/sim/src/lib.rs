//! # sshrace-sim: the simulated world
//!
//! A turmoil simulation with one client host (`client`) that runs the caller's async code
//! (a strategy driving a workload), target hosts that each run an [`sshrace_sshd::Sshd`], and a
//! control-plane host (`control`) that answers status polls over TCP. Time is virtual; the whole
//! run happens on one thread and is a pure function of its [`WorldConfig`] (seed included).
//!
//! [`Fault`](sshrace_core::Fault)s are applied between simulation steps at their instant:
//! partitions (silent drops, so connections go half-open until the heal, when TCP's next
//! retransmission gets through), one-way partitions, crash and
//! restart, pause (traffic to the host is held, as under SIGSTOP), NAT idle drops (applied per
//! flow in the client's dialer), latency with seeded jitter, control-plane status changes.
//!
//! Determinism: turmoil gets `rng_seed` and a fixed `epoch`; tokio's `select!` order is seeded
//! by turmoil (the workspace builds with `--cfg tokio_unstable`); latency jitter is a function of
//! (seed, link, interval), not of how many messages were sent, so russh's internal ordering
//! cannot change the timing. `tests/determinism.rs` checks it across processes.
//!
//! ```
//! use sshrace_core::{CommandSpec, ConnectOptions};
//! use sshrace_sim::{World, WorldConfig};
//! use std::time::Duration;
//!
//! let config = WorldConfig::new(7).target("target");
//! let outcome = World::run(&config, |ctx| async move {
//!     let connection = ctx.transport.connect("target", &ConnectOptions::default()).await?;
//!     let command = CommandSpec::new(1, Duration::from_secs(5)).to_command_line();
//!     connection.exec(&command).await?.wait().await
//! })
//! .unwrap();
//! assert_eq!(outcome.client.unwrap().unwrap().exit_status, 0);
//! assert!(outcome.ledger.completed_successfully(1));
//! ```
#![warn(missing_docs)]

// The byte-identical trace guarantee needs tokio's `select!` branch order seeded by turmoil,
// which tokio only does under `--cfg tokio_unstable`. Without it a seed silently stops
// reproducing its run, so the build stops here instead (the convention of madsim's
// `--cfg madsim`). `doc` is exempt so that `cargo doc` works with default flags.
#[cfg(all(not(tokio_unstable), not(doc)))]
compile_error!(
    "sshrace-sim must be built with `--cfg tokio_unstable`, or its runs are not deterministic \
     (tokio seeds `select!` branch order from the simulation seed only under that flag). \
     Add to `.cargo/config.toml` next to your Cargo.toml:\n\n    [build]\n    \
     rustflags = [\"--cfg\", \"tokio_unstable\"]\n\nor build with \
     RUSTFLAGS=\"--cfg tokio_unstable\" (this replaces any rustflags from config files)."
);

mod clock;
mod config;
mod control;
mod dialer;
mod error;
mod jitter;
pub mod speed;
mod world;

pub use config::{TargetConfig, WorldConfig};
pub use control::ControlPlaneClient;
pub use dialer::SimDialer;
pub use error::SimError;
pub use world::{CLIENT_HOST, SimContext, SimOutcome, World};
