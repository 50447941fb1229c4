use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sshrace_scenario::Scenario;
use sshrace_strategy::StrategySpec;

use crate::{Backend, RunError, RunResult, Sim};

/// One run to do.
#[derive(Debug, Clone)]
pub struct Job {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// The strategy.
    pub strategy: StrategySpec,
    /// The seed.
    pub seed: u64,
}

/// Run every job on `threads` threads (each simulation runs on one thread). `progress` is called
/// with the number of finished runs after each one. Results come back in job order, so they
/// never depend on the number of threads.
pub fn execute(
    jobs: &[Job],
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<Result<RunResult, RunError>> {
    execute_with(jobs, threads, false, progress)
}

/// [`execute`], keeping each run's whole trace when `keep_trace` is set (for printing a
/// replayed run's timeline).
pub fn execute_with(
    jobs: &[Job],
    threads: usize,
    keep_trace: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<Result<RunResult, RunError>> {
    execute_on(&Sim, jobs, threads, keep_trace, progress)
}

/// [`execute_with`] on `backend`.
pub fn execute_on(
    backend: &dyn Backend,
    jobs: &[Job],
    threads: usize,
    keep_trace: bool,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<Result<RunResult, RunError>> {
    execute_by(jobs, threads, progress, &|job| backend.run(job, keep_trace))
}

/// Run every job with `run` on `threads` threads (a backend's runs, with a check before each,
/// or a record after); results come back in job order.
pub fn execute_by(
    jobs: &[Job],
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
    run: &(dyn Fn(&Job) -> Result<RunResult, RunError> + Sync),
) -> Vec<Result<RunResult, RunError>> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunResult, RunError>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(index) else {
                        break;
                    };
                    let result = run(job);
                    results.lock().expect("results lock")[index] = Some(result);
                    progress(done.fetch_add(1, Ordering::SeqCst) + 1);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}
