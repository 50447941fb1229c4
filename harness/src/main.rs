//! `sshrace`: replay SSH connection races against connection strategies.
//!
//! Exit status: 0 every run met expectations; 1 a run failed; 2 usage, scenario or environment
//! error.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Deterministic fault injection for code that manages SSH connections.
///
/// sshrace replays race timelines (ControlMaster recycled under a running deploy, MaxStartups
/// floods, control-plane flaps, swallowed errors) against connection strategies, over the real
/// SSH protocol, in a simulated network with virtual time.
#[derive(Debug, Parser)]
#[command(name = "sshrace", version, about, long_about = None)]
#[command(
    after_help = "Exit status: 0 all runs met expectations, 1 a run failed, 2 usage, scenario or environment error."
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure simulation speed: simulated seconds per wall second on an idle day-long
    /// timeline, and wall time of 100 parallel SSH handshakes.
    Bench {
        /// Simulated hours of the idle timeline.
        #[arg(long, default_value_t = 24, value_name = "HOURS")]
        hours: u64,
        /// Step size of the idle timeline, in milliseconds.
        #[arg(long, default_value_t = 100, value_name = "MS")]
        tick_ms: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("sshrace: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Bench { hours, tick_ms } => bench(hours, tick_ms),
    }
}

fn bench(hours: u64, tick_ms: u64) -> anyhow::Result<ExitCode> {
    let simulated = Duration::from_secs(hours * 3600);
    let start = Instant::now();
    let outcome = sshrace_sim::speed::idle_timeline(simulated, Duration::from_millis(tick_ms))
        .context("idle timeline")?;
    let wall = start.elapsed();
    println!(
        "idle {hours} h timeline at {tick_ms} ms ticks: {:.0}x real time ({:.2} s wall)",
        outcome.elapsed.as_secs_f64() / wall.as_secs_f64(),
        wall.as_secs_f64()
    );
    let mut walls = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let outcome = sshrace_sim::speed::parallel_handshakes(100, false).context("handshakes")?;
        walls.push(start.elapsed());
        anyhow::ensure!(outcome.client == Some(100), "not every handshake completed");
    }
    walls.sort();
    println!(
        "100 parallel handshakes: {:.1} ms wall (median of 5)",
        walls[2].as_secs_f64() * 1000.0
    );
    Ok(ExitCode::SUCCESS)
}
