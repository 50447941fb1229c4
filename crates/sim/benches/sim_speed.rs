//! Simulation speed: simulated seconds per wall second on an idle day-long timeline (at three
//! tick sizes), and wall time for 100 parallel full SSH handshakes.
//!
//! Run with `cargo bench -p sshrace-sim` (or `sshrace bench`). Targets: >= 10,000x
//! real time on day-long timelines; 100 parallel handshakes in < 100 ms wall.

use std::time::{Duration, Instant};

use sshrace_sim::speed;

fn main() {
    // `cargo bench -p sshrace-sim -- handshakes` runs only the handshake part.
    let only_handshakes = std::env::args().any(|a| a == "handshakes");
    if !only_handshakes {
        idle();
    }
    handshakes();
}

fn idle() {
    let day = Duration::from_secs(24 * 3600);
    {
        let tick_ms = 100u64;
        let start = Instant::now();
        let outcome = speed::idle_timeline(day, Duration::from_millis(tick_ms)).expect("runs");
        let wall = start.elapsed();
        println!(
            "idle day-long timeline, tick {tick_ms:>3} ms: {:>8.0}x real time ({:.2} s wall, {} steps, {} hourly commands ok)",
            outcome.elapsed.as_secs_f64() / wall.as_secs_f64(),
            wall.as_secs_f64(),
            outcome.steps,
            outcome.client.unwrap_or(0)
        );
    }
    let hour = Duration::from_secs(3600);
    let start = Instant::now();
    let outcome = speed::idle_timeline(hour, Duration::from_millis(1)).expect("runs");
    let wall = start.elapsed();
    println!(
        "idle hour-long timeline, tick   1 ms: {:>8.0}x real time ({:.2} s wall)",
        outcome.elapsed.as_secs_f64() / wall.as_secs_f64(),
        wall.as_secs_f64()
    );
}

fn handshakes() {
    for exec in [false, true] {
        let mut walls = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            let outcome = speed::parallel_handshakes(100, exec).expect("runs");
            walls.push(start.elapsed());
            assert_eq!(outcome.client, Some(100), "all 100 complete");
        }
        walls.sort();
        println!(
            "100 parallel handshakes{}: median {:.1} ms wall (min {:.1}, max {:.1})",
            if exec { " + one exec each" } else { "" },
            walls[2].as_secs_f64() * 1000.0,
            walls[0].as_secs_f64() * 1000.0,
            walls[4].as_secs_f64() * 1000.0
        );
    }
}
