//! # sshrace-runner: scenarios x strategies x seeds, judged against ground truth
//!
//! For each (scenario, strategy, seed) the runner plans the scenario's workload for the seed,
//! runs it on a [`Backend`] with the strategy, then judges every operation against the server
//! [`Ledger`](sshrace_core::Ledger): a success the server does not confirm is a silent failure.
//! The simulated world ([`Sim`]) is the default; a real-time backend (containers, in the
//! `sshrace-docker` crate) implements [`RealTime`] and [`LiveHosts`] (start the hosts, dial,
//! apply a fault, read the ledger, tear down) and [`run_real_time`] plays the plan on it. Runs go in parallel on all cores; results are ordered by input, so they never
//! depend on the number of threads. [`Row`]s aggregate runs per (scenario, strategy) with a 95%
//! Wilson interval; [`report`] renders them as table, markdown, csv, json or junit.
//!
//! - [`Registry`]: strategy names to [`StrategySpec`](sshrace_strategy::StrategySpec)s
//!   (built-ins, a scenario's named variants, your own).
//! - [`run_one`]: one simulated run, with its trace, for replay.
//! - [`Job`] and [`execute`]: many runs in parallel ([`execute_on`] on any backend).
//! - [`Row::aggregate`]: runs to a report row.
//! - [`Shard`]: shard K of N of a command's runs; [`Results`]: a results file (`--out`) that
//!   [`merge`] combines into the rows of the unsharded command, exactly.
//! - [`ChromeTrace`]: a run's trace for Perfetto and `chrome://tracing`; [`Timeline`]: the same
//!   trace as lanes of bars and markers, for the HTML report.
//! - [`SweepPlan`] and [`Sweep`]: one [`Parameter`] over a range of values, a row per value and
//!   strategy; [`sweep_svg`] draws it.
//! - [`compare`] and [`Comparison`]: two strategies on the same seeds, the difference paired by
//!   seed with a confidence interval and significance tests.
//! - [`check_invariants`]: what must hold for every run ([`Violation`]s against the ledger);
//!   [`fuzz`]: generated fault timelines, shrunk to a minimal failing scenario file.
//!
//! Cargo features (all off by default; a simulated check needs none): `program` (a user's
//! client program as a strategy on a real-time backend, `ProgramSetup`), `fuzz`, `plot`
//! ([`sweep_svg`]) and `stats` ([`compare`], [`paired_t`], [`sign_test`]).
#![warn(missing_docs)]

mod admission;
mod backend;
mod builtin;
mod cell;
mod chrome;
mod classify;
#[cfg(feature = "stats")]
mod compare;
mod drive;
mod error;
mod execute;
#[cfg(feature = "fuzz")]
pub mod fuzz;
mod invariants;
mod measure;
mod parameter;
#[cfg(feature = "plot")]
mod plot;
mod realtime;
mod record;
mod registry;
pub mod report;
mod results;
mod row;
mod run;
mod seeds;
mod shard;
mod stats;
mod sweep;
mod timeline;

pub use admission::{Cost, admit};
pub use backend::{Backend, Sim};
pub use builtin::{BuiltinScenario, builtin_scenarios};
pub use cell::{Cell, jobs, regroup};
pub use chrome::{ChromeEvent, ChromeTrace};
#[cfg(feature = "stats")]
pub use compare::{Comparison, SeedPair, compare};
pub use error::RunError;
pub use execute::{Job, execute, execute_by, execute_on, execute_with};
#[cfg(feature = "fuzz")]
pub use fuzz::{FuzzConfig, FuzzEvent, FuzzFailure, FuzzReport, apply_events, fuzz};
pub use invariants::{Invariant, Violation, check_invariants};
pub use measure::measure_only;
pub use parameter::{HostKey, Parameter, WorkloadKey, parse_values};
#[cfg(feature = "plot")]
pub use plot::sweep_svg;
#[cfg(feature = "program")]
pub use realtime::ProgramSetup;
pub use realtime::{LiveHosts, LiveRun, RealTime, run_real_time, scaled_params, scaled_plan};
pub use record::{OpRecord, OpResult};
pub use registry::Registry;
pub use results::{
    Merged, NotCarriedOut, RESULTS_FORMAT, ResultCell, ResultRun, Results, RunSummary, SweepHeader,
    VERSION, merge, plan_digest, replay_client,
};
pub use row::{Row, SeedTrace};
pub use run::{RunResult, run_one};
pub use seeds::{default_threads, parse_seed, parse_seeds, with_regression_seeds};
pub use shard::Shard;
#[cfg(feature = "stats")]
pub use stats::{PairedT, paired_t, sign_test};
pub use stats::{percentile, wilson};
pub use sweep::{Sweep, SweepPlan, SweepPoint};
pub use timeline::{Bar, BarKind, FailedOp, Lane, LaneKind, Marker, MarkerKind, Timeline};
