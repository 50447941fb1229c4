//! `--out FILE` (a results file per shard) and `sshrace merge` (the unsharded report from
//! them). The rows are rebuilt from run summaries with the same aggregation as a direct run,
//! so a merge prints the same bytes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use sshrace_runner::report::render_sweep;
use sshrace_runner::{
    NotCarriedOut, ResultCell, ResultRun, Results, Row, RunResult, RunSummary, Shard, SweepHeader,
    plan_digest,
};

use crate::cli::FormatArg;
use crate::docker::Containers;
use crate::plan::{Cell, Sharded};

/// What a results file says of the whole command: its cells and plan digest.
pub struct Header {
    pub cells: Vec<ResultCell>,
    pub plan: String,
    pub sweep: Option<SweepHeader>,
}

impl Header {
    /// The header of the command that runs `cells` (unsharded) on `containers` or the
    /// simulation.
    pub fn of(cells: &[Cell], containers: Option<&Containers>) -> Header {
        let mut parts: Vec<String> = Vec::with_capacity(cells.len() * 6);
        let result_cells = cells
            .iter()
            .map(|cell| {
                let replay_flags = crate::report::replay_backend(cell, containers);
                parts.push(cell.scenario.path.clone());
                parts.push(cell.scenario.to_toml());
                parts.push(format!("{:?}", cell.strategy));
                parts.push(format!(
                    "{:?} {:?} {replay_flags}",
                    cell.max_failure_rate, cell.time_scale
                ));
                parts.push(
                    cell.seeds
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                );
                ResultCell {
                    scenario: cell.scenario.name.clone(),
                    strategy: cell.strategy.name().to_owned(),
                    path: cell.scenario.path.clone(),
                    max_failure_rate: cell.max_failure_rate,
                    seeds: cell.seeds.len() as u64,
                    replay_flags,
                    client_cmd: cell.strategy.program_command().map(str::to_owned),
                }
            })
            .collect();
        Header {
            cells: result_cells,
            plan: plan_digest(parts.iter().map(String::as_str)),
            sweep: None,
        }
    }

    /// The results file of the shard that ran `cells` (what `sharded` kept), with their runs
    /// `grouped` per cell and the runs that were not carried out (`broken`: cell, seed, why).
    pub fn file(
        self,
        sharded: &Sharded,
        grouped: &[Vec<RunResult>],
        broken: &[(usize, u64, String)],
    ) -> Results {
        let mut runs: Vec<ResultRun> = grouped
            .iter()
            .enumerate()
            .flat_map(|(index, runs)| {
                runs.iter().map(move |run| ResultRun {
                    job: sharded.job_of[index][&run.seed],
                    cell: index as u32,
                    summary: RunSummary::of(run),
                })
            })
            .collect();
        runs.sort_by_key(|run| run.job);
        let not_carried_out = broken
            .iter()
            .map(|(cell, seed, error)| NotCarriedOut {
                job: sharded.job_of[*cell][seed],
                cell: *cell as u32,
                seed: *seed,
                error: error.clone(),
            })
            .collect();
        self.results(sharded.shard, sharded.total, runs, not_carried_out)
    }

    /// The results file of `shard` of a command of `total` runs.
    pub fn results(
        self,
        shard: Shard,
        total: usize,
        runs: Vec<ResultRun>,
        not_carried_out: Vec<NotCarriedOut>,
    ) -> Results {
        Results {
            sshrace_results: sshrace_runner::RESULTS_FORMAT,
            version: sshrace_runner::VERSION.to_owned(),
            plan: self.plan,
            shard: shard.to_string(),
            total_runs: total as u64,
            cells: self.cells,
            runs,
            not_carried_out,
            sweep: self.sweep,
        }
    }
}

/// Write `results` to `path` and say so.
pub fn write(path: &Path, results: &Results) -> anyhow::Result<()> {
    std::fs::write(path, results.to_json())
        .with_context(|| format!("writing the results file {}", path.display()))?;
    let shard = Shard::parse(&results.shard).map_err(anyhow::Error::msg)?;
    eprintln!(
        "sshrace: results of {} runs written to {}{}",
        results.runs.len(),
        path.display(),
        if shard.is_all() {
            String::new()
        } else {
            format!(
                " (shard {shard}: `sshrace merge` the files of all {} shards)",
                shard.count()
            )
        }
    );
    Ok(())
}

/// `sshrace merge FILE... --format F [--plot SVG]`.
pub fn run(paths: &[PathBuf], format: FormatArg, plot: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(format) = format.rows() else {
        anyhow::bail!(
            "merge --format html: the page reruns failing seeds, which results files do not hold; merge to json or markdown, or render html from an unsharded run"
        );
    };
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let results = Results::read(path).map_err(anyhow::Error::msg)?;
        files.push((path.display().to_string(), results));
    }
    let merged = sshrace_runner::merge(&files).map_err(anyhow::Error::msg)?;
    if plot.is_some() && merged.sweep.is_none() {
        anyhow::bail!("merge --plot: these are the results of run or matrix, not of a sweep");
    }
    eprintln!(
        "sshrace: merged {} shard file(s): {} cells, {} runs",
        merged.shards,
        merged.cells.len(),
        merged.total_runs
    );
    if let Some(sweep) = merged.to_sweep() {
        if let Some(path) = plot {
            std::fs::write(path, sshrace_runner::sweep_svg(&sweep)?)
                .with_context(|| format!("writing the plot to {}", path.display()))?;
            eprintln!("sshrace: plot written to {}", path.display());
        }
        crate::report::write_stdout(&render_sweep(&sweep, format))?;
        return Ok(ExitCode::SUCCESS);
    }
    for (run, cell) in &merged.not_carried_out {
        crate::report::not_carried_out(&run.error, &cell.replay_command(run.seed));
    }
    crate::report::not_carried_out_total(merged.not_carried_out.len());
    let reported: Vec<(&ResultCell, Row)> = merged
        .cells
        .iter()
        .zip(merged.rows())
        .filter_map(|(cell, row)| Some((cell, row?)))
        .collect();
    let rows: Vec<Row> = reported.iter().map(|(_, row)| row.clone()).collect();
    crate::report::write_stdout(&sshrace_runner::report::render(&rows, format))?;
    let breaks = crate::report::replay_lines(
        reported
            .iter()
            .map(|(cell, row)| (row, |seed| cell.replay_command(seed))),
    );
    Ok(crate::report::exit_code(
        !merged.not_carried_out.is_empty(),
        breaks,
    ))
}
