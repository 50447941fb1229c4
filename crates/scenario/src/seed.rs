//! Independent random streams for each part of a scenario, derived from the run's seed.
//!
//! Every workload item and every timeline entry draws from its own [`ChaCha8Rng`], seeded by
//! mixing the run seed with the part's stream and index. Adding, removing or changing one part
//! leaves every other part's draws as they were. The mixing is part of the plan format: changing
//! it changes every plan.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Which part of a scenario a random stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// A workload item's arrival times (periodic jitter, Poisson gaps).
    Arrivals,
    /// A workload item's command draws (duration jitter, failures).
    Commands,
    /// A timeline entry's time drawn from `at_range_ms`.
    Timeline,
}

impl Stream {
    fn tag(self) -> u64 {
        match self {
            Stream::Arrivals => 0x6172_7269_7661_6c73, // "arrivals"
            Stream::Commands => 0x636f_6d6d_616e_6473, // "commands"
            Stream::Timeline => 0x7469_6d65_6c69_6e65, // "timeline"
        }
    }
}

/// SplitMix64's output function: a bijective, well-spread mix of `x`.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random stream of part `index` of kind `stream` for run `seed`.
pub(crate) fn child_rng(seed: u64, stream: Stream, index: usize) -> ChaCha8Rng {
    let mixed = splitmix64(splitmix64(seed ^ stream.tag()) ^ index as u64);
    ChaCha8Rng::seed_from_u64(mixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_differ_by_seed_kind_and_index_and_repeat_for_the_same_ones() {
        let first = |seed, stream, index| child_rng(seed, stream, index).random::<u64>();
        assert_eq!(first(1, Stream::Arrivals, 0), first(1, Stream::Arrivals, 0));
        assert_ne!(first(1, Stream::Arrivals, 0), first(2, Stream::Arrivals, 0));
        assert_ne!(first(1, Stream::Arrivals, 0), first(1, Stream::Commands, 0));
        assert_ne!(first(1, Stream::Arrivals, 0), first(1, Stream::Arrivals, 1));
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The reference SplitMix64 generator seeded with 0 yields these first outputs; each is
        // splitmix64 of the state after k increments.
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
    }
}
