//! What can be typed: clap definitions. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

/// Deterministic fault injection for code that manages SSH connections.
///
/// sshrace replays race timelines (a ControlMaster recycled under a running deploy, a
/// MaxStartups flood, a control-plane flap, a swallowed error) against connection strategies,
/// over the real SSH protocol (russh) in a simulated network with virtual time, against an sshd
/// model that enforces what OpenSSH enforces. The server records what really ran: a client
/// that reports success for a command that never finished is a silent failure.
///
/// Start with `sshrace list`, then `sshrace matrix`.
#[derive(Debug, Parser)]
#[command(name = "sshrace", version)]
#[command(after_help = "\
Exit status: 0 every run met expectations; 1 a failure rate broke an expectation
(--max-failure-rate, a scenario's [[expect]]), --check-determinism found a difference or
fuzz found a violation;
2 usage, scenario or environment error.

Environment: SSHRACE_SEED sets --seed for replay; RUST_LOG filters logs on stderr.")]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the built-in scenarios and strategies.
    List,
    /// Run one scenario against strategies over a range of seeds and report failure rates.
    ///
    /// Example: sshrace run scenarios/deploy-age-recycle.toml --strategy mux-exit --strategy mux-stop --seeds 0..50
    Run {
        /// A scenario file, or the name of a built-in scenario.
        #[arg(value_name = "SCENARIO")]
        scenario: String,
        /// Strategy to run (repeat, or separate with commas); default: the scenario's list.
        #[arg(long = "strategy", value_name = "NAME", value_delimiter = ',')]
        strategies: Vec<String>,
        #[command(flatten)]
        common: Common,
        /// Exit 1 if any strategy's failure rate is above this (0..1).
        #[arg(long, value_name = "RATE")]
        max_failure_rate: Option<f64>,
    },
    /// Run every built-in scenario against the strategies it compares: the CI matrix.
    Matrix {
        /// Run scenario files from this directory instead of the built-ins.
        #[arg(long, value_name = "DIR")]
        scenarios: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Re-run exactly one run and print its timeline.
    ///
    /// Example: sshrace replay scenarios/deploy-age-recycle.toml --strategy mux-exit --seed 7
    Replay {
        /// A scenario file, or the name of a built-in scenario.
        #[arg(value_name = "SCENARIO")]
        scenario: String,
        /// The strategy.
        #[arg(long, value_name = "NAME")]
        strategy: String,
        /// The seed (decimal or 0x-hex).
        #[arg(long, env = "SSHRACE_SEED", value_name = "SEED")]
        seed: String,
    },
    /// Fuzz a strategy with generated fault timelines over a base scenario; shrink a failure.
    ///
    /// Each case adds up to 6 generated events (partitions, crashes, sshd pauses, NAT idle
    /// drops, latency spikes, control-plane flaps, command bursts, refreshes) to the scenario
    /// and checks the run against the invariants: no silent failure, no hang, no leak, no
    /// MaxSessions refusal reaching the caller, no lost events. On a violation it prints the
    /// shrunk timeline as a scenario file to save into scenarios/ and replay, and exits 1.
    ///
    /// Example: sshrace fuzz fuzz-base --strategy cached --cases 200 --seed 0
    Fuzz {
        /// A scenario file, or the name of a built-in scenario (fuzz-base is made for it).
        #[arg(value_name = "SCENARIO")]
        scenario: String,
        /// The strategy.
        #[arg(long, value_name = "NAME")]
        strategy: String,
        /// Generated cases to run.
        #[arg(long, default_value_t = 100, value_name = "N")]
        cases: u32,
        /// Seeds the generator and every run (decimal or 0x-hex).
        #[arg(long, default_value = "0", value_name = "SEED")]
        seed: String,
    },
    /// Measure simulation speed: simulated seconds per wall second on an idle day-long
    /// timeline, 100 parallel SSH handshakes, and the built-in matrix at 100 seeds.
    Bench {
        /// Seeds per scenario for the matrix timing.
        #[arg(long, default_value_t = 100, value_name = "N")]
        seeds: u64,
    },
}

/// Options shared by `run` and `matrix`.
#[derive(Debug, ClapArgs)]
pub struct Common {
    /// Seeds: a count N (seeds 0..N) or a range A..B; a scenario's regression seeds run first.
    #[arg(long, default_value = "20", value_name = "N|A..B")]
    pub seeds: String,
    /// Output format of the results on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Run every seed twice and fail (exit 1) on any difference in the trace.
    #[arg(long)]
    pub check_determinism: bool,
    /// Simulations to run at once (default: the number of cores). Results never depend on it.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Aligned text for people.
    Table,
    /// A markdown table.
    Markdown,
    /// CSV with a header.
    Csv,
    /// One JSON document, stable key order.
    Json,
    /// JUnit XML for CI.
    Junit,
}

impl From<FormatArg> for sshrace_runner::report::Format {
    fn from(format: FormatArg) -> Self {
        use sshrace_runner::report::Format;
        match format {
            FormatArg::Table => Format::Table,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
        }
    }
}
