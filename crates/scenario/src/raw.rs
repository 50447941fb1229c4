//! The scenario file as serde reads it, before any semantic check: every table denies unknown
//! keys, and values that later checks point at keep their [`Spanned`] position.
//!
//! `[strategy.NAME]` tables are not read here (their keys are [`StrategyParams`] flattened next
//! to `base`, which serde's `flatten` cannot combine with unknown-key errors and positions); see
//! `crate::convert::variants`.
//!
//! [`StrategyParams`]: sshrace_core::StrategyParams

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, Visitor};
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) description: Spanned<String>,
    pub(crate) strategies: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(crate) seeds: Vec<Spanned<RawSeed>>,
    pub(crate) profile: Option<RawProfile>,
    pub(crate) failing: Option<Vec<Spanned<String>>>,
    pub(crate) sim: RawSim,
    #[serde(default)]
    pub(crate) host: Vec<Spanned<RawHost>>,
    /// Read separately from the parsed document; listed so that it is a known key.
    #[allow(dead_code)]
    pub(crate) strategy: Option<IgnoredAny>,
    #[serde(default)]
    pub(crate) workload: Vec<Spanned<RawWorkload>>,
    #[serde(default)]
    pub(crate) timeline: Vec<Spanned<RawTimeline>>,
    #[serde(default)]
    pub(crate) expect: Vec<Spanned<RawExpect>>,
}

/// `profile = "openssh-9.2"`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RawProfile {
    OpenSsh92,
    OpenSsh100,
}

impl<'de> Deserialize<'de> for RawProfile {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ProfileVisitor)
    }
}

struct ProfileVisitor;

const PROFILES: &str = "\"openssh-9.2\" or \"openssh-10.0\"";

impl ProfileVisitor {
    /// `profile = 9.2` (a number, not the string): say what to write instead.
    fn number<E: de::Error>(self, shown: String) -> Result<RawProfile, E> {
        Err(E::custom(format!(
            "{shown} is a number; write the release as a string: profile = \"openssh-{shown}\" ({PROFILES})"
        )))
    }
}

