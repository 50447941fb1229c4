use std::collections::BTreeMap;
use std::time::Duration;

use crate::{RunResult, RunSummary, percentile, wilson};

/// One (scenario, strategy, backend) cell of a report: failure rate over every measured
/// operation of every run, with a 95% Wilson interval, per-outcome counts and resource figures.
/// Field order is the JSON key order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// Strategy name.
    pub strategy: String,
    /// `sim` (or a container backend).
    pub backend: String,
    /// Runs (seeds).
    pub runs: u64,
    /// Measured operations over all runs.
    pub operations: u64,
    /// Measured operations that failed.
    pub failures: u64,
    /// `failures / operations`.
    pub failure_rate: f64,
    /// Lower end of the 95% Wilson interval.
    pub ci_low: f64,
    /// Upper end of the 95% Wilson interval.
    pub ci_high: f64,
    /// Count per outcome key (`success`, `transport:closed-locally`, `silent-failure`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Silent failures (also in `outcomes`): always counted, the worst outcome.
    pub silent_failures: u64,
    /// Job events emitted after DONE.
    pub lost_events: u64,
    /// Connections that reached an sshd.
    pub connections_opened: u64,
    /// Connections that authenticated.
    pub handshakes: u64,
    /// Most unauthenticated connections at one sshd.
    pub peak_unauthenticated: u32,
    /// Most sessions open on one connection.
    pub peak_sessions_per_connection: u32,
    /// Median latency of successful measured operations, ms.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile latency of successful measured operations, ms.
    pub latency_p99_ms: Option<f64>,
    /// Sessions left open on servers after shutdown.
    pub leaked_sessions: u64,
    /// Connections left open on servers after shutdown.
    pub leaked_connections: u64,
    /// The scenario's `max_failure_rate` for this strategy, if it sets one.
    pub max_failure_rate: Option<f64>,
    /// Seeds with at least one failed measured operation, in run order.
    pub failing_seeds: Vec<u64>,
    /// Seed and trace hash of each run, in run order.
    pub traces: Vec<SeedTrace>,
}

/// A run's seed and trace hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeedTrace {
    /// The seed.
    pub seed: u64,
    /// Its trace hash.
    pub trace: String,
}

impl Row {
    /// Aggregate `runs` (all of one scenario and strategy).
    pub fn aggregate(runs: &[&RunResult], max_failure_rate: Option<f64>) -> Row {
        let first = runs.first().expect("a row needs at least one run");
        let summaries: Vec<RunSummary> = runs.iter().map(|run| RunSummary::of(run)).collect();
        Row::from_summaries(
            &first.scenario,
            &first.strategy,
            &summaries.iter().collect::<Vec<_>>(),
            max_failure_rate,
        )
    }

    /// Aggregate the summaries of runs of `scenario` with `strategy` (what a results file
    /// holds): the same row as [`Row::aggregate`] of the runs themselves.
    pub fn from_summaries(
        scenario: &str,
        strategy: &str,
        runs: &[&RunSummary],
        max_failure_rate: Option<f64>,
    ) -> Row {
        let first = runs.first().expect("a row needs at least one run");
        let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
        let mut latencies = Vec::new();
        let mut failures = 0u64;
        for run in runs {
            for (key, count) in &run.outcomes {
                *outcomes.entry(key.clone()).or_default() += count;
            }
            failures += run.failures;
            latencies.extend(
                run.latencies_ns
                    .iter()
                    .map(|ns| Duration::from_nanos(*ns).as_secs_f64() * 1000.0),
            );
        }
        let operations: u64 = outcomes.values().sum();
        let (ci_low, ci_high) = wilson(failures, operations);
        Row {
            scenario: scenario.to_owned(),
            strategy: strategy.to_owned(),
            backend: first.backend.clone(),
            runs: runs.len() as u64,
            operations,
            failures,
            failure_rate: if operations == 0 {
                0.0
            } else {
                failures as f64 / operations as f64
            },
            ci_low,
            ci_high,
            silent_failures: outcomes.get("silent-failure").copied().unwrap_or(0),
            outcomes,
            lost_events: runs.iter().map(|r| r.lost_events).sum(),
            connections_opened: runs.iter().map(|r| r.connections).sum(),
            handshakes: runs.iter().map(|r| r.handshakes).sum(),
            peak_unauthenticated: runs
                .iter()
                .map(|r| r.peak_unauthenticated)
                .max()
                .unwrap_or(0),
            peak_sessions_per_connection: runs
                .iter()
                .map(|r| r.peak_sessions_per_connection)
                .max()
                .unwrap_or(0),
            latency_p50_ms: percentile(&latencies, 0.5),
            latency_p99_ms: percentile(&latencies, 0.99),
            leaked_sessions: runs.iter().map(|r| r.leaked_sessions).sum(),
            leaked_connections: runs.iter().map(|r| r.leaked_connections).sum(),
            max_failure_rate,
            failing_seeds: runs.iter().filter(|r| r.failed()).map(|r| r.seed).collect(),
            traces: runs
                .iter()
                .map(|r| SeedTrace {
                    seed: r.seed,
                    trace: r.trace.clone(),
                })
                .collect(),
        }
    }

    /// Whether the row breaks its scenario's expectation.
    pub fn breaks_expectation(&self) -> bool {
        self.max_failure_rate
            .is_some_and(|max| self.failure_rate > max)
    }

    /// The most frequent outcomes other than success, e.g. `transport:closed-locally 41, timeout 3`
    /// (whether they count as failures depends on the scenario's `failing`).
    pub fn top_failures(&self, n: usize) -> String {
        let mut failures: Vec<(&String, &u64)> = self
            .outcomes
            .iter()
            .filter(|(k, _)| *k != "success")
            .collect();
        failures.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        failures
            .iter()
            .take(n)
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
