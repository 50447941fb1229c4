//! Running cells and reporting them (run and matrix): execution on all cores or containers,
//! the rows in every format, replay lines, `--out` results files, interrupts, the exit status.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context as _;
use sshrace_runner::report::{self, Format};
use sshrace_runner::{Backend, Job, Row, RunError, RunResult, Shard, Sim, execute_by};

use crate::cli::{Common, FormatArg};
use crate::docker::Containers;
use crate::plan::{self, Cell};

/// The runs that finished so far, by job index, for the rows an interrupted command prints.
pub struct Finished {
    /// For each job, in job order, its run once it finished.
    runs: Mutex<Vec<Option<RunResult>>>,
    cells: Vec<Cell>,
    format: Format,
}

impl Finished {
    fn new(cells: &[Cell], format: Format) -> Finished {
        let jobs = cells.iter().map(|cell| cell.seeds.len()).sum();
        Finished {
            runs: Mutex::new(vec![None; jobs]),
            cells: cells.to_vec(),
            format,
        }
    }

    fn record(&self, index: usize, run: &RunResult) {
        if let Some(slot) = self.runs.lock().expect("finished lock").get_mut(index) {
            *slot = Some(run.clone());
        }
    }

    /// Print the rows of the runs that finished, marked incomplete, and how to rerun.
    fn print_incomplete(&self, signal: i32) {
        let runs = self.runs.lock().expect("finished lock");
        let done = runs.iter().flatten().count();
        let mut rows = Vec::new();
        let grouped = sshrace_runner::regroup(&self.cells, runs.iter());
        for (cell, group) in self.cells.iter().zip(grouped) {
            let mine: Vec<&RunResult> = group.into_iter().flatten().collect();
            if !mine.is_empty() {
                rows.push(Row::aggregate(&mine, cell.max_failure_rate));
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(report::render(&rows, self.format).as_bytes());
        let _ = out.flush();
        eprintln!(
            "sshrace: interrupted by {}: INCOMPLETE, {done} of {} runs finished (the rows above count only those); no run was started after the signal",
            crate::interrupt::name(signal),
            runs.len()
        );
        eprintln!("sshrace: rerun: {}", crate::interrupt::rerun_command());
    }
}

/// Run every cell's seeds; results grouped per cell, in seed order. With `finished`, every run
/// that ends is recorded there, and no run starts once a stop was asked for (SIGINT, SIGTERM).
pub fn execute_cells(
    cells: &[Cell],
    threads: usize,
    show_progress: bool,
    containers: Option<&Containers>,
) -> anyhow::Result<Executed> {
    execute_cells_recorded(cells, threads, show_progress, containers, None)
}

fn execute_cells_recorded(
    cells: &[Cell],
    threads: usize,
    show_progress: bool,
    containers: Option<&Containers>,
    finished: Option<&Finished>,
) -> anyhow::Result<Executed> {
    let jobs: Vec<Job> = crate::plan::jobs(cells);
    let bar = crate::progress::bar(jobs.len(), show_progress);
    let progress = |done: usize| bar.set_position(done as u64);
    // Which job a `&Job` is: its place in `jobs` (execute_by hands out references into it).
    let first = jobs.as_ptr() as usize;
    let index_of = move |job: &Job| (job as *const Job as usize - first) / size_of::<Job>();
    let interrupted = || {
        RunError::Interrupted(
            crate::interrupt::requested().map_or("a signal", crate::interrupt::name),
        )
    };
    let backend: Box<dyn Backend> = match containers {
        None => Box::new(Sim),
        Some(containers) => Box::new(containers.backend(cells)),
    };
    let results = execute_by(&jobs, threads, &progress, &|job| {
        if crate::interrupt::requested().is_some() {
            return Err(interrupted());
        }
        let run = backend.run(job, false)?;
        if let Some(finished) = finished {
            finished.record(index_of(job), &run);
        }
        Ok(run)
    });
    if finished.is_some() {
        crate::interrupt::park_if_stopping();
    }
    bar.finish_and_clear();
    let mut grouped = Vec::with_capacity(cells.len());
    let mut broken = Vec::new();
    for (index, (cell, results)) in cells
        .iter()
        .zip(sshrace_runner::regroup(cells, results))
        .enumerate()
    {
        let mut runs = Vec::with_capacity(results.len());
        for (seed, result) in cell.seeds.iter().zip(results) {
            let result = result
                .with_context(|| format!("{} with {}", cell.scenario.path, cell.strategy.name()));
            match result {
                Ok(run) => runs.push(run),
                Err(error) if containers.is_none() => return Err(error),
                Err(error) => {
                    let error = format!("{error:#}");
                    not_carried_out(&error, &replay_command(cell, *seed, containers));
                    broken.push((index, *seed, error));
                }
            }
        }
        grouped.push(runs);
    }
    not_carried_out_total(broken.len());
    Ok(Executed { grouped, broken })
}

/// Say that a container run could not be carried out (the testbed, not the strategy), with its
/// replay line; the other runs still report.
pub fn not_carried_out(error: &str, replay: &str) {
    eprintln!("sshrace: run not carried out: {error}\n  replay: {replay}");
}

/// The line after the runs not carried out, if any.
pub fn not_carried_out_total(count: usize) {
    if count > 0 {
        eprintln!(
            "sshrace: {count} container run(s) not carried out (above); their cells count fewer runs"
        );
    }
}

/// The backend flags of the command that replays a run of `cell` (none in the simulation):
/// ` --backend docker --openssh V --client C --time-scale 1/N`.
pub fn replay_backend(cell: &Cell, containers: Option<&Containers>) -> String {
    let Some(c) = containers else {
        return String::new();
    };
    format!(
        " --backend docker --openssh {} --client {}{}",
        cell.scenario.profile.version(),
        c.client.arg(),
        cell.time_scale
            .map(|scale| format!(" --time-scale 1/{:.0}", 1.0 / scale))
            .unwrap_or_default()
    )
}

/// The runs of every cell, and how many container runs could not be carried out.
pub struct Executed {
    /// Per cell, its runs in seed order (without the ones not carried out).
    pub grouped: Vec<Vec<RunResult>>,
    /// Container runs that could not be carried out (testbed errors): (cell index, seed, why);
    /// always empty in the simulation.
    pub broken: Vec<(usize, u64, String)>,
}

pub fn report_cells(
    mut cells: Vec<Cell>,
    common: &Common,
    containers: Option<&Containers>,
) -> anyhow::Result<ExitCode> {
    let passes = crate::determinism::validate(common.check_determinism, common.repeat)?;
    // What a results file says of the whole command, taken before the shard keeps its part.
    let results = common
        .out
        .as_ref()
        .map(|_| crate::merge::Header::of(&cells, containers));
    let shard = common.shard.unwrap_or(Shard::ALL);
    let sharded = plan::shard(&mut cells, shard);
    let cells = &cells[..];
    let threads = match containers {
        None => common.jobs.unwrap_or_else(sshrace_runner::default_threads),
        // Container runs share the machine's cores with the sshds they start, and many races
        // turn on how fast a real handshake is: one at a time unless asked.
        Some(_) => common.jobs.unwrap_or(1),
    };
    let runs: usize = cells.iter().map(|c| c.seeds.len()).sum();
    let backend = match containers {
        None => "sim".to_owned(),
        Some(c) => {
            let mut versions: Vec<_> = cells.iter().map(|cell| cell.scenario.profile).collect();
            versions.sort();
            versions.dedup();
            c.prepare(&versions)?;
            format!(
                "docker (OpenSSH {}, {} client)",
                versions
                    .iter()
                    .map(|v| v.version())
                    .collect::<Vec<_>>()
                    .join(" and "),
                c.client.name()
            )
        }
    };
    eprintln!(
        "sshrace: {} cells, {runs} runs, backend {backend}, {threads} threads, seeds {}",
        cells.len(),
        common.seeds
    );
    if !shard.is_all() {
        eprintln!("sshrace: shard {shard}: {runs} of {} runs", sharded.total);
    }
    if containers.is_some() {
        for cell in cells {
            if let Some(scale) = cell.time_scale {
                eprintln!(
                    "sshrace: {} {} at time scale 1/{:.0}",
                    cell.scenario.name,
                    cell.strategy.name(),
                    1.0 / scale
                );
            }
        }
        if common.check_determinism {
            anyhow::bail!(
                "--check-determinism applies to the simulation only: real containers run on real time"
            );
        }
    }
    let start = std::time::Instant::now();
    let finished = std::sync::Arc::new(Finished::new(
        cells,
        common.format.rows().unwrap_or(Format::Table),
    ));
    {
        let finished = finished.clone();
        let on_containers = containers.is_some();
        crate::interrupt::install(move |signal| {
            finished.print_incomplete(signal);
            let programs = sshrace_driver::kill_all();
            if programs > 0 {
                eprintln!("sshrace: killed {programs} client program(s) of this run");
            }
            if on_containers {
                // Twice: a run starting its containers as the signal came may add one after
                // the first pass; none starts after it.
                for pass in 0..2 {
                    match sshrace_docker::clean::clean_own() {
                        Ok(removed) if removed > 0 => {
                            eprintln!("sshrace: removed {removed} container(s) of this run")
                        }
                        Ok(_) => {}
                        Err(error) => eprintln!("sshrace: cleaning up: {error}"),
                    }
                    if pass == 0 {
                        std::thread::sleep(std::time::Duration::from_secs(2));
                    }
                }
            }
        });
    }
    let Executed { grouped, broken } = execute_cells_recorded(
        cells,
        threads,
        common.format == FormatArg::Table,
        containers,
        Some(&finished),
    )?;
    let mut failed = false;
    if common.check_determinism {
        failed |= !crate::determinism::check(
            cells,
            &grouped,
            threads,
            passes,
            common.format == FormatArg::Table,
        )?;
    }
    // A cell none of whose container runs could be carried out has no row (said above).
    let reported: Vec<(&Cell, Row)> = cells
        .iter()
        .zip(&grouped)
        .filter(|(_, runs)| !runs.is_empty())
        .map(|(cell, runs)| {
            let row = Row::aggregate(&runs.iter().collect::<Vec<_>>(), cell.max_failure_rate);
            (cell, row)
        })
        .collect();
    let rows: Vec<Row> = reported.iter().map(|(_, row)| row.clone()).collect();
    let text = match common.format.rows() {
        Some(format) => report::render(&rows, format),
        None => crate::html::page(&reported, containers, threads)?,
    };
    if let (Some(path), Some(header)) = (&common.out, results) {
        crate::merge::write(path, &header.file(&sharded, &grouped, &broken))?;
    }
    write_stdout(&text)?;
    let breaks = replay_lines(
        reported
            .iter()
            .map(|(cell, row)| (row, |seed| replay_command(cell, seed, containers))),
    );
    eprintln!(
        "sshrace: {runs} runs in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if shard.is_all() {
        failed |= breaks;
    } else if breaks {
        eprintln!(
            "sshrace: shard {shard}: a row breaks its expectation on this shard's runs alone; `sshrace merge` judges the whole"
        );
    }
    Ok(exit_code(!broken.is_empty(), failed))
}

/// The exit status of a run or matrix (and of their merge): 2 when a run could not be carried
/// out, else 1 when a row broke its expectation (or the determinism check failed), else 0.
pub fn exit_code(not_carried_out: bool, failed: bool) -> ExitCode {
    if not_carried_out {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Write `text` to stdout.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// For each row with a failing seed, print the command that replays its first one; true when
/// a row breaks its expectation.
pub fn replay_lines<'a, F: Fn(u64) -> String>(rows: impl Iterator<Item = (&'a Row, F)>) -> bool {
    let mut breaks = false;
    for (row, replay) in rows {
        if let Some(seed) = row.failing_seeds.first() {
            eprintln!(
                "replay: {}{}",
                replay(*seed),
                if row.breaks_expectation() {
                    "   (breaks its expectation)"
                } else {
                    ""
                }
            );
        }
        breaks |= row.breaks_expectation();
    }
    breaks
}

/// The command that replays `seed` of `cell`.
pub fn replay_command(cell: &Cell, seed: u64, containers: Option<&Containers>) -> String {
    format!(
        "sshrace replay {} {} --seed {seed}{}",
        cell.scenario.path,
        sshrace_runner::replay_client(cell.strategy.name(), cell.strategy.program_command()),
        replay_backend(cell, containers)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use sshrace_docker::{Client, OpenSshProfile};

    // A docker cell's "replay with" line must name the client that ran it, or the replay runs
    // on the host's ssh instead of the version that failed.
    #[test]
    fn a_docker_replay_line_carries_the_client_version() {
        let scenario = std::sync::Arc::new(plan::load_scenario("deploy-age-recycle").unwrap());
        let strategy = sshrace_runner::Registry::new()
            .resolve(&scenario, "mux-exit", &Default::default())
            .unwrap();
        let cell = Cell {
            scenario,
            strategy,
            seeds: vec![7],
            max_failure_rate: None,
            time_scale: Some(1.0 / 60.0),
        };
        let on = |client| Containers {
            time_scale: None,
            client,
            program: None,
        };
        let ten = replay_command(
            &cell,
            7,
            Some(&on(Client::OpenSshVersion(OpenSshProfile::OpenSsh100))),
        );
        assert!(
            ten.ends_with(
                " --seed 7 --backend docker --openssh 9.2 --client openssh:10.0 --time-scale 1/60"
            ),
            "{ten}"
        );
        let host = replay_command(&cell, 7, Some(&on(Client::OpenSsh)));
        assert!(host.contains(" --client openssh --time-scale"), "{host}");
    }
}
