//! `sshrace sweep`: argument handling and printing; the sweep itself is the runner's.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use sshrace_runner::report::render_sweep;
use sshrace_runner::{Registry, SweepPlan, measure_only, parse_values, sweep_svg};

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
    let jobs = sweep_plan.jobs().len();
    eprintln!(
        "sshrace: sweep {} {name} over {} values x {} strategies x {} seeds = {jobs} runs, backend sim, {} threads",
        scenario.path,
        values.len(),
        strategies.len(),
        seeds.len(),
        args.threads
    );
    let start = std::time::Instant::now();
    let bar = crate::progress::bar(jobs, args.format == FormatArg::Table);
    let sweep = sweep_plan.run(args.threads, &|done| bar.set_position(done as u64));
    bar.finish_and_clear();
    let sweep = sweep.with_context(|| format!("scenario {}", scenario.path))?;
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
