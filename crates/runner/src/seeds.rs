//! Seeds, as the command line and a check take them: one seed in decimal or `0x`-hex, a count
//! `N` (seeds `0..N`) or a range `A..B`, and a scenario's regression seeds first. One copy for
//! the CLI and the `sshrace` facade, so both accept and refuse the same text.

use sshrace_core::limits;
use sshrace_scenario::Scenario;

/// One seed, decimal or `0x`/`0X`-hex.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    sshrace_scenario::parse_seed(text).ok_or_else(|| "not a seed (decimal or 0x-hex)".to_owned())
}

/// `N` (seeds `0..N`) or `A..B` (A up to B, exclusive), at most [`limits::SEEDS`] of them,
/// checked before any is made.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let seed = |part: &str| parse_seed(part).map_err(|m| format!("{:?} is {m}", part.trim()));
    let range = match text.split_once("..") {
        Some((from, to)) => {
            let (from, to) = (seed(from)?, seed(to)?);
            if to <= from {
                return Err("the range is empty (write A..B with A < B)".to_owned());
            }
            from..to
        }
        None => {
            let count = seed(text)?;
            if count == 0 {
                return Err("nothing to run (give a count N >= 1 or a range A..B)".to_owned());
            }
            0..count
        }
    };
    let count = range.end - range.start;
    if count > limits::SEEDS {
        return Err(format!(
            "{count} seeds, more than the limit of {} per command",
            limits::SEEDS
        ));
    }
    Ok(range.collect())
}

/// The scenario's regression seeds (`seeds = [...]` in its file) first, then `seeds`, each once,
/// in first-seen order (O(n log n)).
pub fn with_regression_seeds(scenario: &Scenario, seeds: &[u64]) -> Vec<u64> {
    let mut seen = std::collections::BTreeSet::new();
    scenario
        .seeds
        .iter()
        .chain(seeds)
        .copied()
        .filter(|seed| seen.insert(*seed))
        .collect()
}

/// Runs at once when not told: the number of cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_a_count_a_range_or_hex() {
        assert_eq!(parse_seeds("3").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_seeds("5..7").unwrap(), vec![5, 6]);
        assert_eq!(parse_seeds("0x2..0X4").unwrap(), vec![2, 3]);
        assert_eq!(parse_seed(" 0x10 ").unwrap(), 16);
        assert_eq!(parse_seed("0X10").unwrap(), 16);
        assert_eq!(
            parse_seeds("7..5").unwrap_err(),
            "the range is empty (write A..B with A < B)"
        );
        assert!(parse_seeds("0").unwrap_err().starts_with("nothing to run"));
        assert_eq!(
            parse_seeds("x").unwrap_err(),
            "\"x\" is not a seed (decimal or 0x-hex)"
        );
        assert_eq!(
            parse_seed("seven").unwrap_err(),
            "not a seed (decimal or 0x-hex)"
        );
    }

    #[test]
    fn seed_counts_past_the_limit_are_refused_before_expanding() {
        let error = parse_seeds("18446744073709551615").unwrap_err();
        assert!(error.contains("more than the limit of 100000"), "{error}");
        assert!(parse_seeds("0..100000000").is_err());
        assert!(parse_seeds("0..18446744073709551615").is_err());
        assert_eq!(parse_seeds("100000").unwrap().len(), 100_000);
    }

    #[test]
    fn regression_seeds_come_first_each_once_and_fast() {
        let mut scenario = crate::builtin_scenarios()[0].parse().unwrap();
        scenario.seeds = vec![7, 3, 7];
        assert_eq!(
            with_regression_seeds(&scenario, &[3, 1, 2, 1]),
            vec![7, 3, 1, 2]
        );
        let many: Vec<u64> = (0..100_000).rev().collect();
        let started = std::time::Instant::now();
        assert_eq!(with_regression_seeds(&scenario, &many).len(), 100_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
