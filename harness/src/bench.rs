//! `sshrace bench`: speed figures, each printed beside the floor that bounds it (measured in the
//! same process) as a ratio. Performance targets live here, never in timed tests.
//!
//! Floors:
//! - the idle day-long timeline against the same world stepped with no traffic at all
//!   ([`sshrace_sim::speed::idle_floor`]);
//! - parallel handshakes in the simulation against n x one bare russh handshake over an
//!   in-memory pipe, no simulation ([`sshrace_sim::speed::bare_handshakes`]);
//! - the realistic day (`deploy-age-recycle` stretched to 24 h) per strategy, with its cost
//!   per trace event and per server-side ledger entry, and its peak memory, each strategy run
//!   in a child process (`sshrace bench --one STRATEGY`) so the peak is that run's alone, and
//!   its handshake floor: the connections it opened x one bare handshake with one exec;
//! - the matrix against its handshake floor: every run's connections x one bare handshake,
//!   divided by the threads.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sshrace_runner::{Registry, builtin_scenarios};
use sshrace_scenario::{Arrivals, Scenario};

/// The realistic timeline's base: status poll every 15 s, streaming deploys, a 30-minute age.
const REALISTIC: &str = "deploy-age-recycle";

/// The realistic day's target speed (issue 21).
const REALISTIC_TARGET: f64 = 100_000.0;

/// What `sshrace bench` measures: the full bench, or `--quick` (small sizes, no matrix).
#[derive(Debug, Clone, Copy)]
struct Sizes {
    idle: Duration,
    handshakes: u32,
    realistic_hours: u64,
    matrix: bool,
}

pub fn run(seeds: u64, quick: bool) -> anyhow::Result<ExitCode> {
    let sizes = if quick {
        Sizes {
            idle: Duration::from_secs(3600),
            handshakes: 10,
            realistic_hours: 1,
            matrix: false,
        }
    } else {
        Sizes {
            idle: Duration::from_secs(24 * 3600),
            handshakes: 100,
            realistic_hours: 24,
            matrix: true,
        }
    };
    idle(sizes)?;
    let bare = handshakes(sizes)?;
    realistic(sizes, bare)?;
    if sizes.matrix {
        matrix(seeds, bare)?;
    }
    println!(
        "peak memory of this process (bench parent; the idle, handshake and matrix figures ran in it): {}",
        mib(peak_rss_kib())
    );
    Ok(ExitCode::SUCCESS)
}

fn idle(sizes: Sizes) -> anyhow::Result<()> {
    let tick = Duration::from_millis(100);
    let start = Instant::now();
    let outcome = sshrace_sim::speed::idle_timeline(sizes.idle, tick).context("idle timeline")?;
    let wall = start.elapsed();
    let start = Instant::now();
    let floor = sshrace_sim::speed::idle_floor(sizes.idle, tick).context("idle floor")?;
    let floor_wall = start.elapsed();
    println!(
        "idle {} timeline (100 ms ticks): {:.0}x real time ({:.2} s wall, {} steps); \
         stepping floor (same hosts, no traffic) {:.0}x ({:.2} s, {} steps); ratio {:.2}",
        hours(sizes.idle),
        speed(outcome.elapsed, wall),
        wall.as_secs_f64(),
        outcome.steps,
        speed(floor.elapsed, floor_wall),
        floor_wall.as_secs_f64(),
        floor.steps,
        ratio(wall, floor_wall)
    );
    Ok(())
}

