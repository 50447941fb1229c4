//! What will run: scenarios loaded and checked, strategies resolved, seeds expanded, before
//! anything runs (nothing half-runs on bad input).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use sshrace_core::{StrategyParams, limits};
use sshrace_runner::{Job, Registry, Shard};
use sshrace_scenario::Scenario;
use sshrace_strategy::StrategySpec;

/// One (scenario, strategy) cell and the seeds to run it on.
pub struct Cell {
    pub scenario: Arc<Scenario>,
    pub strategy: StrategySpec,
    pub seeds: Vec<u64>,
    pub max_failure_rate: Option<f64>,
    /// Real seconds per scenario second on containers (`None`: the simulation).
    pub time_scale: Option<f64>,
}

/// Every (scenario, strategy, seed) run of `cells`, cell by cell, in seed order.
pub fn jobs(cells: &[Cell]) -> Vec<Job> {
    cells
        .iter()
        .flat_map(|cell| {
            cell.seeds.iter().map(|seed| Job {
                scenario: cell.scenario.clone(),
                strategy: cell.strategy.clone(),
                seed: *seed,
            })
        })
        .collect()
}

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
    let range = if let Some((from, to)) = text.split_once("..") {
        let from = parse_seed(from).with_context(|| format!("--seeds {text}"))?;
        let to = parse_seed(to).with_context(|| format!("--seeds {text}"))?;
        if to <= from {
            bail!("--seeds {text}: the range is empty (write A..B with A < B)");
        }
        from..to
    } else {
        let count = parse_seed(text).with_context(|| format!("--seeds {text}"))?;
        if count == 0 {
            bail!("--seeds 0: nothing to run (give a count N >= 1 or a range A..B)");
        }
        0..count
    };
    let count = range.end - range.start;
    if count > limits::SEEDS {
        bail!(
            "--seeds {text}: {count} seeds, more than the limit of {} per command",
            limits::SEEDS
        );
    }
    Ok(range.collect())
}

/// A seed in decimal or 0x-hex.
pub fn parse_seed(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.with_context(|| format!("{text:?} is not a seed (decimal or 0x-hex)"))
}

/// The scenario's regression seeds first, then `seeds`, without repeats (O(n log n)).
pub fn seeds_for(scenario: &Scenario, seeds: &[u64]) -> Vec<u64> {
    let mut seen = std::collections::BTreeSet::new();
    scenario
        .seeds
        .iter()
        .chain(seeds)
        .copied()
        .filter(|seed| seen.insert(*seed))
        .collect()
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
        Some(scale) => sshrace_runner::docker::scaled_params(scale),
        None => StrategyParams::default(),
    };
    let registry = Registry::new();
    let names: Vec<String> = if strategies.is_empty() {
        scenario.strategies.clone()
    } else {
        strategies.to_vec()
    };
    let seeds = seeds_for(&scenario, seeds);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_accept_a_count_a_range_and_hex() {
        assert_eq!(parse_seeds("3").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_seeds("5..7").unwrap(), vec![5, 6]);
        assert_eq!(parse_seed("0x10").unwrap(), 16);
        assert!(parse_seeds("7..5").is_err());
        assert!(parse_seeds("0").is_err());
        assert!(parse_seeds("x").is_err());
    }

    #[test]
    fn seed_counts_past_the_limit_are_refused_before_expanding() {
        let error = parse_seeds("18446744073709551615").unwrap_err().to_string();
        assert!(error.contains("more than the limit of 100000"), "{error}");
        assert!(parse_seeds("0..100000000").is_err());
        assert!(parse_seeds("0..18446744073709551615").is_err());
        assert_eq!(parse_seeds("100000").unwrap().len(), 100_000);
    }

    #[test]
    fn seed_de_duplication_keeps_first_order_and_is_fast() {
        let mut scenario = sshrace_runner::builtin_scenarios()[0].parse().unwrap();
        scenario.seeds = vec![7, 3, 7];
        assert_eq!(seeds_for(&scenario, &[3, 1, 2, 1]), vec![7, 3, 1, 2]);
        let many: Vec<u64> = (0..100_000).rev().collect();
        let started = std::time::Instant::now();
        assert_eq!(seeds_for(&scenario, &many).len(), 100_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
