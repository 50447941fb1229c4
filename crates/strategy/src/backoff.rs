use std::time::Duration;

use rand::Rng;

/// Capped exponential backoff: `min(cap, base * 2^attempt)` for attempt 0, 1, ...
pub(crate) fn capped(base: Duration, cap: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.min(20)).min(cap)
}

/// "Full jitter": uniform in `[0, capped(base, cap, attempt)]`, drawn from `rng`.
pub(crate) fn full_jitter(
    rng: &mut impl Rng,
    base: Duration,
    cap: Duration,
    attempt: u32,
) -> Duration {
    let ceiling = capped(base, cap, attempt).as_millis() as u64;
    Duration::from_millis(rng.random_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn coolify_delays_are_2_then_4_seconds_capped_at_30() {
        let base = Duration::from_secs(2);
        let cap = Duration::from_secs(30);
        assert_eq!(capped(base, cap, 0), Duration::from_secs(2));
        assert_eq!(capped(base, cap, 1), Duration::from_secs(4));
        assert_eq!(capped(base, cap, 5), Duration::from_secs(30));
    }

    #[test]
    fn full_jitter_stays_below_the_cap() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for attempt in 0..10 {
            let d = full_jitter(
                &mut rng,
                Duration::from_millis(500),
                Duration::from_secs(8),
                attempt,
            );
            assert!(d <= Duration::from_secs(8));
        }
    }
}
