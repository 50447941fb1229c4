//! Two strategies on the same scenario and seeds: the difference in failure rate, paired by
//! seed, with a confidence interval and significance tests, and the seeds where one failed and
//! the other did not.
//!
//! Both strategies see the same plan on a seed (the plan depends on the scenario and seed only),
//! so each seed is a pair. The statistic is the per-seed failure-rate difference, B minus A;
//! seeds without a measured operation carry no information and are left out. The main test is
//! a two-sided paired t-test (Student's t with `pairs - 1` degrees of freedom), which also gives
//! the 95% interval of the mean difference; the exact sign test, which assumes nothing about the
//! shape of the differences, is reported beside it. When every seed gives the same difference
//! the t-test is undefined (no spread) and the verdict is the sign test's.

use std::sync::Arc;

use sshrace_core::StrategyParams;
use sshrace_scenario::Scenario;

use crate::{Job, PairedT, Registry, Row, RunError, RunResult, execute, paired_t, sign_test};

/// One seed of a comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeedPair {
    /// The seed.
    pub seed: u64,
    /// Measured operations (the same for both: same plan).
    pub operations: u64,
    /// Failed measured operations with strategy A.
    pub a_failures: u64,
    /// Failed measured operations with strategy B.
    pub b_failures: u64,
}

impl SeedPair {
    fn pair(seed: u64, a: &RunResult, b: &RunResult) -> SeedPair {
        let failures = |run: &RunResult| {
            run.measured()
                .filter(|(_, o)| run.counts_as_failure(*o))
                .count()
        };
        SeedPair {
            seed,
            operations: a.measured().count() as u64,
            a_failures: failures(a) as u64,
            b_failures: failures(b) as u64,
        }
    }

    /// B's failure rate minus A's on this seed; `None` without measured operations.
    pub fn difference(&self) -> Option<f64> {
        (self.operations > 0)
            .then(|| (self.b_failures as f64 - self.a_failures as f64) / self.operations as f64)
    }
}

/// The result of comparing strategy A with strategy B. Field order is the JSON key order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's path, for replay commands.
    pub path: String,
    /// A's row over all seeds.
    pub a: Row,
    /// B's row over all seeds.
    pub b: Row,
    /// Per seed, in run order.
    pub seeds: Vec<SeedPair>,
    /// Paired t-test of the per-seed differences (B - A), with its 95% interval.
    pub paired_t: PairedT,
    /// Seeds on which B failed more than A.
    pub b_worse: u64,
    /// Seeds on which B failed less than A.
    pub b_better: u64,
    /// Exact two-sided sign test of `b_worse` against `b_better`.
    pub sign_test_p: f64,
    /// Significance level the verdict uses.
    pub alpha: f64,
    /// The test the verdict rests on: `paired-t`, or `sign` when the t-test is undefined.
    pub verdict_test: &'static str,
    /// The p-value the verdict rests on.
    pub p_value: f64,
    /// Whether `p_value` is below `alpha`.
    pub significant: bool,
    /// Seeds where A had a failed measured operation and B had none.
    pub only_a_failed: Vec<u64>,
    /// Seeds where B had a failed measured operation and A had none.
    pub only_b_failed: Vec<u64>,
}

impl Comparison {
    /// Compare `a_runs` with `b_runs`, the same seeds in the same order (`path` is the scenario
    /// file, for replay commands). Needs two seeds with measured operations.
    pub fn new(
        path: &str,
        a_runs: &[RunResult],
        b_runs: &[RunResult],
        alpha: f64,
    ) -> Result<Comparison, RunError> {
        assert_eq!(a_runs.len(), b_runs.len(), "paired runs");
        let seeds: Vec<SeedPair> = a_runs
            .iter()
            .zip(b_runs)
            .map(|(a, b)| {
                assert_eq!(a.seed, b.seed, "runs paired by seed");
                SeedPair::pair(a.seed, a, b)
            })
            .collect();
        let differences: Vec<f64> = seeds.iter().filter_map(SeedPair::difference).collect();
        let test = paired_t(&differences).ok_or(RunError::TooFewSeeds {
            count: differences.len(),
        })?;
        let b_worse = differences.iter().filter(|d| **d > 0.0).count() as u64;
        let b_better = differences.iter().filter(|d| **d < 0.0).count() as u64;
        let failed_only = |first: &[RunResult], second: &[RunResult]| {
            first
                .iter()
                .zip(second)
                .filter(|(x, y)| x.failed() && !y.failed())
                .map(|(x, _)| x.seed)
                .collect::<Vec<_>>()
        };
        let sign_test_p = sign_test(b_worse, b_better);
        let (verdict_test, p_value) = match test.p_value {
            Some(p) => ("paired-t", p),
            None => ("sign", sign_test_p),
        };
        Ok(Comparison {
            scenario: a_runs[0].scenario.clone(),
            path: path.to_owned(),
            a: Row::aggregate(&a_runs.iter().collect::<Vec<_>>(), None),
            b: Row::aggregate(&b_runs.iter().collect::<Vec<_>>(), None),
            seeds,
            paired_t: test,
            b_worse,
            b_better,
            sign_test_p,
            alpha,
            verdict_test,
            p_value,
            significant: p_value < alpha,
            only_a_failed: failed_only(a_runs, b_runs),
            only_b_failed: failed_only(b_runs, a_runs),
        })
    }

    /// The command that replays `strategy` on `seed`.
    pub fn replay_command(&self, strategy: &str, seed: u64) -> String {
        format!(
            "sshrace replay {} --strategy {strategy} --seed {seed}",
            self.path
        )
    }
}

/// Run `scenario` with strategies `[a, b]` (resolved in `registry`) on `seeds` and compare
/// them; `threads` and `progress` as in [`execute`].
pub fn compare(
    registry: &Registry,
    scenario: &Scenario,
    [a, b]: [&str; 2],
    seeds: &[u64],
    alpha: f64,
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Comparison, RunError> {
    if seeds.len() < 2 {
        return Err(RunError::TooFewSeeds { count: seeds.len() });
    }
    let shared = Arc::new(scenario.clone());
    let mut jobs = Vec::with_capacity(seeds.len() * 2);
    for name in [a, b] {
        let strategy = registry.resolve(scenario, name, &StrategyParams::default())?;
        jobs.extend(seeds.iter().map(|&seed| Job {
            scenario: shared.clone(),
            strategy: strategy.clone(),
            seed,
        }));
    }
    let runs = execute(&jobs, threads, progress)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let (a_runs, b_runs) = runs.split_at(seeds.len());
    Comparison::new(&scenario.path, a_runs, b_runs, alpha)
}
