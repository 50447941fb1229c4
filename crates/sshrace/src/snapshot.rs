use std::collections::BTreeMap;

use serde::Serialize;
use sshrace_runner::Row;

/// A [`Row`] reduced to what is judged, for a reviewed snapshot (`insta`): counts and
/// outcomes, which are the same on every machine for the same scenarios, strategies and seeds.
/// Left out: latencies, trace hashes and the backend, so a snapshot changes only when what
/// happened to the operations changes.
///
/// Field order is the serialised key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotRow {
    /// Scenario name.
    pub scenario: String,
    /// Strategy name.
    pub strategy: String,
    /// Runs (seeds).
    pub runs: u64,
    /// Measured operations over all runs.
    pub operations: u64,
    /// Measured operations that failed.
    pub failures: u64,
    /// Measured operations that reported success the server never confirmed.
    pub silent_failures: u64,
    /// Count per outcome key (`success`, `transport:closed-locally`, ...), in key order.
    pub outcomes: BTreeMap<String, u64>,
    /// Job events emitted after DONE.
    pub lost_events: u64,
    /// Connections that reached an sshd.
    pub connections_opened: u64,
    /// Most sessions open on one connection.
    pub peak_sessions_per_connection: u32,
    /// Sessions and connections left open on servers after shutdown.
    pub leaked: u64,
    /// Seeds with at least one failed measured operation, in run order.
    pub failing_seeds: Vec<u64>,
}

impl From<&Row> for SnapshotRow {
    fn from(row: &Row) -> Self {
        SnapshotRow {
            scenario: row.scenario.clone(),
            strategy: row.strategy.clone(),
            runs: row.runs,
            operations: row.operations,
            failures: row.failures,
            silent_failures: row.silent_failures,
            outcomes: row.outcomes.clone(),
            lost_events: row.lost_events,
            connections_opened: row.connections_opened,
            peak_sessions_per_connection: row.peak_sessions_per_connection,
            leaked: row.leaked_sessions + row.leaked_connections,
            failing_seeds: row.failing_seeds.clone(),
        }
    }
}
