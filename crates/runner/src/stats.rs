#[cfg(feature = "stats")]
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, StudentsT};

/// Wilson score interval at 95% for `successes` out of `trials`; `(0, 1)` for no trials.
pub fn wilson(successes: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = trials as f64;
    let p = successes as f64 / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * ((p * (1.0 - p) + z * z / (4.0 * n)) / n).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The `q` quantile (0..=1) of `values` by nearest rank; `None` when empty.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// A paired t-test of per-pair differences against a mean of zero, two-sided.
#[cfg(feature = "stats")]
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PairedT {
    /// Pairs.
    pub pairs: usize,
    /// Mean difference.
    pub mean: f64,
    /// Lower end of the 95% confidence interval of the mean difference.
    pub ci_low: f64,
    /// Upper end of the 95% confidence interval of the mean difference.
    pub ci_high: f64,
    /// The t statistic; `None` when every difference is the same (no spread: t is undefined).
    pub t: Option<f64>,
    /// Degrees of freedom, `pairs - 1`.
    pub degrees_of_freedom: usize,
    /// Two-sided p-value from Student's t distribution; `None` without spread.
    pub p_value: Option<f64>,
}

/// Paired t-test of `differences` (at least two). When they are all equal there is no spread:
/// the interval is that value and the test is undefined (`t` and `p_value` are `None`).
#[cfg(feature = "stats")]
pub fn paired_t(differences: &[f64]) -> Option<PairedT> {
    let n = differences.len();
    if n < 2 {
        return None;
    }
    let mean = differences.iter().sum::<f64>() / n as f64;
    let variance = differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let standard_error = (variance / n as f64).sqrt();
    let degrees_of_freedom = n - 1;
    let distribution =
        StudentsT::new(0.0, 1.0, degrees_of_freedom as f64).expect("freedom is at least 1");
    let (t, p_value, half) = if standard_error <= f64::EPSILON * mean.abs().max(1.0) {
        (None, None, 0.0)
    } else {
        let t = mean / standard_error;
        let p = 2.0 * (1.0 - distribution.cdf(t.abs()));
        (
            Some(t),
            Some(p.clamp(0.0, 1.0)),
            distribution.inverse_cdf(0.975) * standard_error,
        )
    };
    Some(PairedT {
        pairs: n,
        mean,
        ci_low: mean - half,
        ci_high: mean + half,
        t,
        degrees_of_freedom,
        p_value,
    })
}

/// Exact two-sided sign test: `above` pairs moved one way, `below` the other (ties left out).
/// The p-value of a split at least this lopsided if either way were equally likely; 1 for none.
#[cfg(feature = "stats")]
pub fn sign_test(above: u64, below: u64) -> f64 {
    let n = above + below;
    if n == 0 {
        return 1.0;
    }
    let binomial = Binomial::new(0.5, n).expect("p in [0, 1]");
    (2.0 * binomial.cdf(above.min(below))).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_brackets_the_observed_rate() {
        let (low, high) = wilson(30, 100);
        assert!(low < 0.3 && 0.3 < high);
        assert!((low - 0.219).abs() < 0.01 && (high - 0.396).abs() < 0.01);
        assert_eq!(wilson(0, 0), (0.0, 1.0));
        assert_eq!(wilson(0, 10).0, 0.0);
    }

    #[test]
    fn percentile_by_nearest_rank() {
        let values = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&values, 0.5), Some(3.0));
        assert_eq!(percentile(&values, 0.99), Some(5.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[cfg(feature = "stats")]
    #[test]
    fn paired_t_matches_a_worked_example() {
        // Differences 1..=5: mean 3, sd sqrt(2.5), se 0.7071, t 4.243 on 4 df, p 0.0132.
        let test = paired_t(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!((test.t.unwrap() - 4.2426).abs() < 1e-3, "{test:?}");
        assert!((test.p_value.unwrap() - 0.0132).abs() < 1e-3, "{test:?}");
        // t(0.975, 4) = 2.776: 3 -/+ 1.963.
        assert!((test.ci_low - 1.0368).abs() < 1e-3 && (test.ci_high - 4.9632).abs() < 1e-3);
        assert_eq!(test.degrees_of_freedom, 4);
    }

    #[cfg(feature = "stats")]
    #[test]
    fn paired_t_without_spread_is_undefined() {
        let flat = paired_t(&[0.2, 0.2]).unwrap();
        assert_eq!((flat.t, flat.p_value), (None, None));
        assert_eq!((flat.ci_low, flat.mean, flat.ci_high), (0.2, 0.2, 0.2));
        assert!(paired_t(&[0.5]).is_none());
    }

    #[cfg(feature = "stats")]
    #[test]
    fn sign_test_is_exact() {
        // 8 of 8 one way: 2 * 0.5^8.
        assert!((sign_test(8, 0) - 2.0 / 256.0).abs() < 1e-12);
        assert_eq!(sign_test(0, 0), 1.0);
        assert_eq!(sign_test(3, 3), 1.0);
    }
}
