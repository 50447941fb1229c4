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
Exit status: 0 every run met expectations (replay, sweep and compare: the report was written;
fuzz: no violation found); 1 a failure rate broke an expectation (--max-failure-rate, a
scenario's [[expect]]), --check-determinism found a difference or fuzz found a violation;
2 usage, scenario or environment error.

Environment: SSHRACE_SEED sets --seed for replay; SSHRACE_SHARD sets --shard for run and matrix;
RUST_LOG filters logs on stderr.")]
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
        #[arg(long, value_name = "RATE", value_parser = fraction)]
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
    /// Print the report of a sharded run, matrix or sweep from its shards' results files: the
    /// same bytes, in every format, and the same exit status as the unsharded command.
    ///
    /// Each shard runs with --shard K/N --out FILE (on its own machine, say a CI job); merge
    /// reads every shard's FILE. It refuses, in one line with exit 2, files of another sshrace
    /// version or of another command (the plan digest covers the scenario files, strategies,
    /// seeds, expectations and backend), a shard given twice or missing, and a run present
    /// twice.
    ///
    /// Example: sshrace matrix --shard 2/3 --out shard-2.json   (on each of 3 machines)
    ///          sshrace merge shard-*.json --format markdown
    Merge {
        /// The shards' results files (--out), in any order.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        /// Output format of the results on stdout (html: not from results files; render it
        /// from an unsharded run).
        #[arg(long, value_enum, default_value_t = FormatArg::Table)]
        format: FormatArg,
        /// For a sweep's results: also write its SVG chart here.
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
    },
    /// Re-run exactly one run and print its timeline.
    ///
    /// The timeline has one line per event: simulated time, host (`client`, a target, `fault`,
    /// `nat`) and what happened (connect and authentication, sessions opened or refused,
    /// commands started and their exit status, masters started, refreshed and stopped,
    /// connections ended or lost to keepalive timeouts, faults, control-plane changes, gate
    /// decisions, job events and DONE), then each operation's outcome and the trace hash.
    /// With --trace the same run is also written as Chrome trace-event JSON: open it in
    /// https://ui.perfetto.dev or chrome://tracing (a process per host, a track per connection,
    /// spans for connections, sessions, commands and operations, faults as global instants).
    ///
    /// Example: sshrace replay scenarios/deploy-age-recycle.toml --strategy mux-exit --seed 7 --trace run.json
    ///
    /// Exit status: 0 the run was replayed; 2 usage, scenario or environment error.
    Replay {
        /// A scenario file, or the name of a built-in scenario.
        #[arg(value_name = "SCENARIO")]
        scenario: String,
        /// The strategy (or, on containers, --client-cmd: your program).
        #[arg(long, value_name = "NAME", required_unless_present = "client_cmd")]
        strategy: Option<String>,
        /// The seed (decimal or 0x-hex).
        #[arg(long, env = "SSHRACE_SEED", value_name = "SEED")]
        seed: String,
        /// Also write the run as Chrome trace-event JSON to this file (Perfetto, chrome://tracing).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Vary one parameter over a range and report each strategy's failure rate at each value,
    /// as a table on stdout and an SVG chart (failure rate with its 95% Wilson band).
    ///
    /// The parameter is a strategy parameter (max_age_ms, persist_ms, attempts, retry_base_ms,
    /// retry_cap_ms, max_connections, max_sessions, keepalive_interval_ms, keepalive_count,
    /// connect_timeout_ms, handshake_limit, poll_interval_ms, health_check_bypass), or a
    /// scenario setting: workload.<name>.<key> with <key> one of burst, at_ms, duration_ms,
    /// every_ms, rate_per_hour, timeout_ms, or host.<name>.<key> with <key> one of
    /// max_sessions, max_startups_start, max_startups_rate, max_startups_full,
    /// login_grace_time_ms, client_alive_interval_ms. Values are in the parameter's unit
    /// (milliseconds for _ms). Every point runs the same seeds; a scenario's regression seeds
    /// are not added.
    ///
    /// Example: sshrace sweep flood-fresh-connections --strategy fresh,pool --param workload.tool-calls.burst=1..100:11 --measure tool-calls --seeds 20 --plot sweep.svg
    ///
    /// Exit status: 0 the report was written; 2 usage, scenario or environment error.
    Sweep {
        /// A scenario file, or the name of a built-in scenario.
        #[arg(value_name = "SCENARIO")]
        scenario: String,
        /// Strategy to run (repeat, or separate with commas); default: the scenario's list.
        #[arg(long = "strategy", value_name = "NAME", value_delimiter = ',')]
        strategies: Vec<String>,
        /// The parameter and its values: NAME=FROM..TO:STEP (both ends included) or
        /// NAME=V1,V2,...
        #[arg(long, value_name = "NAME=FROM..TO:STEP")]
        param: String,
        /// Count only this workload item's operations toward the failure rate (repeat, or
        /// separate with commas); the others still run. Default: every measured item.
        #[arg(long, value_name = "ITEM", value_delimiter = ',')]
        measure: Vec<String>,
        /// Seeds per point: a count N (seeds 0..N) or a range A..B.
        #[arg(long, default_value = "20", value_name = "N|A..B")]
        seeds: String,
        /// Output format of the table on stdout.
        #[arg(long, value_enum, default_value_t = FormatArg::Table)]
        format: FormatArg,
        /// Where to write the SVG chart.
        #[arg(long, default_value = "sweep.svg", value_name = "FILE")]
        plot: PathBuf,
        /// Simulations to run at once (default: the number of cores). Results never depend on it.
        #[arg(long, value_name = "N", value_parser = jobs)]
        jobs: Option<usize>,
        /// Run only shard K of N of the sweep's runs (needs --out when N > 1; the shard prints
        /// no table and no chart: `sshrace merge` does, from every shard's file).
        #[arg(long, env = "SSHRACE_SHARD", value_name = "K/N", value_parser = shard)]
        shard: Option<sshrace_runner::Shard>,
        /// Also write every run's results to FILE (JSON), the input of `sshrace merge`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Run two strategies on the same seeds and report the difference in failure rate, paired
    /// by seed.
    ///
    /// For each seed both strategies face the same plan, so the per-seed difference in failure
    /// rate (B - A) is a pair. The report gives its mean with a 95% confidence interval and a
    /// two-sided paired t-test (Student's t, pairs - 1 degrees of freedom), with the exact sign
    /// test beside it (no assumption on the shape of the differences); "significant" means the
    /// t-test's p-value is below --alpha (when every seed gives the same difference the t-test
    /// is undefined and the sign test decides). It then lists the seeds where one strategy failed and
    /// the other did not, each with the command that replays it. Seeds without a measured
    /// operation are left out of the test; a scenario's regression seeds are not added.
    ///
    /// Example: sshrace compare stop-then-reap --strategy mux-exit --strategy mux-stop --seeds 10
    ///
    /// Exit status: 0 the report was written, whatever it says; 2 usage, scenario or
    /// environment error (including fewer than 2 seeds with measured operations).
    Compare {
        /// A scenario file, or the name of a built-in scenario.
        #[arg(value_name = "SCENARIO")]
        scenario: String,
        /// The two strategies, A then B (repeat the flag, or separate with a comma).
        #[arg(
            long = "strategy",
            value_name = "NAME",
            value_delimiter = ',',
            num_args = 1,
            required = true
        )]
        strategies: Vec<String>,
        /// Count only this workload item's operations toward the failure rate (repeat, or
        /// separate with commas); the others still run. Default: every measured item.
        #[arg(long, value_name = "ITEM", value_delimiter = ',')]
        measure: Vec<String>,
        /// Seeds: a count N (seeds 0..N) or a range A..B; at least 2.
        #[arg(long, default_value = "20", value_name = "N|A..B")]
        seeds: String,
        /// Significance level of the verdict.
        #[arg(long, default_value_t = 0.05, value_name = "ALPHA", value_parser = open_fraction)]
        alpha: f64,
        /// Output format on stdout.
        #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
        format: CompareFormat,
        /// Simulations to run at once (default: the number of cores). Results never depend on it.
        #[arg(long, value_name = "N", value_parser = jobs)]
        jobs: Option<usize>,
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
        #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        cases: u32,
        /// Seeds the generator and every run (decimal or 0x-hex).
        #[arg(long, default_value = "0", value_name = "SEED")]
        seed: String,
    },
    /// Build the OpenSSH target images for the container backend (cached: a second build
    /// with nothing changed does nothing). Needs Docker, mmdebstrap and root.
    ///
    /// Example: sshrace image build --openssh 10.0
    Image {
        #[command(subcommand)]
        action: ImageAction,
    },
    /// Remove what interrupted or killed container runs left behind: their containers and
    /// networks (label sshrace=1) and their folders /tmp/sshrace-PID-N (each holds a run's
    /// private key). Containers of a run that is still going (its process, label sshrace.pid,
    /// is alive) are left alone unless --all.
    Clean {
        /// Also remove the containers and folders of runs still going.
        #[arg(long)]
        all: bool,
    },
    /// Measure each modelled OpenSSH behaviour on the simulation and on real OpenSSH in
    /// containers with the same seeds, and print how far apart they are.
    ///
    /// Each probe is a small timeline in scenarios/calibration/ that isolates one behaviour
    /// (MaxStartups drop fraction at 20/50/80/150 parallel connections, the 11th session on one
    /// connection, -O exit vs -O stop with a command in flight, ServerAlive on a blackholed
    /// path, ClientAlive reaping a dead client, a host crash mid-session, a paused sshd, an idle
    /// master's ControlPersist expiry). The
    /// table gives the simulated and the real value with 95% intervals (Wilson for fractions,
    /// Student's t for timings) and whether they agree (intervals overlap; timings within the
    /// probe's tolerance). It is printed as markdown and written to OUT.md and OUT.json.
    ///
    /// Example: sshrace calibrate --openssh 9.2 --runs 5
    ///          sshrace calibrate --runs 10 --only mux-,control-persist --client openssh:9.2,openssh:10.0
    ///
    /// Exit status: 0 every row agrees or carries a note explaining why not; 1 a row disagrees
    /// without one; 2 usage or environment error (no Docker: use --sim-only).
    Calibrate {
        /// 9.2 or 10.0 (default: both).
        #[arg(long, value_name = "9.2|10.0")]
        openssh: Option<String>,
        /// Runs per probe and backend (seeds 0..N).
        #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=sshrace_core::limits::SEEDS))]
        runs: u64,
        /// Measure the simulation only (no Docker needed).
        #[arg(long)]
        sim_only: bool,
        /// Only probes whose id contains one of these (repeat, or separate with commas).
        #[arg(long, value_name = "TEXT", value_delimiter = ',')]
        only: Vec<String>,
        /// The OpenSSH clients the OpenSSH probes run with, each in turn (repeat, or separate
        /// with commas): openssh (the host's ssh), openssh:9.2, openssh:10.0 (that version's
        /// client from the target image's Debian packages). Default: the host's ssh. Probes
        /// whose client is russh run once with russh.
        #[arg(long = "client", value_name = "openssh|openssh:9.2|openssh:10.0", value_delimiter = ',', value_parser = client)]
        clients: Vec<sshrace_docker::Client>,
        /// Write OUT.md and OUT.json.
        #[arg(long, default_value = "calibration", value_name = "OUT")]
        out: PathBuf,
    },
    /// Measure simulation speed, each figure beside the floor that bounds it: an idle day-long
    /// timeline (floor: the same world with no traffic), 100 parallel SSH handshakes (floor: 100
    /// bare russh handshakes with no simulation), a realistic day of deploy-age-recycle per
    /// strategy (cost per event, peak memory), and the built-in matrix at 100 seeds.
    Bench {
        /// Seeds per scenario for the matrix timing.
        #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=sshrace_core::limits::SEEDS))]
        seeds: u64,
        /// A smoke test: one simulated hour, 10 handshakes, no matrix.
        #[arg(long)]
        quick: bool,
        /// Run the realistic timeline once with this strategy and print one `key=value` line
        /// (the bench runs each strategy in its own process so its peak memory is its own).
        #[arg(long, hide = true, value_name = "STRATEGY")]
        one: Option<String>,
        /// Hours of the realistic timeline for `--one`.
        #[arg(long, hide = true, default_value_t = 24)]
        hours: u64,
    },
}

