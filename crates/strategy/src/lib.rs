//! # sshrace-strategy: the code under test
//!
//! A strategy turns "run this command on that host" into SSH connections and sessions. It sees
//! only [`sshrace_core::Transport`], so the same strategy code runs in the simulation and
//! against a real sshd. Three concerns are pluggable, because the incidents stress different
//! ones:
//!
//! - [`ConnectionPolicy`]: how connections and sessions are opened, shared, checked, recycled
//!   and retried (built-ins: [`Fresh`], [`Cached`], [`Mux`] in exit or stop mode, [`Pool`]);
//! - [`ReachabilityGate`]: whether a host counts as reachable given control-plane status
//!   ([`AgentStatusGate`], [`WorkspaceRunningGate`]);
//! - [`JobRunner`]: how a multi-step remote job reports failures and events ([`Swallow`],
//!   [`Propagate`]).
//!
//! A [`StrategySpec`] names one combination; [`builtin`] builds the named built-ins, and
//! [`StrategySpec::custom`] wraps your own policy:
//!
//! ```
//! use std::sync::Arc;
//! use sshrace_core::{ConnectOptions, ExecResult, TransportError};
//! use sshrace_strategy::{ConnectionPolicy, Env, Request, StrategySpec};
//!
//! /// Connect, run, close: one connection per command.
//! struct OneShot(Env);
//!
//! #[async_trait::async_trait]
//! impl ConnectionPolicy for OneShot {
//!     async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
//!         let options = ConnectOptions { identity: request.identity.clone(), ..Default::default() };
//!         let connection = self.0.transport.connect(&request.host, &options).await?;
//!         let result = connection.exec(&request.command).await?.wait().await;
//!         connection.close().await;
//!         result
//!     }
//!     async fn shutdown(&self) {}
//! }
//!
//! let spec = StrategySpec::custom("one-shot", |env| Arc::new(OneShot(env)));
//! assert_eq!(spec.name(), "one-shot");
//! ```
#![warn(missing_docs)]

mod backoff;
mod builtin;
mod cached;
mod env;
mod fresh;
mod gate;
mod job;
mod mux;
mod policy;
mod pool;
mod spec;

pub use builtin::{BUILTIN, builtin};
pub use cached::Cached;
pub use env::Env;
pub use fresh::Fresh;
pub use gate::{AgentStatusGate, ReachabilityGate, WorkspaceRunningGate, watch_gate};
pub use job::{EventSink, Job, JobReport, JobRunner, JobStep, Propagate, Swallow};
pub use mux::{Mux, MuxMode};
pub use policy::{ConnectionPolicy, MasterCommand, Request};
pub use pool::Pool;
pub use spec::{BuiltStrategy, StrategySpec};
