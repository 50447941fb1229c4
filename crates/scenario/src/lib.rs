//! # sshrace-scenario: scenario files to seeded plans
//!
//! A *scenario* is a TOML file describing one incident: the hosts and their sshd settings, the
//! operations a client runs, a timeline of faults, the strategies to compare, and simulation
//! settings. This crate reads one into a validated [`Scenario`] and expands it, for a seed, into
//! a deterministic [`Plan`]. It does no I/O apart from [`Scenario::load`] reading the file.
//!
//! - [`Scenario::from_str`] / [`Scenario::load`]: TOML text to a [`Scenario`], or one
//!   [`ScenarioError`] pointing at `path:line:column: field:` for any problem, from a TOML
//!   syntax error or an unknown key to a timeline entry after the end of the run.
//! - [`Scenario`] holds [`Host`]s (with [`sshrace_core::SshdConfig`]), [`Workload`] items (each a
//!   [`WorkloadKind`] with [`CommandTemplate`]s and [`Arrivals`]), [`TimelineEntry`]s (an
//!   [`At`] and an [`Action`], usually a [`sshrace_core::Fault`]), [`StrategyVariant`]s and
//!   [`Expectation`]s.
//! - [`Scenario::plan`]: for a seed, every [`PlannedOperation`] with its time and concrete
//!   [`sshrace_core::CommandSpec`]s, and every [`PlannedEvent`]. Each workload item and timeline
//!   entry draws from its own random stream, so adding one does not move the others.
//! - [`Scenario::to_toml`]: back to a file that reads as an equal scenario.
//!
//! ```
//! use sshrace_scenario::{PlannedKind, Scenario};
//! use std::time::Duration;
//!
//! let text = r#"
//! description = "Deploys while the target reboots."
//! strategies = ["mux-exit"]
//!
//! [sim]
//! duration_ms = 600000
//!
//! [[host]]
//! name = "target"
//!
//! [[workload]]
//! name = "deploy"
//! host = "target"
//! every_ms = 60000
//! duration_ms = 5000
//!
//! [[timeline]]
//! at_ms = 300000
//! fault = "crash"
//! host = "target"
//! "#;
//! let scenario = Scenario::from_str(text, "scenarios/reboot.toml").unwrap();
//! assert_eq!(scenario.name, "reboot");
//!
//! let plan = scenario.plan(7);
//! assert_eq!(plan.operations.len(), 10);
//! assert_eq!(plan.operations[1].at, Duration::from_secs(60));
//! assert!(matches!(&plan.operations[1].kind, PlannedKind::Command { spec, .. } if spec.operation == 2));
//! assert_eq!(plan, scenario.plan(7));
//!
//! let error = Scenario::from_str(&text.replace("300000", "900000"), "scenarios/reboot.toml")
//!     .unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "scenarios/reboot.toml:18:9: timeline[0].at_ms: 900000 is after sim.duration_ms (600000)"
//! );
//! ```
#![warn(missing_docs)]

mod convert;
mod error;
mod location;
mod plan;
mod raw;
mod scenario;
mod seed;
mod timeline;
mod workload;
mod writer;

#[cfg(test)]
mod fixtures;

pub use error::ScenarioError;
pub use plan::{Plan, PlannedEvent, PlannedKind, PlannedOperation, PlannedStep};
pub use raw::parse_seed;
pub use scenario::{
    Expectation, Host, OUTCOME_KINDS, Profile, Scenario, SimSettings, StrategyVariant,
};
pub use timeline::{Action, At, TimelineEntry};
pub use workload::{Arrivals, CommandTemplate, Purpose, Step, Workload, WorkloadKind};