/// `sshrace image` actions.
#[derive(Debug, Subcommand)]
pub enum ImageAction {
    /// Build the base image (mmdebstrap + docker import) and the target image
    /// (Dockerfile.target) for one OpenSSH version, or both when --openssh is not given.
    Build {
        /// 9.2 or 10.0 (default: both).
        #[arg(long, value_name = "9.2|10.0")]
        openssh: Option<String>,
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
    /// Run every seed again and fail (exit 1) on any difference in the trace. The second pass
    /// runs the jobs in reverse order with another job alongside (at least 2 threads), so what
    /// a run must not depend on (order, thread, neighbours) changes between the passes.
    #[arg(long)]
    pub check_determinism: bool,
    /// With --check-determinism: N more passes (1..=100, default 1), each in another order and
    /// thread count (reverse, rotated, reverse rotated...), every one compared with the first.
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// Runs at once (default: the number of cores; on containers, 1). Results never depend
    /// on it in the simulation; container runs share the cores with their sshds, so more at
    /// once can slow real handshakes (measure before you compare).
    #[arg(long, value_name = "N", value_parser = jobs)]
    pub jobs: Option<usize>,
    /// Run only shard K of N (1 <= K <= N <= 10000): every N-th run of the whole command,
    /// starting at the K-th, so each cell's seeds are spread over all shards. Which shard a run
    /// lands in never depends on --jobs or the machine. With N > 1 the rows on stdout count
    /// only this shard's runs and expectations are not judged (exit 0 unless an error): write
    /// --out on every shard and let `sshrace merge` judge the whole.
    #[arg(long, env = "SSHRACE_SHARD", value_name = "K/N", value_parser = shard)]
    pub shard: Option<sshrace_runner::Shard>,
    /// Also write every run's results to FILE as JSON (a results file): the input of
    /// `sshrace merge`, which prints the unsharded command's report from the shards' files.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Where runs happen: the simulation (default, needs nothing) or real OpenSSH in containers.
#[derive(Debug, Clone, ClapArgs)]
pub struct BackendArgs {
    /// sim: the turmoil simulation with the sshd model (deterministic, fast). docker: real
    /// OpenSSH servers in containers, built locally (`sshrace image build`), time-compressed;
    /// scenarios with faults containers cannot apply are refused and listed.
    #[arg(long, value_enum, default_value_t = BackendArg::Sim)]
    pub backend: BackendArg,
    /// Behave like this OpenSSH release: 9.2 (Debian bookworm) or 10.0 (Debian trixie, with
    /// PerSourcePenalties). Sets every host's profile in the simulation, and picks the
    /// container image. Default: each scenario's own `profile` (openssh-9.2 unless it says).
    #[arg(long, value_name = "9.2|10.0")]
    pub openssh: Option<String>,
    /// Containers: real seconds per scenario second, as 1/60 or 0.0167, or auto (the most
    /// compression up to 1/600 that fits a run into ~30 s, that sshd's whole-second settings,
    /// LoginGraceTime and ClientAliveInterval, still honour, and that keeps a workload's
    /// operations at least 0.5 s apart in real time; a scenario still over 5 minutes a run is
    /// refused with the scale that runs it). A scale that breaks one of these is refused,
    /// naming the setting or workload.
    #[arg(long, default_value = "auto", value_name = "auto|1/N|X")]
    pub time_scale: String,
    /// Containers: the client the strategies' transport runs. openssh: the host's ssh (a
    /// connection is a ControlMaster, a session `ssh -S`, close `-O exit`, drain `-O stop`);
    /// openssh:9.2 or openssh:10.0: the same over that OpenSSH client version, taken from the
    /// target image's Debian packages (bookworm or trixie: ssh, its libraries and loader, cached
    /// in ~/.cache/sshrace/ssh-client) and run on the host; russh: russh over real TCP.
    #[arg(long, default_value = "openssh", value_name = "openssh|openssh:9.2|openssh:10.0|russh", value_parser = client)]
    pub client: sshrace_docker::Client,
    /// Containers: also run your own program as a client, in any language. sshrace starts
    /// COMMAND (with sh -c) once per run and speaks JSON lines with it on stdin and stdout
    /// (docs/driver-protocol.md): the targets, then a request per operation as the plan reaches
    /// it; its replies are judged against the servers' ledger like a built-in strategy's. Its
    /// column is named after the command. With `run` and no --strategy, only the program runs;
    /// `matrix` runs it beside each scenario's strategies. Not with --backend sim: a program
    /// in real time cannot join the simulation's virtual time.
    /// Example: --client-cmd "examples/drivers/mux-age.sh"
    #[arg(long, value_name = "COMMAND")]
    pub client_cmd: Option<String>,
}

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// The simulation.
    Sim,
    /// Real OpenSSH in containers.
    Docker,
}

/// Output formats of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// A report for people.
    Text,
    /// One JSON document, stable key order.
    Json,
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
    /// One self-contained HTML page (run and matrix): a scenario x strategy grid with
    /// intervals, the incidents before and after, and the timeline of each failing cell's
    /// first failing seed (rerun to draw it). Opens from disk, no network.
    Html,
}