impl Visitor<'_> for ProfileVisitor {
    type Value = RawProfile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PROFILES}")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawProfile, E> {
        match value {
            "openssh-9.2" => Ok(RawProfile::OpenSsh92),
            "openssh-10.0" => Ok(RawProfile::OpenSsh100),
            other => Err(E::custom(format!(
                "unknown variant `{other}`, expected {PROFILES}"
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<RawProfile, E> {
        let shown = if value.fract() == 0.0 {
            format!("{value:.1}")
        } else {
            value.to_string()
        };
        self.number(shown)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawProfile, E> {
        self.number(format!("{value}.0"))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawProfile, E> {
        self.number(format!("{value}.0"))
    }
}

/// A regression seed: a TOML integer >= 0, or a string in decimal or `0x` hex (for seeds above
/// `i64::MAX`, which TOML integers cannot hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawSeed(pub(crate) u64);

impl<'de> Deserialize<'de> for RawSeed {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SeedVisitor)
    }
}

struct SeedVisitor;

impl Visitor<'_> for SeedVisitor {
    type Value = RawSeed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a seed: an integer >= 0 or a string in decimal or 0x-hex")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawSeed, E> {
        u64::try_from(value)
            .map(RawSeed)
            .map_err(|_| E::custom(format!("seed {value} is negative")))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawSeed, E> {
        Ok(RawSeed(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawSeed, E> {
        parse_seed(value)
            .map(RawSeed)
            .ok_or_else(|| E::custom(format!("seed {value:?} is not a u64 in decimal or 0x-hex")))
    }
}

/// `"12"` or `"0x7164edcda800eb69"` (or `0X`) as a u64; surrounding whitespace is ignored.
pub fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// `[sim]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSim {
    pub(crate) duration_ms: Spanned<u64>,
    pub(crate) tick_ms: Option<Spanned<u64>>,
    pub(crate) idle_tick_ms: Option<Spanned<u64>>,
    pub(crate) latency_ms: Option<Spanned<u64>>,
    pub(crate) jitter_ms: Option<Spanned<u64>>,
    pub(crate) time_scale: Option<Spanned<f64>>,
}

/// `[[host]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub(crate) name: Spanned<String>,
    pub(crate) max_startups: Option<Spanned<String>>,
    pub(crate) max_sessions: Option<u32>,
    pub(crate) login_grace_time_ms: Option<Spanned<u64>>,
    pub(crate) client_alive_interval_ms: Option<Spanned<u64>>,
    pub(crate) client_alive_count_max: Option<u32>,
    pub(crate) handshake_cost_ms: Option<Spanned<u64>>,
    pub(crate) handshake_workers: Option<Spanned<u32>>,
    pub(crate) revoked_identities: Option<Vec<String>>,
}

/// `kind = "command"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawKind {
    Command,
    Job,
    Interactive,
}

/// `purpose = "work"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RawPurpose {
    Work,
    HealthCheck,
}

/// `[[workload]]`: the operation, its arrivals and (except for jobs) its command keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkload {
    pub(crate) name: Spanned<String>,
    pub(crate) kind: Option<RawKind>,
    pub(crate) host: Option<Spanned<String>>,
    pub(crate) hosts: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) purpose: Option<RawPurpose>,
    pub(crate) retryable: Option<bool>,
    pub(crate) measured: Option<bool>,
    pub(crate) timeout_ms: Option<Spanned<u64>>,
    pub(crate) identity: Option<Spanned<String>>,

    pub(crate) at_ms: Option<Spanned<u64>>,
    pub(crate) burst: Option<Spanned<u32>>,
    pub(crate) every_ms: Option<Spanned<u64>>,
    pub(crate) rate_per_hour: Option<Spanned<f64>>,
    pub(crate) start_ms: Option<Spanned<u64>>,
    pub(crate) until_ms: Option<Spanned<u64>>,
    pub(crate) jitter_ms: Option<Spanned<u64>>,

    pub(crate) duration_ms: Option<Spanned<u64>>,
    pub(crate) duration_jitter_ms: Option<Spanned<u64>>,
    pub(crate) exit_code: Option<Spanned<u32>>,
    pub(crate) fail_probability: Option<Spanned<f64>>,
    pub(crate) stdout_bytes: Option<Spanned<u64>>,
    pub(crate) stderr_bytes: Option<Spanned<u64>>,
    pub(crate) chunks: Option<Spanned<u32>>,
    pub(crate) hang: Option<Spanned<bool>>,

    pub(crate) step: Option<Spanned<Vec<Spanned<RawStep>>>>,
}

/// `[[workload.step]]`: a job's step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) duration_ms: Option<Spanned<u64>>,
    pub(crate) duration_jitter_ms: Option<Spanned<u64>>,
    pub(crate) exit_code: Option<Spanned<u32>>,
    pub(crate) fail_probability: Option<Spanned<f64>>,
    pub(crate) stdout_bytes: Option<Spanned<u64>>,
    pub(crate) stderr_bytes: Option<Spanned<u64>>,
    pub(crate) chunks: Option<Spanned<u32>>,
    pub(crate) hang: Option<Spanned<bool>>,
}

/// The command keys shared by `[[workload]]` and `[[workload.step]]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawCommand<'a> {
    pub(crate) duration_ms: Option<&'a Spanned<u64>>,
    pub(crate) duration_jitter_ms: Option<&'a Spanned<u64>>,
    pub(crate) exit_code: Option<&'a Spanned<u32>>,
    pub(crate) fail_probability: Option<&'a Spanned<f64>>,
    pub(crate) stdout_bytes: Option<&'a Spanned<u64>>,
    pub(crate) stderr_bytes: Option<&'a Spanned<u64>>,
    pub(crate) chunks: Option<&'a Spanned<u32>>,
    pub(crate) hang: Option<&'a Spanned<bool>>,
}

