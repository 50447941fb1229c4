//! `sshrace run`: one scenario against strategies over seeds.

use std::process::ExitCode;

use crate::cli::Common;
use crate::docker::Containers;
use crate::plan;

/// Run `scenario` (a file or a built-in's name) with `strategies` (its own list when empty).
pub fn run(
    scenario: &str,
    strategies: &[String],
    common: &Common,
    max_failure_rate: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let seeds = plan::parse_seeds(&common.seeds)?;
    let mut scenario = plan::load_scenario(scenario)?;
    crate::docker::apply_profile(&mut scenario, common.backend.openssh.as_deref())?;
    let containers = Containers::from_args(&common.backend)?;
    let time_scale = match &containers {
        Some(containers) => Some(containers.scale_for(&scenario)?),
        None => None,
    };
    let mut cells = plan::cells(scenario, strategies, &seeds, max_failure_rate, time_scale)?;
    if let Some(command) = containers.as_ref().and_then(|c| c.program.as_deref()) {
        plan::add_program(&mut cells, command, strategies.is_empty(), max_failure_rate);
    }
    crate::report::report_cells(cells, common, containers.as_ref())
}
