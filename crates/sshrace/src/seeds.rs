//! Which seeds a check runs: its own range, or what `SSHRACE_SEED` / `SSHRACE_SEEDS` say.

use std::ops::Range;

use sshrace_runner::{Shard, parse_seed, parse_seeds};
use sshrace_scenario::Scenario;

use crate::Error;

/// Replay one seed: run only it, print each run's timeline.
pub(crate) const SEED_VARIABLE: &str = "SSHRACE_SEED";
/// Override the seed range: `A..B`, or `N` for `0..N`.
pub(crate) const SEEDS_VARIABLE: &str = "SSHRACE_SEEDS";
/// Run only this shard of each check's (scenario, seed) pairs: `K/N`, as `sshrace --shard`.
pub(crate) const SHARD_VARIABLE: &str = "SSHRACE_SHARD";
/// Seeds a check runs when it is not told: as `sshrace run --seeds 20`.
pub(crate) const DEFAULT_SEEDS: Range<u64> = 0..20;

/// The seeds of one check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeedPlan {
    /// `SSHRACE_SEED`: this seed only, timelines printed.
    Replay(u64),
    /// Each scenario's regression seeds, then these.
    Range(Vec<u64>),
}

impl SeedPlan {
    /// The plan from the environment, or `configured` when neither variable is set.
    pub(crate) fn from_env(configured: &[u64]) -> Result<SeedPlan, Error> {
        let read = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        SeedPlan::choose(read(SEED_VARIABLE), read(SEEDS_VARIABLE), configured)
    }

    /// `seed` (`SSHRACE_SEED`) wins over `seeds` (`SSHRACE_SEEDS`), which wins over `configured`.
    pub(crate) fn choose(
        seed: Option<String>,
        seeds: Option<String>,
        configured: &[u64],
    ) -> Result<SeedPlan, Error> {
        let plan = if let Some(text) = seed {
            SeedPlan::Replay(parse_seed(&text).map_err(|message| Error::Environment {
                variable: SEED_VARIABLE,
                value: text.clone(),
                message,
            })?)
        } else if let Some(text) = seeds {
            SeedPlan::Range(parse_seeds(&text).map_err(|message| Error::Environment {
                variable: SEEDS_VARIABLE,
                value: text.clone(),
                message,
            })?)
        } else {
            SeedPlan::Range(configured.to_vec())
        };
        if plan == SeedPlan::Range(Vec::new()) {
            return Err(Error::NoSeeds);
        }
        Ok(plan)
    }

    /// Whether this is a replay of one seed.
    pub(crate) fn is_replay(&self) -> bool {
        matches!(self, SeedPlan::Replay(_))
    }

    /// The seeds to run `scenario` on: the replayed seed alone, or the scenario's regression
    /// seeds (`seeds = [...]` in its file) first and then the range, without repeats.
    pub(crate) fn for_scenario(&self, scenario: &Scenario) -> Vec<u64> {
        match self {
            SeedPlan::Replay(seed) => vec![*seed],
            SeedPlan::Range(range) => sshrace_runner::with_regression_seeds(scenario, range),
        }
    }
}

/// `SSHRACE_SHARD`, or the whole when it is not set.
pub(crate) fn shard_from_env() -> Result<Shard, Error> {
    match std::env::var(SHARD_VARIABLE) {
        Ok(text) if !text.trim().is_empty() => {
            Shard::parse(&text).map_err(|message| Error::Environment {
                variable: SHARD_VARIABLE,
                value: text.clone(),
                message,
            })
        }
        _ => Ok(Shard::ALL),
    }
}

/// Keep `shard`'s part of each scenario's seeds. The unit is a (scenario, seed) pair, counted
/// scenario by scenario, so every strategy of a check runs a seed in the same shard (the
/// paired comparison of [`Report::assert_not_worse_than`](crate::Report::assert_not_worse_than)
/// needs both runs of a seed) and a scenario's seeds are spread over all shards.
pub(crate) fn shard_seeds(per_scenario: &mut [Vec<u64>], shard: Shard) {
    let mut unit = 0usize;
    for seeds in per_scenario {
        seeds.retain(|_| {
            let mine = shard.contains(unit);
            unit += 1;
            mine
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(seed: Option<&str>, seeds: Option<&str>) -> Result<SeedPlan, Error> {
        SeedPlan::choose(
            seed.map(str::to_owned),
            seeds.map(str::to_owned),
            &[0, 1, 2],
        )
    }

    #[test]
    fn configured_seeds_run_when_no_variable_is_set() {
        assert_eq!(choose(None, None).unwrap(), SeedPlan::Range(vec![0, 1, 2]));
    }

    #[test]
    fn sshrace_seed_replays_one_seed_in_decimal_or_hex() {
        assert_eq!(choose(Some("7"), None).unwrap(), SeedPlan::Replay(7));
        assert_eq!(
            choose(Some("0x10"), Some("0..5")).unwrap(),
            SeedPlan::Replay(16)
        );
    }

    #[test]
    fn sshrace_seeds_overrides_the_range() {
        assert_eq!(
            choose(None, Some("5..8")).unwrap(),
            SeedPlan::Range(vec![5, 6, 7])
        );
        assert_eq!(
            choose(None, Some("2")).unwrap(),
            SeedPlan::Range(vec![0, 1])
        );
    }

    #[test]
    fn bad_variables_name_the_variable_and_value() {
        let error = choose(Some("seven"), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "SSHRACE_SEED=\"seven\": not a seed (decimal or 0x-hex)"
        );
        assert!(
            choose(None, Some("8..5"))
                .unwrap_err()
                .to_string()
                .starts_with("SSHRACE_SEEDS=\"8..5\": the range is empty")
        );
    }

    #[test]
    fn an_empty_configured_range_is_an_error() {
        let error = SeedPlan::choose(None, None, &[]).unwrap_err();
        assert!(matches!(error, Error::NoSeeds));
    }

    #[test]
    fn a_shard_keeps_every_nth_scenario_seed_pair() {
        let mut seeds = vec![vec![0, 1, 2, 3], vec![10, 11, 12]];
        let mut all = Vec::new();
        for k in 1..=3 {
            let mut part = seeds.clone();
            shard_seeds(&mut part, Shard::new(k, 3).unwrap());
            all.push(part);
        }
        assert_eq!(all[0], vec![vec![0, 3], vec![12]]);
        assert_eq!(all[1], vec![vec![1], vec![10]]);
        assert_eq!(all[2], vec![vec![2], vec![11]]);
        shard_seeds(&mut seeds, Shard::ALL);
        assert_eq!(seeds, vec![vec![0, 1, 2, 3], vec![10, 11, 12]]);
    }

    #[test]
    fn regression_seeds_run_first_without_repeats() {
        let mut scenario = crate::builtin::named("agent-flap");
        scenario.seeds = vec![9, 1];
        let plan = SeedPlan::Range(vec![0, 1, 2]);
        assert_eq!(plan.for_scenario(&scenario), vec![9, 1, 0, 2]);
        assert_eq!(SeedPlan::Replay(4).for_scenario(&scenario), vec![4]);
    }
}
