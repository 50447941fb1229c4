//! `sshrace bench`: speed figures, printed as ratios (performance targets live here, never in
//! timed tests).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub fn run(seeds: u64) -> anyhow::Result<ExitCode> {
    let day = Duration::from_secs(24 * 3600);
    let start = Instant::now();
    let outcome = sshrace_sim::speed::idle_timeline(day, Duration::from_millis(100))
        .context("idle timeline")?;
    let wall = start.elapsed();
    println!(
        "idle day-long timeline (100 ms ticks): {:.0}x real time ({:.2} s wall)",
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
        "100 parallel SSH handshakes: {:.1} ms wall (median of 5; target < 100 ms)",
        walls[2].as_secs_f64() * 1000.0
    );
    let cells = crate::matrix::cells(None, &(0..seeds).collect::<Vec<_>>(), None, None)?;
    let runs: usize = cells.iter().map(|c| c.seeds.len()).sum();
    let threads = sshrace_runner::default_threads();
    let start = Instant::now();
    crate::report::execute_cells(&cells, threads, false, None)?;
    let wall = start.elapsed();
    println!(
        "built-in matrix at {seeds} seeds: {runs} runs in {:.1} s wall on {threads} threads (target < 60 s)",
        wall.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
