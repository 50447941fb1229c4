//! # sshrace: race-test your SSH connection strategy in `cargo test`
//!
//! Your code decides how commands become SSH connections and sessions: a connection per command,
//! a cached connection, a pool, a ControlMaster. sshrace runs that code, unchanged, through race
//! timelines (a MaxStartups flood, MaxSessions on one connection, a NAT that forgets quiet flows,
//! a master recycled under a running deploy) over the real SSH protocol, in a simulated network
//! with virtual time, against an sshd that enforces what OpenSSH enforces. The server records what
//! really ran, so a command your code reported as done but that never finished is caught. Add it
//! as a dev-dependency and fail the build when your strategy regresses:
//!
//! ```toml
//! [dev-dependencies]
//! sshrace = "0.1"
//! ```
//!
//! A strategy implements [`ConnectionPolicy`] and reaches the network only through the
//! [`Transport`] in its [`Env`]. This one opens a connection per command, with keepalives; the
//! test runs it through two built-in races on ten seeds each:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use sshrace::{
//!     Check, ConnectOptions, ConnectionPolicy, Env, ExecResult, Request, StrategySpec,
//!     TransportError, builtin,
//! };
//!
//! /// Connect, run, close; probe the server every 30 s so a dead path is noticed.
//! struct FreshWithKeepalive(Env);
//!
//! #[sshrace::async_trait]
//! impl ConnectionPolicy for FreshWithKeepalive {
//!     async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
//!         let options = ConnectOptions {
//!             server_alive_interval: Some(Duration::from_secs(30)),
//!             ..request.options()
//!         };
//!         let connection = self.0.transport.connect(&request.host, &options).await?;
//!         let result = async { connection.exec(&request.command).await?.wait().await }.await;
//!         connection.close().await;
//!         result
//!     }
//!
//!     async fn shutdown(&self) {}
//! }
//!
//! // In a #[test] function:
//! let strategy = StrategySpec::custom("fresh-keepalive", |env| Arc::new(FreshWithKeepalive(env)));
//! Check::new(strategy)
//!     .scenario(builtin::named("silent-build-no-keepalive"))
//!     .scenario(builtin::named("swallowed-install-error"))
//!     .seeds(0..10)
//!     .run()
//!     .assert_no_silent_failures()
//!     .assert_failure_rate_below("silent-build-no-keepalive", 0.01);
//! ```
//!
//! A passing check prints nothing. A failing assertion panics with the result table, the failing
//! seeds and the command that replays one (see [`Report`]).
//!
//! ## The parts
//!
//! - **Writing a strategy**: [`ConnectionPolicy`] (`run` and `shutdown`; `disconnect`, `refresh`
//!   and `master` have defaults), the [`Request`] it is given, the [`Env`] it is built with (the
//!   [`Transport`], a seeded random stream, the run's [`Trace`]) and [`StrategySpec::custom`] to
//!   name it. The transport side: [`Connection`], [`Session`], [`ConnectOptions`] (named after
//!   `ssh_config`), [`ExecResult`] and [`TransportError`] with its [`Cause`], each an exit-255
//!   failure OpenSSH reports. [`#[async_trait]`](macro@async_trait) is re-exported: a strategy
//!   needs no other sshrace crate, nor async-trait.
//! - **Choosing what runs**: [`Check`] takes a [`Strategy`] (yours, or a built-in by name such
//!   as `"pool"`), scenarios and seeds.
//! - **Judging**: [`Check::run`] returns a [`Report`]: one [`Row`] per scenario and strategy, the
//!   same rows `sshrace run` prints, built from [`RunResult`]s whose operations each have an
//!   [`Outcome`]; assertions; [`Report::compare`] gives a [`Difference`] per scenario;
//!   [`Report::snapshot_rows`] gives [`SnapshotRow`]s for a reviewed snapshot.
//!
//! ## Scenarios
//!
//! - [`builtin::all`]: every scenario shipped with sshrace; [`builtin::named`] picks one
//!   (`sshrace list` describes them).
//! - Your own race timelines, in the TOML format of sshrace's `scenarios/`:
//!   [`Scenario::load`] for one file, [`scenarios_in`] for every `*.toml` in a directory.
//!   Relative paths are relative to your package's root, where `cargo test` runs tests.
//!
//! Each scenario runs with the strategy under test only; [`Check::also`] adds others to the
//! table (assertions still judge only yours). A scenario's `[[expect]]` bounds apply to the
//! strategy of the same name ([`Report::assert_meets_expectations`]).
//!
//! ## Assertions
//!
//! | assertion | fails when the strategy under test |
//! |---|---|
//! | [`assert_no_silent_failures`](Report::assert_no_silent_failures) | reported success for a command the server did not complete |
//! | [`assert_failure_rate_below`](Report::assert_failure_rate_below) | failed `max` or more of a scenario's measured operations |
//! | [`assert_not_worse_than`](Report::assert_not_worse_than) | fails more often than a baseline, with 95% confidence, paired by seed |
//! | [`assert_meets_expectations`](Report::assert_meets_expectations) | breaks a scenario's `[[expect]]` bound for its name |
//! | [`assert_no_leaks`](Report::assert_no_leaks) | left a session or connection open after shutdown |
//!
//! Each returns the report, so they chain. For anything else, [`Report::rows`] and
//! [`Report::runs`] hold every figure and [`Report::replay_command`] makes the replay line.
//!
//! ## Seeds and replay
//!
//! A check runs each scenario's regression seeds (`seeds = [...]` in its file), then the seeds
//! given to [`Check::seeds`] (default `0..20`), in parallel on every core. The same seeds give the
//! same rows on any machine, with any number of threads. Two environment variables override the
//! seeds of every check in the process:
//!
//! - `SSHRACE_SEED=<n>` (decimal or `0x`-hex): run only seed `n`, regression seeds left out, and
//!   print each run's timeline (every connection, session, fault and outcome in virtual time) to
//!   the test's output before the assertions run.
//! - `SSHRACE_SEEDS=A..B` (or `N` for `0..N`): run these seeds instead of the check's.
//! - `SSHRACE_SHARD=K/N`: run only shard K of N of each check's (scenario, seed) pairs, to
//!   split a heavy check over N CI jobs (every strategy of the check runs a seed in the same
//!   shard, so paired comparisons hold; each shard's assertions judge its own runs). With
//!   `SSHRACE_SEED` the replayed seed runs whatever the shard.
//!
//! A failure message ends with the command that replays a failing seed. For your own strategy it
//! is the test itself, named from the test thread:
//! `SSHRACE_SEED=7 cargo test -- my_strategy_survives_the_races --exact --nocapture`. For a
//! built-in it is the command line: `sshrace replay scenarios/deploy-age-recycle.toml --strategy
//! mux-exit --seed 7`.
//!
//! ## Snapshots
//!
//! [`Report::snapshot_rows`] is a stable, serialisable summary of the rows (counts and outcomes;
//! no latencies, trace hashes or paths) for [`insta`](https://insta.rs): any change in what
//! happened to the operations then needs a reviewed `cargo insta review`.
//!
//! ```
//! use sshrace::{Check, builtin};
//! # let strategy = sshrace::doc_support::one_shot();
//!
//! let report = Check::new(strategy)
//!     .scenario(builtin::named("swallowed-install-error"))
//!     .seeds(0..2)
//!     .run();
//! insta::assert_yaml_snapshot!(report.snapshot_rows(), @r#"
//! - scenario: swallowed-install-error
//!   strategy: one-shot
//!   runs: 2
//!   operations: 2
//!   failures: 0
//!   silent_failures: 0
//!   outcomes:
//!     "transport:connection-lost": 2
//!   lost_events: 0
//!   connections_opened: 10
//!   peak_sessions_per_connection: 1
//!   leaked: 0
//!   failing_seeds: []
//! "#);
//! ```
//!
//! In a test file, `insta::assert_yaml_snapshot!(report.snapshot_rows())` writes the snapshot
//! next to it (`tests/snapshots/`) for review.
//!
//! ## Logs, output and test runners
//!
//! - A passing check prints nothing. Under `SSHRACE_SEED` it prints timelines, which the test
//!   harness shows for a failing test or with `--nocapture`.
//! - Logs go through [`tracing`](https://docs.rs/tracing). With `RUST_LOG` set (e.g.
//!   `RUST_LOG=sshrace=debug`, one line per run) and no subscriber installed yet, a check installs
//!   one that writes to the test's captured output; it never replaces yours.
//! - No global state beyond that: checks work under `cargo test` (tests in threads) and
//!   `cargo nextest` (a process per test) alike.
//!
//! ## Build settings
//!
//! Simulations do real SSH key exchanges, so unoptimised crypto makes a check slow. Optimise
//! dependencies in test builds, as sshrace does:
//!
//! ```toml
//! [profile.dev.package."*"]
//! opt-level = 2
//! ```
#![deny(missing_docs)]

