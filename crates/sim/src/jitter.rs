//! Latency jitter as a function of (seed, link, interval): the latency of a link during an
//! interval never depends on how many messages were sent before, so message order inside russh
//! cannot change the timing of a run.

use std::time::Duration;

/// SplitMix64: a fixed, well-known mixing function.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One-way latency of link `a`-`b` during `interval`: `base` plus a uniform share of `jitter`.
pub(crate) fn latency(
    seed: u64,
    a: &str,
    b: &str,
    interval: u64,
    base: Duration,
    jitter: Duration,
) -> Duration {
    if jitter.is_zero() {
        return base;
    }
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let draw = mix(seed ^ mix(name_hash(first) ^ mix(name_hash(second) ^ mix(interval))));
    let fraction = (draw >> 11) as f64 / (1u64 << 53) as f64;
    base + jitter.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_depends_only_on_seed_link_and_interval() {
        let base = Duration::from_millis(5);
        let jitter = Duration::from_millis(20);
        let a = latency(1, "client", "target", 3, base, jitter);
        assert_eq!(a, latency(1, "target", "client", 3, base, jitter));
        assert!(a >= base && a <= base + jitter);
        let spread: Vec<_> = (0..50)
            .map(|i| latency(1, "client", "target", i, base, jitter))
            .collect();
        assert!(
            spread.iter().any(|l| *l != a),
            "jitter varies across intervals"
        );
    }
}
