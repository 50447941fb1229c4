//! Every limit sshrace enforces on its input, in one place: bounded by construction.
//!
//! A scenario, its seeds and its strategies are admitted as a whole before anything runs;
//! whatever is past one of these limits is refused with one line naming the file, line, field
//! and limit (exit 2). The README's limits table is [`markdown_table`] of [`ALL`], and a test
//! keeps the two the same.

/// One documented limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What is limited, as the README's table names it.
    pub what: &'static str,
    /// The limit, as a person reads it.
    pub value: &'static str,
    /// Why this number.
    pub why: &'static str,
}

/// Largest scenario file read, in bytes; checked before reading.
pub const SCENARIO_FILE_BYTES: u64 = 1024 * 1024;
/// Longest scenario, strategy, workload, host or step name.
pub const NAME_LEN: usize = 64;
/// Seeds in one command, after de-duplication (regression seeds included).
pub const SEEDS: u64 = 100_000;
/// Points of one sweep.
pub const SWEEP_POINTS: u64 = 1_000;
/// `[[host]]` tables in one scenario.
pub const HOSTS: usize = 100;
/// Operations one run plans, over all workload items. Measured (2 cores, release): one run of
/// 100,000 Poisson operations on `pool` took 37 s and 670 MB peak RSS, 10,000 took 3.8 s and
/// 77 MB: time and memory grow linearly, about 0.4 ms and 7 KB an operation.
pub const OPERATIONS_PER_RUN: u64 = 100_000;
/// Operations one command runs: per run, times seeds, times strategies (times sweep points).
pub const OPERATIONS_TOTAL: u64 = 100_000_000;
/// Connections one workload may open at the same instant (`burst`).
pub const PARALLEL_CONNECTIONS: u64 = 10_000;
/// Bytes of stdout or stderr one command writes.
pub const COMMAND_BYTES: u64 = 1024 * 1024 * 1024;
/// Bytes of output one run's commands write, over all operations.
pub const RUN_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// Output chunks of one command (`chunks`).
pub const CHUNKS: u64 = 100_000;
/// Simulated duration of a scenario (`sim.duration_ms`), 7 days.
pub const DURATION_MS: u64 = 7 * 24 * 3_600_000;
/// Shortest gate poll interval (`poll_interval_ms`).
pub const POLL_INTERVAL_MS: u64 = 10;
/// Longest simulation tick (`sim.tick_ms`).
pub const TICK_MS: u64 = 1_000;
/// Longest one-way latency, jitter and per-handshake cost (`latency_ms`, `jitter_ms`,
/// `handshake_cost_ms`).
pub const LATENCY_MS: u64 = 60_000;
/// Most shards a command is split into (`--shard K/N`, `SSHRACE_SHARD`).
pub const SHARDS: u64 = 10_000;
/// Largest results file `sshrace merge` reads (`--out`), in bytes; checked before reading.
pub const RESULTS_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The limits, as the README's table lists them.
pub const ALL: &[Limit] = &[
    Limit {
        what: "scenario file size",
        value: "1 MiB",
        why: "checked before reading (`/dev/zero` is refused at once)",
    },
    Limit {
        what: "names (scenario, strategy, workload, host, step)",
        value: "64 characters of `A-Z a-z 0-9 _ -`",
        why: "names appear unquoted in CSV, JUnit, markdown and file names",
    },
    Limit {
        what: "seeds per command",
        value: "100,000",
        why: "de-duplicated in O(n log n), regression seeds included",
    },
    Limit {
        what: "sweep points",
        value: "1,000",
        why: "a step that yields no point is refused too",
    },
    Limit {
        what: "hosts per scenario",
        value: "100",
        why: "each is a simulated sshd with its own keys",
    },
    Limit {
        what: "operations per run",
        value: "100,000",
        why: "over all workload items (Poisson: the expected count); about 0.4 ms and 7 KB each, so at most about 40 s and 700 MB a run",
    },
    Limit {
        what: "operations per command",
        value: "100,000,000",
        why: "per run × seeds × strategies (× sweep points)",
    },
    Limit {
        what: "parallel connections (`burst`)",
        value: "10,000",
        why: "the simulated client has 16,384 ephemeral ports",
    },
    Limit {
        what: "stdout or stderr of one command",
        value: "1 GiB",
        why: "streamed in 64 KiB pieces, never held",
    },
    Limit {
        what: "output of one run",
        value: "16 GiB",
        why: "bytes over all operations; time grows with it",
    },
    Limit {
        what: "output chunks of one command",
        value: "100,000",
        why: "and no more than one chunk per `tick_ms` of its duration",
    },
    Limit {
        what: "simulated duration (`sim.duration_ms`)",
        value: "7 days",
        why: "every instant and timeout lies inside it",
    },
    Limit {
        what: "timeouts and delays (`timeout_ms`, command `duration_ms`, sshd and strategy `_ms` settings)",
        value: "7 days",
        why: "a run lasts at most its duration plus its longest timeout",
    },
    Limit {
        what: "gate poll interval (`poll_interval_ms`)",
        value: "10 ms to 7 days",
        why: "",
    },
    Limit {
        what: "`sim.tick_ms`",
        value: "1 to 1,000 ms",
        why: "",
    },
    Limit {
        what: "`latency_ms`, `jitter_ms`, `handshake_cost_ms`",
        value: "60,000 ms",
        why: "",
    },
    Limit {
        what: "shards (`--shard K/N`, `SSHRACE_SHARD`)",
        value: "N up to 10,000",
        why: "K from 1 to N; a shard runs every N-th job",
    },
    Limit {
        what: "results file (`--out`, read by `sshrace merge`)",
        value: "256 MiB",
        why: "checked before reading; about 0.5 KiB a run plus 8 bytes a successful operation",
    },
    Limit {
        what: "zero `attempts`, `max_connections`, `max_sessions`, `handshake_limit`",
        value: "refused",
        why: "never rounded up to 1",
    },
];

/// [`ALL`] as the markdown table the README carries.
pub fn markdown_table() -> String {
    let mut out = String::from("| limit | value | note |\n| --- | --- | --- |\n");
    for limit in ALL {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            limit.what, limit.value, limit.why
        ));
    }
    out
}

/// Whether `name` is a valid name: 1 to [`NAME_LEN`] characters of `A-Z a-z 0-9 _ -`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.chars().count() > NAME_LEN {
        return Err(format!(
            "{} characters, more than {NAME_LEN}",
            name.chars().count()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "{name:?} has {bad:?}: names use only A-Z a-z 0-9 _ - (at most {NAME_LEN})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_ascii_letters_digits_underscore_and_dash() {
        assert!(check_name("deploy-v2_b").is_ok());
        assert!(check_name("deploy, v2").is_err());
        assert!(check_name("a|b").is_err());
        assert!(check_name("a\u{1}").is_err());
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(NAME_LEN)).is_ok());
        assert!(check_name(&"x".repeat(NAME_LEN + 1)).is_err());
    }

    #[test]
    fn the_readme_carries_the_limits_table() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(&markdown_table()),
            "README.md's limits table differs from sshrace_core::limits; it should read:\n{}",
            markdown_table()
        );
    }
}
