//! `sshrace sweep`: argument handling and printing; the sweep itself is the runner's.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use sshrace_runner::report::render_sweep;
use sshrace_runner::{
    Job, Registry, ResultCell, ResultRun, RunSummary, Shard, SweepHeader, SweepPlan, execute,
    measure_only, parse_values, sweep_svg,
};

use crate::cli::FormatArg;
use crate::plan;

/// What `sshrace sweep` was given.
pub struct SweepArgs {
    pub scenario: String,
    pub strategies: Vec<String>,
    pub param: String,
    pub measure: Vec<String>,
    pub seeds: String,
    pub format: FormatArg,
    pub plot: PathBuf,
    pub threads: usize,
    pub shard: Shard,
    pub out: Option<PathBuf>,
}

pub fn run(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let Some(format) = args.format.rows() else {
        anyhow::bail!(
            "--format html is for run and matrix; a sweep draws its chart with --plot (SVG)"
        );
    };
    let (name, values) = args.param.split_once('=').ok_or_else(|| {
        anyhow!(
            "--param {}: write NAME=FROM..TO:STEP or NAME=V1,V2,...",
            args.param
        )
    })?;
    let values =
        parse_values(values).map_err(|reason| anyhow!("--param {}: {reason}", args.param))?;
    if !args.shard.is_all() && args.out.is_none() {
        anyhow::bail!(
            "--shard {} needs --out FILE: a shard of a sweep prints nothing, `sshrace merge` prints the sweep from every shard's file",
            args.shard
        );
    }
    let seeds = plan::parse_seeds(&args.seeds)?;
    let mut scenario = plan::load_scenario(&args.scenario)?;
    measure_only(&mut scenario, &args.measure)?;
    let strategies = if args.strategies.is_empty() {
        scenario.strategies.clone()
    } else {
        args.strategies.clone()
    };
    sshrace_runner::admit(
        &scenario,
        (values.len() * strategies.len() * seeds.len()) as u64,
    )?;
    let sweep_plan = SweepPlan::new(
        &Registry::new(),
        &scenario,
        &strategies,
        name,
        &values,
        &seeds,
    )
    .with_context(|| format!("scenario {}", scenario.path))?;
    let all_jobs = sweep_plan.jobs();
    let jobs = all_jobs.len();
    eprintln!(
        "sshrace: sweep {} {name} over {} values x {} strategies x {} seeds = {jobs} runs, backend sim, {} threads",
        scenario.path,
        values.len(),
        strategies.len(),
        seeds.len(),
        args.threads
    );
    let header = args
        .out
        .as_ref()
        .map(|_| header(&scenario, &sweep_plan, &strategies, &values));
    let start = std::time::Instant::now();
    // The runs this command makes: every job, or its shard's (never dependent on --jobs).
    let mine: Vec<usize> = (0..jobs).filter(|i| args.shard.contains(*i)).collect();
    if !args.shard.is_all() {
        eprintln!(
            "sshrace: shard {}: {} of {jobs} runs",
            args.shard,
            mine.len()
        );
    }
    let my_jobs: Vec<Job> = mine.iter().map(|i| all_jobs[*i].clone()).collect();
    let bar = crate::progress::bar(my_jobs.len(), args.format == FormatArg::Table);
    let results = execute(&my_jobs, args.threads, &|done| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    if let (Some(path), Some(header)) = (&args.out, header) {
        // With a run that failed to run there is no results file; the error below says why.
        let runs: Option<Vec<ResultRun>> = mine
            .iter()
            .zip(&results)
            .map(|(index, result)| {
                Some(ResultRun {
                    job: *index as u64,
                    cell: (*index / seeds.len()) as u32,
                    summary: RunSummary::of(result.as_ref().ok()?),
                })
            })
            .collect();
        if let Some(runs) = runs {
            crate::merge::write(path, &header.results(args.shard, jobs, runs, Vec::new()))?;
        }
    }
    if !args.shard.is_all() {
        // A shard prints no table and no chart: `sshrace merge` does, from every shard's file.
        for result in results {
            result.with_context(|| format!("scenario {}", scenario.path))?;
        }
        eprintln!(
            "sshrace: {} runs in {:.1} s",
            my_jobs.len(),
            start.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let sweep = sweep_plan
        .collect(results)
        .with_context(|| format!("scenario {}", scenario.path))?;
    let svg = sweep_svg(&sweep)?;
    std::fs::write(&args.plot, svg)
        .with_context(|| format!("writing the plot to {}", args.plot.display()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(render_sweep(&sweep, format).as_bytes())?;
    out.flush()?;
    eprintln!(
        "sshrace: {jobs} runs in {:.1} s; plot written to {}",
        start.elapsed().as_secs_f64(),
        args.plot.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What a sweep's results file says of the whole sweep: a cell per (value, strategy), value by
/// value, and a digest of the scenario (as measured), the parameter, values, strategies and
/// seeds.
fn header(
    scenario: &sshrace_scenario::Scenario,
    plan: &SweepPlan,
    strategies: &[String],
    values: &[f64],
) -> crate::merge::Header {
    let mut cells = Vec::new();
    let mut parts = vec![
        scenario.path.clone(),
        scenario.to_toml(),
        plan.parameter.clone(),
        format!("{values:?}"),
        format!("{:?}", plan.seeds),
    ];
    for (_, per_strategy) in &plan.points {
        for (name, jobs) in strategies.iter().zip(per_strategy) {
            let strategy = jobs
                .first()
                .map_or(name.clone(), |job| job.strategy.name().to_owned());
            parts.push(
                jobs.first()
                    .map(|job| format!("{:?}", job.strategy))
                    .unwrap_or_default(),
            );
            cells.push(ResultCell {
                scenario: scenario.name.clone(),
                strategy,
                path: scenario.path.clone(),
                max_failure_rate: None,
                seeds: plan.seeds.len() as u64,
                replay_flags: String::new(),
                client_cmd: None,
            });
        }
    }
    crate::merge::Header {
        cells,
        plan: sshrace_runner::plan_digest(parts.iter().map(String::as_str)),
        sweep: Some(SweepHeader {
            scenario: scenario.name.clone(),
            parameter: plan.parameter.clone(),
            values: values.to_vec(),
            seeds: plan.seeds.clone(),
            measured: plan.measured.clone(),
        }),
    }
}
