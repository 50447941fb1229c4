//! Splitting a command's runs over machines: shard K of N runs every job whose index in the
//! unsharded job list is K-1 modulo N.
//!
//! Jobs are listed cell by cell and, inside a cell, seed by seed, so consecutive seeds of one
//! cell land in consecutive shards: an expensive cell is spread over every shard instead of
//! landing in one, and the shards' costs differ by at most one run per cell. Which shard a job
//! lands in depends only on its index, never on the thread count or the machine.

use std::fmt;

use sshrace_core::limits;

/// Shard `index` of `count` (both 1-based in text: `2/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The whole: shard 1 of 1.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Shard `index` (1-based) of `count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || count as u64 > limits::SHARDS {
            return Err(format!(
                "{index}/{count}: the shard count must be 1 to {}",
                limits::SHARDS
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "{index}/{count}: the shard number must be 1 to {count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parse `K/N` (what `--shard` and `SSHRACE_SHARD` take).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a shard: write K/N, e.g. 2/8"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("{text:?} is not a shard: write K/N with whole numbers"))
        };
        Shard::new(number(index)?, number(count)?)
    }

    /// 1-based shard number.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many shards.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this is the whole (1/1).
    pub fn is_all(self) -> bool {
        self.count == 1
    }

    /// Whether the job at `job` (its index in the unsharded job list) is in this shard.
    pub fn contains(self, job: usize) -> bool {
        job % self.count as usize == (self.index - 1) as usize
    }

    /// How many of `total` jobs this shard runs.
    pub fn len_of(self, total: usize) -> usize {
        let (count, index) = (self.count as usize, (self.index - 1) as usize);
        total / count + usize::from(index < total % count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_is_in_exactly_one_shard() {
        for count in 1..=9 {
            let shards: Vec<Shard> = (1..=count).map(|k| Shard::new(k, count).unwrap()).collect();
            for job in 0..100 {
                assert_eq!(shards.iter().filter(|s| s.contains(job)).count(), 1);
            }
            for total in 0..30 {
                let sum: usize = shards.iter().map(|s| s.len_of(total)).sum();
                assert_eq!(sum, total);
                for shard in &shards {
                    assert_eq!(
                        shard.len_of(total),
                        (0..total).filter(|j| shard.contains(*j)).count()
                    );
                }
            }
        }
    }

    #[test]
    fn parse_takes_k_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("2/8").unwrap(), Shard::new(2, 8).unwrap());
        assert_eq!(Shard::parse(" 1 / 1 ").unwrap(), Shard::ALL);
        assert_eq!(Shard::parse("2/8").unwrap().to_string(), "2/8");
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "-1/3", "1/100001", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert!(Shard::parse("4/3").unwrap_err().contains("1 to 3"));
    }
}
