//! `sshrace fuzz`: generated fault timelines over a base scenario, a violation shrunk.

use std::io::Write as _;
use std::process::ExitCode;

use sshrace_runner::Registry;

use crate::plan;

/// Fuzz `strategy` over `scenario` with `cases` generated timelines from `seed`.
pub fn run(scenario: &str, strategy: &str, cases: u32, seed: &str) -> anyhow::Result<ExitCode> {
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