/// Prints the handshake figures; returns the bare cost of one connection (key exchange,
/// authentication and one exec, no simulation): the crypto and protocol floor of every
/// connection a run opens.
fn handshakes(sizes: Sizes) -> anyhow::Result<Duration> {
    let n = sizes.handshakes;
    // The floor first, median of 5 batches of n.
    let mut bare = Vec::new();
    for _ in 0..5 {
        let measured = sshrace_sim::speed::bare_handshakes(n).context("bare handshakes")?;
        anyhow::ensure!(
            measured.handshakes == n && measured.exits_ok == n,
            "bare handshakes: {} of {n} connected, {} exited 0",
            measured.handshakes,
            measured.exits_ok
        );
        bare.push(measured);
    }
    bare.sort_by_key(|b| b.handshake_wall + b.exec_wall);
    let bare = &bare[2];
    println!(
        "bare russh handshake over an in-memory pipe, no simulation (median of 5 x {n}): \
         {:.0} us key exchange + auth, {:.0} us with one exec",
        bare.per_handshake().as_secs_f64() * 1e6,
        bare.per_handshake_and_exec().as_secs_f64() * 1e6
    );
    for exec in [false, true] {
        let mut walls = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            let outcome = sshrace_sim::speed::parallel_handshakes(n, exec).context("handshakes")?;
            walls.push(start.elapsed());
            anyhow::ensure!(outcome.client == Some(n), "not every handshake completed");
        }
        walls.sort();
        let floor = if exec {
            bare.per_handshake_and_exec()
        } else {
            bare.per_handshake()
        } * n;
        println!(
            "{n} parallel SSH handshakes{}: {:.1} ms wall (median of 5{}); floor {n} x bare = {:.1} ms; ratio {:.2}",
            if exec { " + one exec each" } else { "" },
            walls[2].as_secs_f64() * 1000.0,
            if exec || n != 100 {
                ""
            } else {
                "; target < 25 ms"
            },
            floor.as_secs_f64() * 1000.0,
            ratio(walls[2], floor)
        );
    }
    Ok(bare.per_handshake_and_exec())
}

/// `deploy-age-recycle` stretched to `hours`: the simulated duration, and every workload
/// window that ran to the scenario's end now runs to the new end. Deterministic (seed 0).
pub fn realistic_scenario(hours: u64) -> anyhow::Result<Scenario> {
    let builtin = builtin_scenarios()
        .iter()
        .find(|s| s.name == REALISTIC)
        .context("built-in scenario deploy-age-recycle")?;
    let mut scenario = builtin.parse()?;
    let old_end = scenario.sim.duration;
    let new_end = Duration::from_secs(hours * 3600);
    scenario.sim.duration = new_end;
    for workload in &mut scenario.workload {
        match &mut workload.arrivals {
            Arrivals::Periodic { until, .. } | Arrivals::Poisson { until, .. } => {
                if *until >= old_end {
                    *until = new_end;
                }
            }
            Arrivals::Once { .. } | Arrivals::Burst { .. } => {}
        }
    }
    Ok(scenario)
}

/// One strategy's realistic day, as measured in a child process.
#[derive(Debug, Default)]
struct OneRun {
    wall_s: f64,
    sim_s: f64,
    trace_events: u64,
    ledger_entries: u64,
    operations: u64,
    handshakes: u64,
    maxrss_kib: u64,
}

/// `sshrace bench --one STRATEGY --hours H`: run the realistic timeline once and print one
/// machine-readable line for the parent (`key=value` pairs).
pub fn one(strategy: &str, hours: u64) -> anyhow::Result<ExitCode> {
    let scenario = realistic_scenario(hours)?;
    let spec = Registry::new().resolve(&scenario, strategy, &Default::default())?;
    let start = Instant::now();
    let result = sshrace_runner::run_one(&scenario, &spec, 0, true)?;
    let wall = start.elapsed();
    let trace = result.trace.as_ref().context("kept trace")?;
    let ledger = result.ledger.as_ref().context("kept ledger")?;
    let events = trace.events();
    let sim = events.last().map(|e| e.at).unwrap_or_default();
    println!(
        "wall_s={} sim_s={} trace_events={} ledger_entries={} operations={} handshakes={} maxrss_kib={}",
        wall.as_secs_f64(),
        sim.as_secs_f64(),
        events.len(),
        ledger.connections.len() + ledger.sessions.len(),
        result.operations.len(),
        result.handshakes,
        peak_rss_kib()
    );
    Ok(ExitCode::SUCCESS)
}

