//! `sshrace`: replay SSH connection races against connection strategies.
//!
//! `main` parses what was typed ([`cli::Args`]), builds a validated [`plan::Plan`] (scenarios
//! loaded, strategies resolved, seeds expanded) before anything runs, then runs it.
//! Exit status: 0 every run met expectations; 1 a run failed an expectation; 2 usage, scenario
//! or environment error. A closed stdout (`| head`) ends quietly.

mod bench;
mod cli;
mod commands;
mod compare;
mod determinism;
mod docker;
mod interrupt;
mod merge;
mod plan;
mod progress;
mod sweep;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    // Logs (strategies, the simulation, russh) go to stderr, filtered by RUST_LOG; off unless set.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    match commands::run(args) {
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
