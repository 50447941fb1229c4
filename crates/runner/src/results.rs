//! Results files: what each run of a command contributes to its report, written by
//! `--out FILE` and merged exactly by `sshrace merge`.
//!
//! A [`RunSummary`] holds everything [`Row::aggregate`](crate::Row::aggregate) reads from a run
//! (outcome counts, failures, the exact latency of every successful measured operation,
//! resources and leaks), so rows rebuilt from summaries are the rows of the runs themselves:
//! [`Row::aggregate`](crate::Row::aggregate) is [`Row::from_summaries`](crate::Row::from_summaries)
//! of the runs' summaries. A [`Results`] file adds the command's cells, its shard, the sshrace
//! version and a digest of the plan (scenario files, strategies, seeds, expectations, backend),
//! so [`merge`] can refuse files that do not belong together.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest as _, Sha256};
use sshrace_core::limits;

use crate::{Row, RunResult, Shard, Sweep, SweepPoint};

/// Version of the results file format.
pub const RESULTS_FORMAT: u32 = 1;

/// The sshrace version written into results files (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a run contributes to its row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    /// The seed.
    pub seed: u64,
    /// `sim` or the container backend's name.
    pub backend: String,
    /// The run's trace hash.
    pub trace: String,
    /// Measured operations per outcome key.
    pub outcomes: BTreeMap<String, u64>,
    /// Measured operations that count as failures.
    pub failures: u64,
    /// Latency of each successful measured operation, in nanoseconds, in plan order.
    pub latencies_ns: Vec<u64>,
    /// Job events emitted after DONE.
    pub lost_events: u64,
    /// Connections that reached an sshd.
    pub connections: u64,
    /// Connections that authenticated.
    pub handshakes: u64,
    /// Most unauthenticated connections at one sshd.
    pub peak_unauthenticated: u32,
    /// Most sessions open at once on one connection.
    pub peak_sessions_per_connection: u32,
    /// Sessions left open on servers after shutdown.
    pub leaked_sessions: u64,
    /// Connections left open on servers after shutdown.
    pub leaked_connections: u64,
}

impl RunSummary {
    /// The summary of `run`.
    pub fn of(run: &RunResult) -> RunSummary {
        let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
        let mut failures = 0;
        let mut latencies_ns = Vec::new();
        for (record, outcome) in run.measured() {
            failures += u64::from(run.counts_as_failure(*outcome));
            *outcomes.entry(outcome.key()).or_default() += 1;
            if *outcome == sshrace_core::Outcome::Success
                && let Some(finished) = record.finished
            {
                let nanos = (finished - record.started).as_nanos();
                latencies_ns.push(u64::try_from(nanos).unwrap_or(u64::MAX));
            }
        }
        RunSummary {
            seed: run.seed,
            backend: run.backend.clone(),
            trace: run.trace_hash.clone(),
            outcomes,
            failures,
            latencies_ns,
            lost_events: run.lost_events,
            connections: run.connections,
            handshakes: run.handshakes,
            peak_unauthenticated: run.peak_unauthenticated,
            peak_sessions_per_connection: run.peak_sessions_per_connection,
            leaked_sessions: run.leaked_sessions,
            leaked_connections: run.leaked_connections,
        }
    }

    /// Measured operations.
    pub fn operations(&self) -> u64 {
        self.outcomes.values().sum()
    }

    /// Whether any measured operation failed.
    pub fn failed(&self) -> bool {
        self.failures > 0
    }
}

/// One (scenario, strategy) cell of a results file, in the command's cell order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResultCell {
    /// Scenario name.
    pub scenario: String,
    /// Strategy name.
    pub strategy: String,
    /// Where its scenario came from: a file path or a built-in's name (for replay lines).
    pub path: String,
    /// The cell's `max_failure_rate`, if any.
    pub max_failure_rate: Option<f64>,
    /// Seeds the unsharded command runs in this cell.
    pub seeds: u64,
    /// Backend flags of its replay command (empty in the simulation).
    pub replay_flags: String,
    /// The command line of the client program that played the strategy, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cmd: Option<String>,
}