impl RawCommand<'_> {
    /// The first command key that is set, with its position.
    pub(crate) fn first_present(&self) -> Option<(&'static str, std::ops::Range<usize>)> {
        let keys = [
            ("duration_ms", self.duration_ms.map(Spanned::span)),
            (
                "duration_jitter_ms",
                self.duration_jitter_ms.map(Spanned::span),
            ),
            ("exit_code", self.exit_code.map(Spanned::span)),
            ("fail_probability", self.fail_probability.map(Spanned::span)),
            ("stdout_bytes", self.stdout_bytes.map(Spanned::span)),
            ("stderr_bytes", self.stderr_bytes.map(Spanned::span)),
            ("chunks", self.chunks.map(Spanned::span)),
            ("hang", self.hang.map(Spanned::span)),
        ];
        keys.into_iter()
            .find_map(|(key, span)| span.map(|span| (key, span)))
    }
}

impl RawWorkload {
    pub(crate) fn command(&self) -> RawCommand<'_> {
        RawCommand {
            duration_ms: self.duration_ms.as_ref(),
            duration_jitter_ms: self.duration_jitter_ms.as_ref(),
            exit_code: self.exit_code.as_ref(),
            fail_probability: self.fail_probability.as_ref(),
            stdout_bytes: self.stdout_bytes.as_ref(),
            stderr_bytes: self.stderr_bytes.as_ref(),
            chunks: self.chunks.as_ref(),
            hang: self.hang.as_ref(),
        }
    }
}

impl RawStep {
    pub(crate) fn command(&self) -> RawCommand<'_> {
        RawCommand {
            duration_ms: self.duration_ms.as_ref(),
            duration_jitter_ms: self.duration_jitter_ms.as_ref(),
            exit_code: self.exit_code.as_ref(),
            fail_probability: self.fail_probability.as_ref(),
            stdout_bytes: self.stdout_bytes.as_ref(),
            stderr_bytes: self.stderr_bytes.as_ref(),
            chunks: self.chunks.as_ref(),
            hang: self.hang.as_ref(),
        }
    }
}

/// `[[timeline]]`: when, which fault, and the fault's keys (which ones are allowed depends on
/// the fault and is checked after reading).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeline {
    pub(crate) at_ms: Option<Spanned<u64>>,
    pub(crate) at_range_ms: Option<Spanned<Vec<Spanned<u64>>>>,
    pub(crate) fault: Spanned<String>,
    pub(crate) a: Option<Spanned<String>>,
    pub(crate) b: Option<Spanned<String>>,
    pub(crate) from: Option<Spanned<String>>,
    pub(crate) to: Option<Spanned<String>>,
    pub(crate) host: Option<Spanned<String>>,
    pub(crate) idle_ms: Option<Spanned<u64>>,
    pub(crate) count: Option<Spanned<u64>>,
    pub(crate) base_ms: Option<Spanned<u64>>,
    pub(crate) jitter_ms: Option<Spanned<u64>>,
    pub(crate) workspace: Option<Spanned<String>>,
    pub(crate) agent: Option<Spanned<String>>,
}

/// `[[expect]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    pub(crate) strategy: Spanned<String>,
    pub(crate) max_failure_rate: Spanned<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_integers_or_decimal_or_hex_strings() {
        assert_eq!(parse_seed("12"), Some(12));
        assert_eq!(
            parse_seed("0x7164edcda800eb69"),
            Some(0x7164_edcd_a800_eb69)
        );
        assert_eq!(parse_seed("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_seed("-1"), None);
        assert_eq!(parse_seed("0x"), None);
        assert_eq!(parse_seed("twelve"), None);
    }

    #[test]
    fn a_negative_integer_seed_is_refused() {
        #[derive(Debug, Deserialize)]
        struct Seeds {
            seeds: Vec<RawSeed>,
        }
        let seeds: Seeds = toml::from_str("seeds = [1, \"0xff\"]").expect("valid");
        assert_eq!(seeds.seeds, [RawSeed(1), RawSeed(255)]);
        let error = toml::from_str::<Seeds>("seeds = [-3]").expect_err("negative");
        assert!(error.message().contains("negative"), "{}", error.message());
    }
}
