//! The subcommands.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context as _;
use sshrace_runner::docker::run_docker;
use sshrace_runner::report::{self, Format};
use sshrace_runner::{
    ChromeTrace, Job, Registry, Row, RunError, RunResult, Shard, Timeline, execute, execute_by,
    execute_with, run_one,
};
use sshrace_strategy::BUILTIN;

use crate::cli::{Args, Command, Common, FormatArg};
use crate::docker::Containers;
use crate::plan::{self, Cell};

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::List => list(),
        Command::Run {
            scenario,
            strategies,
            common,
            max_failure_rate,
        } => {
            let seeds = plan::parse_seeds(&common.seeds)?;
            let mut scenario = plan::load_scenario(&scenario)?;
            crate::docker::apply_profile(&mut scenario, common.backend.openssh.as_deref())?;
            let containers = Containers::from_args(&common.backend)?;
            let time_scale = match &containers {
                Some(containers) => Some(containers.scale_for(&scenario)?),
                None => None,
            };
            let cells = plan::cells(scenario, &strategies, &seeds, max_failure_rate, time_scale)?;
            report_cells(cells, &common, containers.as_ref())
        }
        Command::Matrix { scenarios, common } => {
            let seeds = plan::parse_seeds(&common.seeds)?;
            let containers = Containers::from_args(&common.backend)?;
            let cells = matrix_cells(
                scenarios.as_deref(),
                &seeds,
                containers.as_ref(),
                common.backend.openssh.as_deref(),
            )?;
            report_cells(cells, &common, containers.as_ref())
        }
        Command::Merge {
            files,
            format,
            plot,
        } => crate::merge::run(&files, format, plot.as_deref()),
        Command::Replay {
            scenario,
            strategy,
            seed,
            trace,
            backend,
        } => replay(
            &scenario,
            &strategy,
            &seed,
            trace.as_deref(),
            Containers::from_args(&backend)?,
            backend.openssh.as_deref(),
        ),
        Command::Sweep {
            scenario,
            strategies,
            param,
            measure,
            seeds,
            format,
            plot,
            jobs,
            shard,
            out,
        } => crate::sweep::run(crate::sweep::SweepArgs {
            scenario,
            strategies,
            param,
            measure,
            seeds,
            format,
            plot,
            threads: threads(jobs),
            shard: shard.unwrap_or(sshrace_runner::Shard::ALL),
            out,
        }),
        Command::Compare {
            scenario,
            strategies,
            measure,
            seeds,
            alpha,
            format,
            jobs,
        } => crate::compare::run(crate::compare::CompareArgs {
            scenario,
            strategies,
            measure,
            seeds,
            alpha,
            format,
            threads: threads(jobs),
        }),
        Command::Fuzz {
            scenario,
            strategy,
            cases,
            seed,
        } => fuzz(&scenario, &strategy, cases, &seed),
        Command::Bench { seeds } => crate::bench::run(seeds),
        Command::Image { action } => crate::docker::image(action),
        Command::Clean { all } => crate::docker::clean(all),
        Command::Calibrate {
            openssh,
            runs,
            sim_only,
            only,
            out,
        } => crate::docker::calibrate(openssh.as_deref(), runs, sim_only, only.as_deref(), &out),
    }
}

