//! `sshrace`: replay SSH connection races against connection strategies.
//!
//! `main` parses what was typed ([`cli::Args`]), builds a validated [`plan::Plan`] (scenarios
//! loaded, strategies resolved, seeds expanded) before anything runs, then runs it.
//! Exit status: 0 every run met expectations; 1 a run failed an expectation; 2 usage, scenario
//! or environment error. A closed stdout (`| head`) ends quietly.

mod bench;
mod cli;
mod compare;
mod determinism;
mod docker;
mod fuzz;
mod html;
mod interrupt;
mod list;
mod matrix;
mod merge;
mod plan;
mod progress;
mod replay;
mod report;
mod run;
mod sweep;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Args, Command};
use crate::docker::Containers;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    // Logs (strategies, the simulation, russh) go to stderr, filtered by RUST_LOG; off unless set.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    match dispatch(args) {
        Ok(code) => code,
        Err(error) => {
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("sshrace: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Run the subcommand `args` names.
fn dispatch(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::List => list::run(),
        Command::Run {
            scenario,
            strategies,
            common,
            max_failure_rate,
        } => run::run(&scenario, &strategies, &common, max_failure_rate),
        Command::Matrix { scenarios, common } => matrix::run(scenarios.as_deref(), &common),
        Command::Merge {
            files,
            format,
            plot,
        } => crate::merge::run(&files, format, plot.as_deref()),
        Command::Replay {
            scenario,
            strategy,
            seed,
            trace,
            backend,
        } => replay::run(
            &scenario,
            strategy.as_deref(),
            &seed,
            trace.as_deref(),
            Containers::from_args(&backend)?,
            backend.openssh.as_deref(),
        ),
        Command::Sweep {
            scenario,
            strategies,
            param,
            measure,
            seeds,
            format,
            plot,
            jobs,
            shard,
            out,
        } => crate::sweep::run(crate::sweep::SweepArgs {
            scenario,
            strategies,
            param,
            measure,
            seeds,
            format,
            plot,
            threads: jobs.unwrap_or_else(sshrace_runner::default_threads),
            shard: shard.unwrap_or(sshrace_runner::Shard::ALL),
            out,
        }),
        Command::Compare {
            scenario,
            strategies,
            measure,
            seeds,
            alpha,
            format,
            jobs,
        } => crate::compare::run(crate::compare::CompareArgs {
            scenario,
            strategies,
            measure,
            seeds,
            alpha,
            format,
            threads: jobs.unwrap_or_else(sshrace_runner::default_threads),
        }),
        Command::Fuzz {
            scenario,
            strategy,
            cases,
            seed,
        } => fuzz::run(&scenario, &strategy, cases, &seed),
        Command::Bench {
            one: Some(strategy),
            hours,
            ..
        } => crate::bench::one(&strategy, hours),
        Command::Bench { seeds, quick, .. } => crate::bench::run(seeds, quick),
        Command::Image { action } => crate::docker::image(action),
        Command::Clean { all } => crate::docker::clean(all),
        Command::Calibrate {
            openssh,
            runs,
            sim_only,
            only,
            clients,
            out,
        } => crate::docker::calibrate(openssh.as_deref(), runs, sim_only, &only, &clients, &out),
    }
}