impl FormatArg {
    /// The row format of the runner's report, or `None` for `html` (the sshrace-html page).
    pub fn rows(self) -> Option<sshrace_runner::report::Format> {
        use sshrace_runner::report::Format;
        Some(match self {
            FormatArg::Table => Format::Table,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
            FormatArg::Html => return None,
        })
    }
}

/// A rate in [0, 1]; NaN and infinities are refused (`--max-failure-rate NaN` once passed every
/// check).
fn fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("{text} is not in [0, 1]"));
    }
    Ok(value)
}

/// A significance level in (0, 1).
fn open_fraction(text: &str) -> Result<f64, String> {
    let value = fraction(text)?;
    if value == 0.0 || value == 1.0 {
        return Err(format!("{text} is not in (0, 1)"));
    }
    Ok(value)
}

/// `--client`: openssh, openssh:9.2, openssh:10.0 or russh.
pub fn client(text: &str) -> Result<sshrace_docker::Client, String> {
    sshrace_docker::Client::parse(text)
}

/// `--shard K/N`.
fn shard(text: &str) -> Result<sshrace_runner::Shard, String> {
    sshrace_runner::Shard::parse(text)
}

/// Most runs at once `--jobs` takes.
const MAX_JOBS: usize = 1024;

/// `--jobs`: 1 to 1024.
fn jobs(text: &str) -> Result<usize, String> {
    let value: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number"))?;
    if !(1..=MAX_JOBS).contains(&value) {
        return Err(format!("{value} is not in 1..={MAX_JOBS}"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sshrace_docker::{Client, OpenSshProfile};

    fn client_of(value: &str) -> Result<Client, String> {
        let args = Args::try_parse_from([
            "sshrace",
            "run",
            "mux-exit-vs-stop",
            "--backend",
            "docker",
            "--client",
            value,
        ])
        .map_err(|e| e.to_string())?;
        match args.command {
            Command::Run { common, .. } => Ok(common.backend.client),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn client_takes_the_host_ssh_a_version_or_russh() {
        assert_eq!(client_of("openssh"), Ok(Client::OpenSsh));
        assert_eq!(
            client_of("openssh:9.2"),
            Ok(Client::OpenSshVersion(OpenSshProfile::OpenSsh92))
        );
        assert_eq!(
            client_of("openssh:10.0"),
            Ok(Client::OpenSshVersion(OpenSshProfile::OpenSsh100))
        );
        assert_eq!(client_of("russh"), Ok(Client::Russh));
        let default = Args::try_parse_from(["sshrace", "run", "x"]).unwrap();
        let Command::Run { common, .. } = default.command else {
            panic!("not run")
        };
        assert_eq!(common.backend.client, Client::OpenSsh, "the host's ssh");
    }

    #[test]
    fn an_unknown_client_is_one_line_naming_the_accepted_ones() {
        for bad in ["openssh:8.9", "dropbear", "openssh:"] {
            let error = client_of(bad).expect_err(bad);
            let first = error.lines().next().unwrap();
            assert!(
                first.contains(&format!("{bad:?} is not a client"))
                    && first.contains("openssh, openssh:9.2, openssh:10.0 or russh"),
                "{error}"
            );
        }
    }

    #[test]
    fn calibrate_takes_a_list_of_clients_and_of_probes() {
        let args = Args::try_parse_from([
            "sshrace",
            "calibrate",
            "--client",
            "openssh:9.2,openssh:10.0",
            "--client",
            "openssh",
            "--only",
            "mux-,control-persist",
        ])
        .unwrap();
        let Command::Calibrate { clients, only, .. } = args.command else {
            panic!("not calibrate")
        };
        assert_eq!(
            clients,
            [
                Client::OpenSshVersion(OpenSshProfile::OpenSsh92),
                Client::OpenSshVersion(OpenSshProfile::OpenSsh100),
                Client::OpenSsh
            ]
        );
        assert_eq!(only, ["mux-", "control-persist"]);
    }
}
