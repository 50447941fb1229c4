//! What will run: scenarios loaded and checked, strategies resolved, seeds expanded, before
//! anything runs (nothing half-runs on bad input).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use sshrace_core::{StrategyParams, limits};
use sshrace_runner::{Registry, Shard};
use sshrace_scenario::Scenario;

pub use sshrace_runner::{Cell, jobs};

/// What `--shard` kept of a command's cells.
pub struct Sharded {
    /// The shard.
    pub shard: Shard,
    /// Runs of the unsharded command.
    pub total: usize,
    /// Per cell, seed -> its job index in the unsharded job list (the seeds this shard kept).
    pub job_of: Vec<BTreeMap<u64, u64>>,
}

/// Keep in `cells` only the seeds whose jobs are in `shard` (a cell may keep none). Which
/// those are depends only on the unsharded job list, never on threads.
pub fn shard(cells: &mut [Cell], shard: Shard) -> Sharded {
    let mut job = 0usize;
    let mut job_of = Vec::with_capacity(cells.len());
    for cell in cells.iter_mut() {
        let mut kept = BTreeMap::new();
        cell.seeds.retain(|seed| {
            let mine = shard.contains(job);
            if mine {
                kept.insert(*seed, job as u64);
            }
            job += 1;
            mine
        });
        job_of.push(kept);
    }
    Sharded {
        shard,
        total: job,
        job_of,
    }
}

/// Add a cell for the user's client program `command` beside `cells` (one scenario's), with its
/// seeds and time scale; `alone` removes the others.
pub fn add_program(
    cells: &mut Vec<Cell>,
    command: &str,
    alone: bool,
    max_failure_rate: Option<f64>,
) {
    let Some(first) = cells.first().cloned() else {
        return;
    };
    if alone {
        cells.clear();
    }
    cells.push(Cell {
        strategy: sshrace_strategy::StrategySpec::program(
            &sshrace_driver::display_name(command),
            command,
        ),
        max_failure_rate,
        ..first
    });
}

/// Load a scenario from a file path, or a built-in by name.
pub fn load_scenario(name: &str) -> anyhow::Result<Scenario> {
    let path = Path::new(name);
    let scenario = if path.exists() {
        Scenario::load(path)?
    } else if let Some(builtin) = sshrace_runner::builtin_scenarios()
        .iter()
        .find(|b| b.name == name)
    {
        builtin.parse()?
    } else {
        bail!(
            "no scenario file or built-in scenario named {name:?} (`sshrace list` shows the built-ins)"
        );
    };
    Registry::new().check(&scenario)?;
    Ok(scenario)
}

/// Parse `--seeds`: `N` means `0..N`, `A..B` means A up to B (exclusive).
pub fn parse_seeds(text: &str) -> anyhow::Result<Vec<u64>> {
    sshrace_runner::parse_seeds(text).map_err(|message| anyhow!("--seeds {text}: {message}"))
}

/// A seed in decimal or 0x-hex.
pub fn parse_seed(text: &str) -> anyhow::Result<u64> {
    sshrace_runner::parse_seed(text).map_err(|message| anyhow!("{:?} is {message}", text.trim()))
}

/// Cells for `scenario` with `strategies` (its own list when empty).
pub fn cells(
    scenario: Scenario,
    strategies: &[String],
    seeds: &[u64],
    max_failure_rate: Option<f64>,
    time_scale: Option<f64>,
) -> anyhow::Result<Vec<Cell>> {
    let overrides = match time_scale {
        Some(scale) => sshrace_runner::scaled_params(scale),
        None => StrategyParams::default(),
    };
    let registry = Registry::new();
    let names: Vec<String> = if strategies.is_empty() {
        scenario.strategies.clone()
    } else {
        strategies.to_vec()
    };
    let seeds = sshrace_runner::with_regression_seeds(&scenario, seeds);
    if seeds.len() as u64 > limits::SEEDS {
        bail!(
            "{}: seeds: {} seeds with the scenario's regression seeds, more than the limit of {} per command",
            scenario.path,
            seeds.len(),
            limits::SEEDS
        );
    }
    sshrace_runner::admit(&scenario, seeds.len() as u64 * names.len() as u64)?;
    let scenario = Arc::new(scenario);
    names
        .iter()
        .map(|name| {
            let strategy = registry
                .resolve(&scenario, name, &overrides)
                .with_context(|| format!("scenario {}", scenario.path))?;
            let expected = scenario.max_failure_rate(name);
            Ok(Cell {
                scenario: scenario.clone(),
                strategy,
                seeds: seeds.clone(),
                max_failure_rate: match (expected, max_failure_rate) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                time_scale,
            })
        })
        .collect()
}