fn realistic(sizes: Sizes, bare: Duration) -> anyhow::Result<()> {
    let scenario = realistic_scenario(sizes.realistic_hours)?;
    let exe = std::env::current_exe().context("own executable")?;
    println!(
        "realistic {} h timeline ({REALISTIC}, seed 0, each strategy in its own process; target {:.0}x):",
        sizes.realistic_hours, REALISTIC_TARGET
    );
    for strategy in &scenario.strategies {
        let out = std::process::Command::new(&exe)
            .args(["bench", "--one", strategy, "--hours"])
            .arg(sizes.realistic_hours.to_string())
            .output()
            .context("run a child `sshrace bench --one`")?;
        anyhow::ensure!(
            out.status.success(),
            "sshrace bench --one {strategy}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = parse_one(&String::from_utf8_lossy(&out.stdout))
            .with_context(|| format!("output of sshrace bench --one {strategy}"))?;
        let per_event = run.wall_s / run.trace_events.max(1) as f64;
        let per_entry = run.wall_s / run.ledger_entries.max(1) as f64;
        // The connections it opens cost at least their bare handshakes, simulation or not.
        let floor_s = bare.as_secs_f64() * run.handshakes as f64;
        println!(
            "  {strategy}: {:.0}x real time ({:.2} s wall for {:.1} h simulated); {} ops, \
             {} trace events ({:.1} us each), {} ledger connections+sessions ({:.0} us each); \
             handshake floor {} x bare = {:.2} s, at most {:.0}x; ratio {:.2}; peak {}",
            run.sim_s / run.wall_s,
            run.wall_s,
            run.sim_s / 3600.0,
            run.operations,
            run.trace_events,
            per_event * 1e6,
            run.ledger_entries,
            per_entry * 1e6,
            run.handshakes,
            floor_s,
            run.sim_s / floor_s.max(1e-9),
            run.wall_s / floor_s.max(1e-9),
            mib(run.maxrss_kib)
        );
    }
    Ok(())
}

fn parse_one(line: &str) -> anyhow::Result<OneRun> {
    let mut run = OneRun::default();
    for pair in line.split_whitespace() {
        let (key, value) = pair.split_once('=').context("key=value")?;
        match key {
            "wall_s" => run.wall_s = value.parse()?,
            "sim_s" => run.sim_s = value.parse()?,
            "trace_events" => run.trace_events = value.parse()?,
            "ledger_entries" => run.ledger_entries = value.parse()?,
            "operations" => run.operations = value.parse()?,
            "handshakes" => run.handshakes = value.parse()?,
            "maxrss_kib" => run.maxrss_kib = value.parse()?,
            _ => {}
        }
    }
    anyhow::ensure!(run.wall_s > 0.0, "no wall time in {line:?}");
    Ok(run)
}

fn matrix(seeds: u64, bare: Duration) -> anyhow::Result<()> {
    let cells = crate::matrix::cells(None, &(0..seeds).collect::<Vec<_>>(), None, None)?;
    let runs: usize = cells.iter().map(|c| c.seeds.len()).sum();
    let threads = sshrace_runner::default_threads();
    let start = Instant::now();
    let executed = crate::report::execute_cells(&cells, threads, false, None)?;
    let wall = start.elapsed();
    let handshakes: u64 = executed
        .grouped
        .iter()
        .flatten()
        .map(|r| r.handshakes)
        .sum();
    // Every handshake costs at least a bare one, spread over the threads at best.
    let floor = bare.as_secs_f64() * handshakes as f64 / threads as f64;
    println!(
        "built-in matrix at {seeds} seeds: {runs} runs in {:.1} s wall on {threads} threads (target < 60 s); \
         handshake floor {handshakes} x bare / {threads} threads = {:.1} s; ratio {:.2}",
        wall.as_secs_f64(),
        floor,
        wall.as_secs_f64() / floor.max(1e-9)
    );
    Ok(())
}

/// This process's peak resident set so far (`getrusage` `ru_maxrss`, KiB on Linux).
fn peak_rss_kib() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    usage.ru_maxrss.max(0) as u64
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn hours(d: Duration) -> String {
    if d.as_secs() >= 24 * 3600 && d.as_secs().is_multiple_of(24 * 3600) {
        format!("{}-day", d.as_secs() / (24 * 3600))
    } else {
        format!("{}-hour", d.as_secs() / 3600)
    }
}

fn speed(simulated: Duration, wall: Duration) -> f64 {
    simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9)
}

fn ratio(measured: Duration, floor: Duration) -> f64 {
    measured.as_secs_f64() / floor.as_secs_f64().max(1e-9)
}
