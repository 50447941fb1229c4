//! `sshrace matrix`: every scenario of the matrix with its own strategies.

use std::process::ExitCode;

use anyhow::Context as _;
use sshrace_runner::Registry;

use crate::cli::Common;
use crate::docker::Containers;
use crate::plan::{self, Cell};

/// Run the matrix: the built-ins, or the scenario files in `dir`.
pub fn run(dir: Option<&std::path::Path>, common: &Common) -> anyhow::Result<ExitCode> {
    let seeds = plan::parse_seeds(&common.seeds)?;
    let containers = Containers::from_args(&common.backend)?;
    let cells = cells(
        dir,
        &seeds,
        containers.as_ref(),
        common.backend.openssh.as_deref(),
    )?;
    crate::report::report_cells(cells, common, containers.as_ref())
}

/// Every scenario of the matrix (built-ins, or the files in `dir`) with its own strategies. On
/// containers, scenarios they cannot run are left out and listed on stderr with the reason.
pub fn cells(
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
        let mut mine = plan::cells(scenario, &[], seeds, None, time_scale)?;
        if let Some(command) = containers.and_then(|c| c.program.as_deref()) {
            plan::add_program(&mut mine, command, false, None);
        }
        cells.extend(mine);
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
