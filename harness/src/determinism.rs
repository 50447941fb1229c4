//! `--check-determinism` and `--repeat N`: run every seed again and compare trace hashes.
//!
//! A second pass in the same order on the same threads would miss most leaks: what varies with
//! the machine (which thread runs a job, what runs beside it, what the process did before) would
//! vary the same way twice. So each extra pass changes what may leak in: its job order (reversed,
//! then rotated), its number of threads (another job always runs alongside, and placement
//! changes), and, simply by coming later in the same process, every process-wide counter.

use sshrace_runner::{Job, RunResult, execute};

use crate::plan::Cell;

/// Most passes `--repeat` asks for.
pub const MAX_REPEAT: u32 = 100;

/// `--repeat` is 1..=100 and only means something with `--check-determinism`.
pub fn validate(check: bool, repeat: Option<u32>) -> anyhow::Result<u32> {
    match repeat {
        None => Ok(1),
        Some(_) if !check => anyhow::bail!(
            "--repeat needs --check-determinism (it is the number of extra passes that check makes)"
        ),
        Some(n) if !(1..=MAX_REPEAT).contains(&n) => {
            anyhow::bail!("--repeat must be 1..={MAX_REPEAT}, not {n}")
        }
        Some(n) => Ok(n),
    }
}

/// How extra pass `pass` (1-based) of `passes` runs `len` jobs, first pass on `threads`
/// threads: the order to run them in and its thread count.
pub fn placement(pass: u32, passes: u32, len: usize, threads: usize) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..len).collect();
    // Odd passes run backwards, even ones forwards; from the second pass on, each also starts
    // at another point of the list.
    if pass % 2 == 1 {
        order.reverse();
    }
    let turn = (pass / 2) as usize;
    if turn > 0 && len > 0 {
        let shift = (turn * len) / (passes as usize / 2 + 1) % len;
        order.rotate_left(shift.max(1));
    }
    // Odd passes: at least two threads, so another job runs beside each one even at --jobs 1;
    // even passes: one more than the first pass, so jobs land on other threads.
    let threads = if pass % 2 == 1 {
        threads.max(2)
    } else {
        threads + 1
    };
    (order, threads.min(len.max(1)))
}

/// Run every (simulated) seed of `cells` `passes` more times and compare each run's trace hash
/// with `first` (the first pass, grouped by cell). Prints each difference with its replay
/// command and a one-line verdict; true when every trace matched.
pub fn check(
    cells: &[Cell],
    first: &[Vec<RunResult>],
    threads: usize,
    passes: u32,
    show_progress: bool,
) -> anyhow::Result<bool> {
    let jobs: Vec<Job> = crate::plan::jobs(cells);
    let first: Vec<&RunResult> = first.iter().flatten().collect();
    anyhow::ensure!(first.len() == jobs.len(), "one first-pass result per run");
    let mut differing = vec![false; jobs.len()];
    let mut ways = Vec::new();
    for pass in 1..=passes {
        let (order, pass_threads) = placement(pass, passes, jobs.len(), threads);
        let way = format!(
            "{} order on {pass_threads} threads",
            match (pass % 2, pass / 2) {
                (1, 0) => "reverse",
                (1, _) => "reverse rotated",
                _ => "rotated",
            }
        );
        let permuted: Vec<Job> = order.iter().map(|&i| jobs[i].clone()).collect();
        let bar = crate::progress::bar(permuted.len(), show_progress);
        let results = execute(&permuted, pass_threads, &|done| {
            bar.set_position(done as u64)
        });
        bar.finish_and_clear();
        for (&index, result) in order.iter().zip(results) {
            let again = result?;
            let before = first[index];
            if again.trace_hash != before.trace_hash && !differing[index] {
                differing[index] = true;
                let path = cells
                    .iter()
                    .find(|c| c.scenario.name == before.scenario)
                    .map_or("?", |c| c.scenario.path.as_str());
                eprintln!(
                    "determinism: {} with {} seed {} gave traces {} and {} (pass {} of {}, {way})\n  replay: sshrace replay {path} --strategy {} --seed {}",
                    before.scenario,
                    before.strategy,
                    before.seed,
                    before.trace_hash,
                    again.trace_hash,
                    pass + 1,
                    passes + 1,
                    before.strategy,
                    before.seed
                );
            }
        }
        if ways.len() < 2 {
            ways.push(way);
        }
    }
    let bad = differing.iter().filter(|d| **d).count();
    let how = if passes > 2 {
        format!("{}, ...", ways.join(", "))
    } else {
        ways.join(", ")
    };
    if bad == 0 {
        let times = match passes {
            1 => "twice".to_owned(),
            n => format!("{} times", n + 1),
        };
        eprintln!(
            "determinism: every seed gave the same trace {times} (first pass on {threads} threads; then {how})"
        );
    } else {
        eprintln!(
            "determinism: {bad} of {} runs gave a different trace in a later pass ({how}): these runs are not reproducible",
            jobs.len()
        );
    }
    Ok(bad == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pass_runs_every_job_once_and_passes_differ() {
        for passes in [1, 2, 3, 7] {
            let mut seen = Vec::new();
            for pass in 1..=passes {
                let (order, threads) = placement(pass, passes, 10, 1);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..10).collect::<Vec<_>>());
                assert_ne!(order, (0..10).collect::<Vec<_>>(), "pass {pass} reorders");
                assert!(threads >= 2, "another job runs alongside");
                seen.push(order);
            }
            for (i, a) in seen.iter().enumerate() {
                for b in &seen[i + 1..] {
                    assert_ne!(a, b, "{passes} passes: each pass its own order");
                }
            }
        }
        assert_eq!(placement(1, 1, 1, 4), (vec![0], 1));
        assert_eq!(placement(2, 2, 0, 4), (vec![], 1));
    }

    #[test]
    fn repeat_is_checked() {
        assert_eq!(validate(false, None).unwrap(), 1);
        assert_eq!(validate(true, Some(3)).unwrap(), 3);
        assert!(validate(false, Some(3)).is_err());
        assert!(validate(true, Some(0)).is_err());
        assert!(validate(true, Some(101)).is_err());
    }
}