impl ResultCell {
    /// The command that replays `seed` of this cell.
    pub fn replay_command(&self, seed: u64) -> String {
        format!(
            "sshrace replay {} {} --seed {seed}{}",
            self.path,
            replay_client(&self.strategy, self.client_cmd.as_deref()),
            self.replay_flags
        )
    }
}

/// How a replay command names who played a cell: `--strategy NAME`, or a client program's
/// `--client-cmd 'COMMAND'` (quoted for a POSIX shell).
pub fn replay_client(strategy: &str, client_cmd: Option<&str>) -> String {
    match client_cmd {
        Some(command) => format!("--client-cmd '{}'", command.replace('\'', r"'\''")),
        None => format!("--strategy {strategy}"),
    }
}

/// One run in a results file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResultRun {
    /// Its index in the unsharded command's job list.
    pub job: u64,
    /// Its cell's index.
    pub cell: u32,
    /// What it contributes.
    #[serde(flatten)]
    pub summary: RunSummary,
}

/// A run that could not be carried out (a container testbed error, not the strategy).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotCarriedOut {
    /// Its index in the unsharded command's job list.
    pub job: u64,
    /// Its cell's index.
    pub cell: u32,
    /// The seed.
    pub seed: u64,
    /// Why, in one line.
    pub error: String,
}

/// A results file: one shard's runs of one command.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Results {
    /// [`RESULTS_FORMAT`].
    pub sshrace_results: u32,
    /// The sshrace version that wrote it.
    pub version: String,
    /// Digest of the plan: see [`plan_digest`].
    pub plan: String,
    /// `K/N`.
    pub shard: String,
    /// Runs of the unsharded command.
    pub total_runs: u64,
    /// The command's cells.
    pub cells: Vec<ResultCell>,
    /// This shard's runs, in job order.
    pub runs: Vec<ResultRun>,
    /// This shard's runs that were not carried out.
    pub not_carried_out: Vec<NotCarriedOut>,
    /// For a sweep: what its report shows beside the rows. Its cells are (value, strategy)
    /// pairs, value by value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepHeader>,
}

/// What a sweep's report shows beside its rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepHeader {
    /// The scenario's name.
    pub scenario: String,
    /// The parameter as given.
    pub parameter: String,
    /// Its values, in the order given.
    pub values: Vec<f64>,
    /// The seeds every (value, strategy) ran.
    pub seeds: Vec<u64>,
    /// The workload items whose operations count toward the failure rate.
    pub measured: Vec<String>,
}

impl Results {
    /// Read a results file, refusing one past [`limits::RESULTS_FILE_BYTES`] before reading it.
    pub fn read(path: &Path) -> Result<Results, String> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|e| format!("{shown}: {e}"))?
            .len();
        if size > limits::RESULTS_FILE_BYTES {
            return Err(format!(
                "{shown}: {size} bytes, more than the limit of {} for a results file",
                limits::RESULTS_FILE_BYTES
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{shown}: not an sshrace results file: {e}"))?;
        match value.get("sshrace_results").and_then(|v| v.as_u64()) {
            Some(format) if format == u64::from(RESULTS_FORMAT) => {}
            Some(format) => {
                return Err(format!(
                    "{shown}: results format {format}, this sshrace reads format {RESULTS_FORMAT} (sshrace {VERSION})"
                ));
            }
            None => {
                return Err(format!(
                    "{shown}: not an sshrace results file (no \"sshrace_results\" field; write one with --out)"
                ));
            }
        }
        serde_json::from_value(value)
            .map_err(|e| format!("{shown}: not an sshrace results file: {e}"))
    }

    /// The file as JSON text.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string(self).expect("results serialize");
        text.push('\n');
        text
    }
}

