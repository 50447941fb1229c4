//! `sshrace replay`: exactly one run again, its timeline and outcomes.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use sshrace_docker::run_docker;
use sshrace_runner::{ChromeTrace, Registry, run_one};

use crate::docker::Containers;
use crate::plan;

/// Replay `seed` of `strategy` on `scenario`, in the simulation or on `containers`.
pub fn run(
    scenario: &str,
    strategy: Option<&str>,
    seed: &str,
    trace_file: Option<&std::path::Path>,
    containers: Option<Containers>,
    openssh: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let seed = plan::parse_seed(seed)?;
    let mut scenario = plan::load_scenario(scenario)?;
    crate::docker::apply_profile(&mut scenario, openssh)?;
    let strategy = strategy.unwrap_or_default();
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
            let spec = match containers.program.as_deref() {
                Some(command) => sshrace_strategy::StrategySpec::program(
                    &sshrace_driver::display_name(command),
                    command,
                ),
                None => Registry::new().resolve(
                    &scenario,
                    strategy,
                    &sshrace_runner::scaled_params(scale),
                )?,
            };
            let strategy = spec.name().to_owned();
            containers.prepare(&[scenario.profile])?;
            eprintln!(
                "sshrace: replay {} strategy {} seed {seed} backend docker (OpenSSH {}, {} client) time scale 1/{:.0}; real runs are not deterministic: the timeline is this run's",
                scenario.path,
                strategy,
                scenario.profile.version(),
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
            .with("strategy", result.strategy.clone())
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
    out.write_all(result.outcome_lines().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