pub mod builtin;
mod cell;
mod check;
#[doc(hidden)]
pub mod doc_support;
mod error;
mod log;
mod paired;
mod replay;
mod report;
mod scenarios;
mod seeds;
mod snapshot;
mod strategy;

pub use async_trait::async_trait;
pub use check::Check;
pub use error::Error;
pub use paired::Difference;
pub use report::Report;
pub use scenarios::scenarios_in;
pub use snapshot::SnapshotRow;
pub use sshrace_core::{
    Cause, ConnectOptions, Connection, ControlPlane, ExecResult, FailureClass, Outcome, Session,
    SessionEvent, Trace, Transport, TransportError, WorkspaceStatus,
};
/// The container backend (real OpenSSH servers in Docker), with the `docker` feature.
#[cfg(feature = "docker")]
pub use sshrace_docker as docker;
pub use sshrace_runner::{Backend, OpRecord, OpResult, Row, RunError, RunResult, SeedTrace};
pub use sshrace_scenario::{Scenario, ScenarioError};
pub use sshrace_strategy::{
    ConnectionPolicy, Env, EventSink, Job, JobReport, JobRunner, JobStep, MasterCommand, Propagate,
    ReachabilityGate, Request, StrategySpec, Swallow,
};
pub use strategy::Strategy;