/// The digest a results file carries: SHA-256 over the sshrace version and `parts` (the
/// command's canonical scenario texts, strategies, seeds, expectations and backend), in order.
pub fn plan_digest<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(VERSION.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Results files merged: every cell with its runs in job order.
#[derive(Debug, Clone)]
pub struct Merged {
    /// For a sweep, its header.
    pub sweep: Option<SweepHeader>,
    /// The command's cells.
    pub cells: Vec<ResultCell>,
    /// Per cell, its runs in job (seed) order.
    pub runs: Vec<Vec<RunSummary>>,
    /// Runs that were not carried out, in job order.
    pub not_carried_out: Vec<(NotCarriedOut, ResultCell)>,
    /// How many shards.
    pub shards: u32,
    /// Runs of the command.
    pub total_runs: u64,
}

/// Merge the results files of one command's shards (`(name, results)` pairs). Refuses, with one
/// line: files of another sshrace version, format or plan; a shard given twice or missing; a
/// run present twice or missing; a run in a file whose shard does not hold it.
pub fn merge(files: &[(String, Results)]) -> Result<Merged, String> {
    let (first_name, first) = files
        .first()
        .ok_or_else(|| "nothing to merge: give the results files of every shard".to_owned())?;
    let first_shard = Shard::parse(&first.shard).map_err(|e| format!("{first_name}: {e}"))?;
    let count = first_shard.count();
    let mut by_shard: BTreeMap<u32, &str> = BTreeMap::new();
    let mut shards = Vec::with_capacity(files.len());
    for (name, file) in files {
        if file.version != first.version {
            return Err(format!(
                "{name} was written by sshrace {}, {first_name} by sshrace {}: merge files of one version",
                file.version, first.version
            ));
        }
        if file.plan != first.plan || file.cells != first.cells || file.sweep != first.sweep {
            return Err(format!(
                "{name} and {first_name} come from different commands (scenario files, strategies, seeds or backend differ; plan {} vs {})",
                short(&file.plan),
                short(&first.plan)
            ));
        }
        let shard = Shard::parse(&file.shard).map_err(|e| format!("{name}: {e}"))?;
        if shard.count() != count || file.total_runs != first.total_runs {
            return Err(format!(
                "{name} is shard {shard}, {first_name} is shard {first_shard}: merge the shards of one split"
            ));
        }
        if let Some(other) = by_shard.insert(shard.index(), name) {
            return Err(format!("shard {shard} given twice ({other} and {name})"));
        }
        shards.push(shard);
    }
    let missing: Vec<String> = (1..=count)
        .filter(|k| !by_shard.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing shard{} {} of {count}: merge needs every shard's results file",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ));
    }
    let total = usize::try_from(first.total_runs).map_err(|_| "too many runs".to_owned())?;
    let cells = first.cells.clone();
    let expected: u64 = cells.iter().map(|c| c.seeds).sum();
    if expected != first.total_runs {
        return Err(format!(
            "{first_name}: its cells hold {expected} runs, it says {}",
            first.total_runs
        ));
    }
    // job -> (file, cell, seed, summary or not-carried-out)
    let mut slots: Vec<Option<(&str, u32, u64, Slot)>> = vec![None; total];
    for ((name, file), shard) in files.iter().zip(shards) {
        let entries = file
            .runs
            .iter()
            .map(|r| (r.job, r.cell, r.summary.seed, Slot::Ran(&r.summary)))
            .chain(
                file.not_carried_out
                    .iter()
                    .map(|n| (n.job, n.cell, n.seed, Slot::NotCarriedOut(n))),
            );
        for (job, cell, seed, slot) in entries {
            let index = usize::try_from(job).unwrap_or(usize::MAX);
            let Some(cell_info) = cells.get(cell as usize) else {
                return Err(format!(
                    "{name}: run {job} names cell {cell}, which it does not list"
                ));
            };
            if index >= total || !shard.contains(index) {
                return Err(format!(
                    "{name}: run {job} (seed {seed} of {} with {}) is not in shard {shard}",
                    cell_info.scenario, cell_info.strategy
                ));
            }
            if let Some((other, ..)) = slots[index] {
                return Err(format!(
                    "seed {seed} of {} with {} present twice ({other} and {name})",
                    cell_info.scenario, cell_info.strategy
                ));
            }
            slots[index] = Some((name, cell, seed, slot));
        }
    }
    let mut runs: Vec<Vec<RunSummary>> = vec![Vec::new(); cells.len()];
    let mut not_carried_out = Vec::new();
    let mut job = 0usize;
    for (index, cell) in cells.iter().enumerate() {
        for _ in 0..cell.seeds {
            match &slots[job] {
                None => {
                    let shard = Shard::new((job % count as usize) as u32 + 1, count)
                        .expect("a shard of count");
                    return Err(format!(
                        "run {job} ({} with {}) is missing: shard {shard}'s file ({}) does not hold it",
                        cell.scenario,
                        cell.strategy,
                        by_shard[&shard.index()]
                    ));
                }
                Some((name, at, ..)) if *at as usize != index => {
                    return Err(format!(
                        "{name}: run {job} says cell {at}, the plan says cell {index}"
                    ));
                }
                Some((_, _, _, Slot::Ran(summary))) => runs[index].push((*summary).clone()),
                Some((_, _, _, Slot::NotCarriedOut(n))) => {
                    not_carried_out.push(((*n).clone(), cell.clone()))
                }
            }
            job += 1;
        }
    }
    Ok(Merged {
        sweep: first.sweep.clone(),
        cells,
        runs,
        not_carried_out,
        shards: count,
        total_runs: first.total_runs,
    })
}

#[derive(Debug, Clone, Copy)]
enum Slot<'a> {
    Ran(&'a RunSummary),
    NotCarriedOut(&'a NotCarriedOut),
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}

impl Merged {
    /// Each cell's row, or `None` for a cell none of whose runs was carried out.
    pub fn rows(&self) -> Vec<Option<Row>> {
        self.cells
            .iter()
            .zip(&self.runs)
            .map(|(cell, runs)| {
                (!runs.is_empty()).then(|| {
                    Row::from_summaries(
                        &cell.scenario,
                        &cell.strategy,
                        &runs.iter().collect::<Vec<_>>(),
                        cell.max_failure_rate,
                    )
                })
            })
            .collect()
    }

    /// The sweep these results are the runs of, if they are a sweep's.
    pub fn to_sweep(&self) -> Option<Sweep> {
        let header = self.sweep.as_ref()?;
        let rows = self.rows();
        let per_value = rows.len() / header.values.len().max(1);
        let points = header
            .values
            .iter()
            .enumerate()
            .map(|(index, value)| SweepPoint {
                value: *value,
                rows: rows[index * per_value..(index + 1) * per_value]
                    .iter()
                    .flatten()
                    .cloned()
                    .collect(),
            })
            .collect();
        Some(Sweep {
            scenario: header.scenario.clone(),
            parameter: header.parameter.clone(),
            seeds: header.seeds.clone(),
            measured: header.measured.clone(),
            points,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(client_cmd: Option<&str>) -> ResultCell {
        ResultCell {
            scenario: "stop-then-reap".to_owned(),
            strategy: "mux-age.sh".to_owned(),
            path: "stop-then-reap".to_owned(),
            max_failure_rate: None,
            seeds: 3,
            replay_flags: " --backend docker".to_owned(),
            client_cmd: client_cmd.map(str::to_owned),
        }
    }

    #[test]
    fn a_program_cell_replays_with_its_command_quoted_and_a_strategy_cell_by_name() {
        assert_eq!(
            cell(None).replay_command(2),
            "sshrace replay stop-then-reap --strategy mux-age.sh --seed 2 --backend docker"
        );
        assert_eq!(
            cell(Some("MUX_RECYCLE=stop examples/drivers/mux-age.sh 'a b'")).replay_command(2),
            "sshrace replay stop-then-reap --client-cmd 'MUX_RECYCLE=stop examples/drivers/mux-age.sh '\\''a b'\\''' --seed 2 --backend docker"
        );
    }

    #[test]
    fn a_strategy_cell_writes_no_client_cmd_and_reads_back_without_one() {
        let json = serde_json::to_string(&cell(None)).unwrap();
        assert!(!json.contains("client_cmd"), "{json}");
        assert_eq!(
            serde_json::from_str::<ResultCell>(&json).unwrap(),
            cell(None)
        );
        let program = cell(Some("python3 fresh.py"));
        let json = serde_json::to_string(&program).unwrap();
        assert_eq!(serde_json::from_str::<ResultCell>(&json).unwrap(), program);
    }
}
