//! Paired comparison of two strategies on the same seeds.

use serde::Serialize;

/// How a strategy's failure rate differs from a baseline's in one scenario, paired by seed:
/// both ran the same seeds, so both saw the same operations and faults, and each seed gives
/// one difference in failure counts. The 95% confidence interval is Student's t on those
/// per-seed differences, scaled by the operations per seed.
///
/// Rates are fractions (`0.05` is 5 percentage points); positive means the strategy failed
/// more often than the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Scenario name.
    pub scenario: String,
    /// The strategy under test.
    pub strategy: String,
    /// The strategy it is compared with.
    pub baseline: String,
    /// Seeds paired.
    pub seeds: u64,
    /// The strategy's failure rate over all seeds.
    pub failure_rate: f64,
    /// The baseline's failure rate over all seeds.
    pub baseline_failure_rate: f64,
    /// `failure_rate - baseline_failure_rate`: the mean per-seed difference in failures over the
    /// mean operations per seed.
    pub difference: f64,
    /// Lower end of the 95% confidence interval of `difference`.
    pub ci_low: f64,
    /// Upper end of the 95% confidence interval of `difference`.
    pub ci_high: f64,
    /// Seeds on which the strategy failed more operations than the baseline, most extra
    /// failures first (ties in run order).
    pub worse_seeds: Vec<u64>,
}

impl Difference {
    /// Pair per-seed `(seed, operations, failures, baseline_failures)`.
    pub(crate) fn paired(
        scenario: &str,
        strategy: &str,
        baseline: &str,
        per_seed: &[(u64, u64, u64, u64)],
    ) -> Difference {
        let n = per_seed.len();
        let operations: u64 = per_seed.iter().map(|s| s.1).sum();
        let failures: u64 = per_seed.iter().map(|s| s.2).sum();
        let baseline_failures: u64 = per_seed.iter().map(|s| s.3).sum();
        let rate = |f: u64| {
            if operations == 0 {
                0.0
            } else {
                f as f64 / operations as f64
            }
        };
        let differences: Vec<f64> = per_seed.iter().map(|s| s.2 as f64 - s.3 as f64).collect();
        let mean_operations = operations as f64 / n.max(1) as f64;
        let (mean, half) = mean_and_half_width(&differences);
        let scale = |x: f64| {
            if mean_operations == 0.0 {
                0.0
            } else {
                x / mean_operations
            }
        };
        let mut worse: Vec<(u64, u64)> = per_seed
            .iter()
            .filter(|s| s.2 > s.3)
            .map(|s| (s.0, s.2 - s.3))
            .collect();
        worse.sort_by_key(|(_, extra)| std::cmp::Reverse(*extra));
        Difference {
            scenario: scenario.to_owned(),
            strategy: strategy.to_owned(),
            baseline: baseline.to_owned(),
            seeds: n as u64,
            failure_rate: rate(failures),
            baseline_failure_rate: rate(baseline_failures),
            difference: scale(mean),
            ci_low: scale(mean - half),
            ci_high: scale(mean + half),
            worse_seeds: worse.into_iter().map(|(seed, _)| seed).collect(),
        }
    }

    /// Whether the strategy is worse with significance: the whole confidence interval lies
    /// above zero.
    pub fn is_worse(&self) -> bool {
        self.ci_low > 0.0
    }

    /// One line for people: `deploy-age-recycle: mine 5.3% vs pool 0.0%: +5.3 points (95% CI
    /// +2.1 to +8.5, 20 seeds paired)`.
    pub fn summary(&self) -> String {
        let points = |x: f64| {
            if x.is_finite() {
                format!("{:+.1}", x * 100.0)
            } else if x > 0.0 {
                "+inf".to_owned()
            } else {
                "-inf".to_owned()
            }
        };
        format!(
            "{}: {} {:.1}% vs {} {:.1}%: {} points (95% CI {} to {}, {} seeds paired)",
            self.scenario,
            self.strategy,
            self.failure_rate * 100.0,
            self.baseline,
            self.baseline_failure_rate * 100.0,
            points(self.difference),
            points(self.ci_low),
            points(self.ci_high),
            self.seeds
        )
    }
}

/// Mean of `values` and the half width of its 95% Student's t interval (infinite for fewer
/// than two values).
fn mean_and_half_width(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (0.0, f64::INFINITY);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::INFINITY);
    }
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_975(n - 1) * (variance / n as f64).sqrt())
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom: a table up to 30, then the
/// Cornish-Fisher expansion around the normal quantile (within 0.001 of the exact value).
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    assert!(df >= 1, "t needs at least one degree of freedom");
    if let Some(t) = TABLE.get(df - 1) {
        return *t;
    }
    let z = 1.959_963_984_540_054_f64;
    let df = df as f64;
    z + (z.powi(3) + z) / (4.0 * df)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * df * df)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantile_joins_the_table_smoothly_and_tends_to_normal() {
        assert!((t_975(30) - 2.042).abs() < 0.001);
        assert!((t_975(31) - 2.040).abs() < 0.001);
        assert!((t_975(60) - 2.000).abs() < 0.001);
        assert!((t_975(120) - 1.980).abs() < 0.001);
        assert!((t_975(100_000) - 1.960).abs() < 0.001);
    }

    #[test]
    fn equal_strategies_are_not_worse() {
        let per_seed: Vec<_> = (0..10).map(|s| (s, 10, s % 3, s % 3)).collect();
        let d = Difference::paired("race", "a", "b", &per_seed);
        assert_eq!((d.difference, d.ci_low, d.ci_high), (0.0, 0.0, 0.0));
        assert!(!d.is_worse());
        assert!(d.worse_seeds.is_empty());
    }

    #[test]
    fn consistently_more_failures_is_worse_with_significance() {
        let per_seed: Vec<_> = (0..10).map(|s| (s, 10, 2 + s % 2, 0)).collect();
        let d = Difference::paired("race", "a", "b", &per_seed);
        assert!((d.difference - 0.25).abs() < 1e-9);
        assert!(d.ci_low > 0.0 && d.ci_low < 0.25 && d.ci_high > 0.25);
        assert!(d.is_worse());
        assert_eq!(d.worse_seeds[..2], [1, 3]);
    }

    #[test]
    fn one_unlucky_seed_is_not_significant() {
        let per_seed: Vec<_> = (0..10).map(|s| (s, 10, u64::from(s == 4), 0)).collect();
        let d = Difference::paired("race", "a", "b", &per_seed);
        assert!(d.difference > 0.0 && d.ci_low < 0.0);
        assert!(!d.is_worse());
        assert_eq!(d.worse_seeds, vec![4]);
    }

    #[test]
    fn a_single_seed_has_an_unbounded_interval() {
        let d = Difference::paired("race", "a", "b", &[(0, 10, 5, 0)]);
        assert!(!d.is_worse());
        assert_eq!(
            d.summary(),
            "race: a 50.0% vs b 0.0%: +50.0 points (95% CI -inf to +inf, 1 seeds paired)"
        );
    }
}