fn list() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Scenarios (sshrace run NAME, or a path to a .toml file):"
    )?;
    for builtin in sshrace_runner::builtin_scenarios() {
        let scenario = builtin.parse()?;
        writeln!(
            out,
            "  {:<28} {}  [{}]",
            scenario.name,
            scenario.description,
            scenario.strategies.join(", ")
        )?;
    }
    writeln!(out, "\nStrategies (--strategy NAME):")?;
    for (name, description) in BUILTIN {
        writeln!(out, "  {name:<20} {description}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every scenario of the matrix (built-ins, or the files in `dir`) with its own strategies. On
/// containers, scenarios they cannot run are left out and listed on stderr with the reason.
pub fn matrix_cells(
    dir: Option<&std::path::Path>,
    seeds: &[u64],
    containers: Option<&Containers>,
    openssh: Option<&str>,
) -> anyhow::Result<Vec<Cell>> {
    let scenarios = match dir {
        None => sshrace_runner::builtin_scenarios()
            .iter()
            .map(|b| b.parse().map_err(anyhow::Error::from))
            .collect::<anyhow::Result<Vec<_>>>()?,
        Some(dir) => {
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            paths.sort();
            paths
                .iter()
                .map(|p| plan::load_scenario(&p.to_string_lossy()))
                .collect::<anyhow::Result<Vec<_>>>()?
        }
    };
    let total = scenarios.len();
    let mut refused = 0;
    let mut cells = Vec::new();
    for mut scenario in scenarios {
        Registry::new().check(&scenario)?;
        crate::docker::apply_profile(&mut scenario, openssh)?;
        let time_scale = match containers {
            None => None,
            Some(containers) => match containers.scale_for(&scenario) {
                Ok(scale) => Some(scale),
                Err(refusal) => {
                    eprintln!("sshrace: refused: {refusal}");
                    refused += 1;
                    continue;
                }
            },
        };
        cells.extend(plan::cells(scenario, &[], seeds, None, time_scale)?);
    }
    if containers.is_some() {
        // Checked before Docker is touched: a matrix with nothing to run says so and runs nothing.
        anyhow::ensure!(
            refused == 0 || refused < total,
            "none of the {total} scenarios can run on containers (each refusal is listed above); use --backend sim"
        );
        eprintln!(
            "sshrace: containers run {} of {total} scenarios; {}",
            total - refused,
            match refused {
                0 => "none refused".to_owned(),
                n => format!("{n} refused (listed above)"),
            }
        );
    }
    Ok(cells)
}

/// The runs that finished so far, by job index, for the rows an interrupted command prints.
pub struct Finished {
    runs: Mutex<Vec<Option<RunResult>>>,
    /// For each job, its cell's index.
    cell_of: Vec<usize>,
    /// For each cell, its `max_failure_rate`.
    expectations: Vec<Option<f64>>,
    format: Format,
    total: usize,
}

impl Finished {
    fn new(cells: &[Cell], format: Format) -> Finished {
        let cell_of: Vec<usize> = cells
            .iter()
            .enumerate()
            .flat_map(|(index, cell)| cell.seeds.iter().map(move |_| index))
            .collect();
        Finished {
            runs: Mutex::new(vec![None; cell_of.len()]),
            total: cell_of.len(),
            cell_of,
            expectations: cells.iter().map(|c| c.max_failure_rate).collect(),
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
        for (cell, expectation) in self.expectations.iter().enumerate() {
            let mine: Vec<&RunResult> = runs
                .iter()
                .zip(&self.cell_of)
                .filter(|(_, c)| **c == cell)
                .filter_map(|(run, _)| run.as_ref())
                .collect();
            if !mine.is_empty() {
                rows.push(Row::aggregate(&mine, *expectation));
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(report::render(&rows, self.format).as_bytes());
        let _ = out.flush();
        eprintln!(
            "sshrace: interrupted by {}: INCOMPLETE, {done} of {} runs finished (the rows above count only those); no run was started after the signal",
            crate::interrupt::name(signal),
            self.total
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
    let results = match containers {
        None if finished.is_none() => execute(&jobs, threads, &progress),
        None => execute_by(&jobs, threads, &progress, &|job| {
            if crate::interrupt::requested().is_some() {
                return Err(interrupted());
            }
            let run = run_one(&job.scenario, &job.strategy, job.seed, false)?;
            if let Some(finished) = finished {
                finished.record(index_of(job), &run);
            }
            Ok(run)
        }),
        Some(containers) => {
            let scales: Vec<(String, f64)> = cells
                .iter()
                .filter_map(|c| Some((c.scenario.name.clone(), c.time_scale?)))
                .collect();
            execute_by(&jobs, threads, &progress, &|job| {
                if crate::interrupt::requested().is_some() {
                    return Err(interrupted());
                }
                let scale = scales
                    .iter()
                    .find(|(name, _)| *name == job.scenario.name)
                    .map_or(1.0, |(_, s)| *s);
                let run = run_docker(
                    &job.scenario,
                    &job.strategy,
                    job.seed,
                    &containers.run(&job.scenario, scale),
                    false,
                )?;
                if let Some(finished) = finished {
                    finished.record(index_of(job), &run);
                }
                Ok(run)
            })
        }
    };
    bar.finish_and_clear();
    let mut results = results.into_iter();
    let mut grouped = Vec::new();
    let mut broken = Vec::new();
    for (index, cell) in cells.iter().enumerate() {
        let mut runs = Vec::new();
        for seed in &cell.seeds {
            let result = results
                .next()
                .expect("one result per job")
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
        crate::docker::version_of(&cell.scenario).version(),
        c.client.name(),
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

/// `--jobs`, or the number of cores.
pub fn threads(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn report_cells(
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
        None => threads(common.jobs),
        // Container runs share the machine's cores with the sshds they start, and many races
        // turn on how fast a real handshake is: one at a time unless asked.
        Some(_) => common.jobs.unwrap_or(1),
    };
    let runs: usize = cells.iter().map(|c| c.seeds.len()).sum();
    let backend = match containers {
        None => "sim".to_owned(),
        Some(c) => {
            let mut versions: Vec<_> = cells
                .iter()
                .map(|cell| crate::docker::version_of(&cell.scenario))
                .collect();
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
        None => html_page(&reported, containers, threads)?,
    };
    if let (Some(path), Some(header)) = (&common.out, results) {
        crate::merge::write(path, &header.file(&sharded, cells, &grouped, &broken))?;
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
    Ok(if !broken.is_empty() {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
fn replay_command(cell: &Cell, seed: u64, containers: Option<&Containers>) -> String {
    format!(
        "sshrace replay {} --strategy {} --seed {seed}{}",
        cell.scenario.path,
        cell.strategy.name(),
        replay_backend(cell, containers)
    )
}

/// `--format html`: the rows as one page, with the timeline of each failing cell's first
/// failing seed. In the simulation those seeds are rerun with their traces (same seed, same
/// trace: the hash is checked against the row's); a container run is not rerun (it would be
/// another real run), its cell gives the replay command instead.
fn html_page(
    reported: &[(&Cell, Row)],
    containers: Option<&Containers>,
    threads: usize,
) -> anyhow::Result<String> {
    let jobs: Vec<Job> = reported
        .iter()
        .filter(|_| containers.is_none())
        .filter_map(|(cell, row)| {
            Some(Job {
                scenario: cell.scenario.clone(),
                strategy: cell.strategy.clone(),
                seed: *row.failing_seeds.first()?,
            })
        })
        .collect();
    let start = std::time::Instant::now();
    let mut traced = execute_with(&jobs, threads, true, &|_| {}).into_iter();
    if !jobs.is_empty() {
        eprintln!(
            "sshrace: html: {} failing seeds rerun for their timelines in {:.1} s",
            jobs.len(),
            start.elapsed().as_secs_f64()
        );
    }
    let mut cells = Vec::with_capacity(reported.len());
    for (cell, row) in reported {
        let seed = row.failing_seeds.first().copied();
        let (timeline, no_timeline) = match (seed, containers) {
            (None, _) => (None, None),
            (Some(_), Some(_)) => (
                None,
                Some(
                    "container runs are real, so a rerun would be another run: replay it"
                        .to_owned(),
                ),
            ),
            (Some(seed), None) => {
                let run = traced
                    .next()
                    .expect("one rerun per failing cell")
                    .with_context(|| {
                        format!("{} with {} seed {seed}", cell.scenario.path, row.strategy)
                    })?;
                let recorded = row.traces.iter().find(|t| t.seed == seed);
                match recorded {
                    Some(t) if t.trace != run.trace_hash => (
                        None,
                        Some(format!(
                            "the rerun gave trace {} where the run gave {} (not deterministic: run with --check-determinism)",
                            run.trace_hash, t.trace
                        )),
                    ),
                    _ => (
                        Timeline::from_run(&run).map(|timeline| (seed, timeline)),
                        None,
                    ),
                }
            }
        };
        cells.push(sshrace_html::Cell {
            row: row.clone(),
            replay: seed.map(|seed| replay_command(cell, seed, containers)),
            timeline,
            no_timeline,
        });
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let page = sshrace_html::Page {
        title: format!("sshrace {}", args.first().map_or("report", String::as_str)),
        command: format!("sshrace {}", args.join(" ")),
        cells,
    };
    Ok(sshrace_html::render(&page))
}

fn replay(
    scenario: &str,
    strategy: &str,
    seed: &str,
    trace_file: Option<&std::path::Path>,
    containers: Option<Containers>,
    openssh: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let seed = plan::parse_seed(seed)?;
    let mut scenario = plan::load_scenario(scenario)?;
    crate::docker::apply_profile(&mut scenario, openssh)?;
    let result = match containers {
        None => {
            let spec = Registry::new().resolve(&scenario, strategy, &Default::default())?;
            eprintln!(
                "sshrace: replay {} strategy {} seed {seed} backend sim tick {} ms",
                scenario.path,
                strategy,
                scenario.sim.tick.as_millis()
            );
            run_one(&scenario, &spec, seed, true)?
        }
        Some(containers) => {
            let scale = containers.scale_for(&scenario)?;
            let spec = Registry::new().resolve(
                &scenario,
                strategy,
                &sshrace_runner::docker::scaled_params(scale),
            )?;
            containers.prepare(&[crate::docker::version_of(&scenario)])?;
            eprintln!(
                "sshrace: replay {} strategy {} seed {seed} backend docker (OpenSSH {}, {} client) time scale 1/{:.0}; real runs are not deterministic: the timeline is this run's",
                scenario.path,
                strategy,
                crate::docker::version_of(&scenario).version(),
                containers.client.name(),
                1.0 / scale
            );
            run_docker(
                &scenario,
                &spec,
                seed,
                &containers.run(&scenario, scale),
                true,
            )?
        }
    };
    if let (Some(path), Some(trace)) = (trace_file, &result.trace) {
        let chrome = ChromeTrace::from_events(&trace.events())
            .with("scenario", scenario.path.clone())
            .with("strategy", strategy)
            .with("seed", seed.to_string())
            .with("trace", result.trace_hash.clone());
        std::fs::write(path, chrome.to_json())
            .with_context(|| format!("writing the trace to {}", path.display()))?;
        eprintln!(
            "sshrace: trace written to {} (open in https://ui.perfetto.dev or chrome://tracing)",
            path.display()
        );
    }
    let mut out = std::io::stdout().lock();
    if let Some(trace) = &result.trace {
        out.write_all(trace.render().as_bytes())?;
    }
    writeln!(out, "\noutcomes:")?;
    for (record, outcome) in &result.operations {
        writeln!(
            out,
            "  op {:>4} {:<16} {}{}",
            record.id,
            record.workload,
            outcome,
            if record.measured {
                ""
            } else {
                " (not measured)"
            }
        )?;
    }
    writeln!(out, "trace {}", result.trace_hash)?;
    Ok(ExitCode::SUCCESS)
}

fn fuzz(scenario: &str, strategy: &str, cases: u32, seed: &str) -> anyhow::Result<ExitCode> {
    let seed = plan::parse_seed(seed)?;
    if cases == 0 {
        anyhow::bail!("--cases 0: nothing to run (give N >= 1)");
    }
    let base = plan::load_scenario(scenario)?;
    let spec = Registry::new().resolve(&base, strategy, &Default::default())?;
    eprintln!(
        "sshrace: fuzz {} strategy {strategy} cases {cases} seed {seed} backend sim tick {} ms",
        base.path,
        base.sim.tick.as_millis()
    );
    let report = sshrace_runner::fuzz(&base, &spec, sshrace_runner::FuzzConfig::new(cases, seed))?;
    eprintln!(
        "sshrace: {} runs in {:.1} s ({:.1} cases/s)",
        report.runs,
        report.elapsed.as_secs_f64(),
        report.runs_per_second()
    );
    let Some(failure) = report.failure else {
        eprintln!("sshrace: no violation in {cases} cases");
        return Ok(ExitCode::SUCCESS);
    };
    let path = format!(
        "scenarios/{}-{strategy}-{}.toml",
        base.name, failure.invariant
    );
    let command = format!(
        "sshrace fuzz {} --strategy {strategy} --cases {cases} --seed {seed}",
        base.path
    );
    let mut out = std::io::stdout().lock();
    out.write_all(failure.scenario_file(&command, strategy, &path).as_bytes())?;
    out.flush()?;
    for violation in &failure.violations {
        eprintln!("violation: {violation}");
    }
    eprintln!(
        "sshrace: {} shrunk to {} events; save stdout as {path}\nreplay: sshrace replay {path} --strategy {strategy} --seed {seed}",
        failure.invariant,
        failure.events.len()
    );
    Ok(ExitCode::from(1))
}
