//! What a sweep varies: a strategy parameter, or a setting of the scenario's model.

use std::time::Duration;

use sshrace_core::{StrategyParams, millis_or_off};
use sshrace_scenario::{Arrivals, Scenario, WorkloadKind};

use crate::RunError;

/// A setting of a `[[workload]]` item a sweep can vary (`workload.<name>.<key>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKey {
    /// `burst`: operations arriving at once (burst arrivals only), at least 1.
    Burst,
    /// `at_ms`: when a single operation or a burst arrives.
    AtMs,
    /// `duration_ms`: how long the command (each step of a job) runs.
    DurationMs,
    /// `every_ms`: the period of periodic arrivals, > 0.
    EveryMs,
    /// `rate_per_hour`: the mean of Poisson arrivals, > 0.
    RatePerHour,
    /// `timeout_ms`: the deadline of each operation (0: none).
    TimeoutMs,
}

impl WorkloadKey {
    /// Every key, as written after `workload.<name>.`.
    pub const ALL: [(&'static str, WorkloadKey); 6] = [
        ("burst", WorkloadKey::Burst),
        ("at_ms", WorkloadKey::AtMs),
        ("duration_ms", WorkloadKey::DurationMs),
        ("every_ms", WorkloadKey::EveryMs),
        ("rate_per_hour", WorkloadKey::RatePerHour),
        ("timeout_ms", WorkloadKey::TimeoutMs),
    ];
}

/// A setting of a `[[host]]`'s sshd a sweep can vary (`host.<name>.<key>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKey {
    /// `max_sessions`: sshd's MaxSessions.
    MaxSessions,
    /// `max_startups_start`: the `start` of MaxStartups `start:rate:full`.
    MaxStartupsStart,
    /// `max_startups_rate`: the `rate` (percent) of MaxStartups.
    MaxStartupsRate,
    /// `max_startups_full`: the `full` of MaxStartups.
    MaxStartupsFull,
    /// `login_grace_time_ms`: LoginGraceTime.
    LoginGraceTimeMs,
    /// `client_alive_interval_ms`: ClientAliveInterval (0: off).
    ClientAliveIntervalMs,
}

impl HostKey {
    /// Every key, as written after `host.<name>.`.
    pub const ALL: [(&'static str, HostKey); 6] = [
        ("max_sessions", HostKey::MaxSessions),
        ("max_startups_start", HostKey::MaxStartupsStart),
        ("max_startups_rate", HostKey::MaxStartupsRate),
        ("max_startups_full", HostKey::MaxStartupsFull),
        ("login_grace_time_ms", HostKey::LoginGraceTimeMs),
        ("client_alive_interval_ms", HostKey::ClientAliveIntervalMs),
    ];
}

/// What a sweep varies (`--param NAME=...`), checked against the scenario it applies to.
///
/// Strategy parameters are [`StrategyParams`] names (`max_age_ms`); they reach every strategy
/// the sweep runs (a strategy ignores the ones it has no use for). Scenario settings are
/// `workload.<name>.<key>` ([`WorkloadKey`]) and `host.<name>.<key>` ([`HostKey`]), set on the
/// parsed scenario before it is planned.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    /// A [`StrategyParams`] field.
    Strategy(String),
    /// A workload item's setting.
    Workload {
        /// The item's name.
        item: String,
        /// The setting.
        key: WorkloadKey,
    },
    /// A host's sshd setting.
    Host {
        /// The host's name.
        host: String,
        /// The setting.
        key: HostKey,
    },
}

fn keys<T>(all: &[(&'static str, T)]) -> String {
    all.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

impl Parameter {
    /// Parse `name` as a parameter of `scenario`; the error lists every accepted name.
    pub fn parse(name: &str, scenario: &Scenario) -> Result<Parameter, RunError> {
        let unknown = || RunError::UnknownParameter {
            name: name.to_owned(),
            accepted: Parameter::accepted(scenario),
        };
        let parts: Vec<&str> = name.split('.').collect();
        let parameter = match parts.as_slice() {
            [single] if StrategyParams::NAMES.contains(single) => {
                Parameter::Strategy((*single).to_owned())
            }
            ["workload", item, key] if scenario.workload.iter().any(|w| w.name == *item) => {
                let (_, key) = WorkloadKey::ALL
                    .iter()
                    .find(|(n, _)| n == key)
                    .ok_or_else(unknown)?;
                Parameter::Workload {
                    item: (*item).to_owned(),
                    key: *key,
                }
            }
            ["host", host, key] if scenario.host(host).is_some() => {
                let (_, key) = HostKey::ALL
                    .iter()
                    .find(|(n, _)| n == key)
                    .ok_or_else(unknown)?;
                Parameter::Host {
                    host: (*host).to_owned(),
                    key: *key,
                }
            }
            _ => return Err(unknown()),
        };
        parameter.check_applies(name, scenario)?;
        Ok(parameter)
    }

    /// What [`Parameter::parse`] accepts for `scenario`, in words.
    pub fn accepted(scenario: &Scenario) -> String {
        let items: Vec<&str> = scenario.workload.iter().map(|w| w.name.as_str()).collect();
        let hosts: Vec<&str> = scenario.hosts.iter().map(|h| h.name.as_str()).collect();
        format!(
            "a strategy parameter ({}), workload.<name>.<key> with <name> one of {} and <key> one of {}, or host.<name>.<key> with <name> one of {} and <key> one of {}",
            StrategyParams::NAMES.join(", "),
            items.join(", "),
            keys(&WorkloadKey::ALL),
            hosts.join(", "),
            keys(&HostKey::ALL)
        )
    }

    /// A workload key that the item's arrivals or kind have no place for is refused up front.
    fn check_applies(&self, name: &str, scenario: &Scenario) -> Result<(), RunError> {
        let Parameter::Workload { item, key } = self else {
            return Ok(());
        };
        let workload = scenario
            .workload
            .iter()
            .find(|w| w.name == *item)
            .expect("parse checked the item");
        let fits = matches!(
            (key, &workload.arrivals),
            (WorkloadKey::Burst, Arrivals::Burst { .. })
                | (
                    WorkloadKey::AtMs,
                    Arrivals::Burst { .. } | Arrivals::Once { .. }
                )
                | (WorkloadKey::EveryMs, Arrivals::Periodic { .. })
                | (WorkloadKey::RatePerHour, Arrivals::Poisson { .. })
                | (WorkloadKey::DurationMs | WorkloadKey::TimeoutMs, _)
        );
        if fits {
            return Ok(());
        }
        let form = match &workload.arrivals {
            Arrivals::Once { .. } => "a single arrival (at_ms)",
            Arrivals::Burst { .. } => "a burst (burst, at_ms)",
            Arrivals::Periodic { .. } => "periodic arrivals (every_ms)",
            Arrivals::Poisson { .. } => "Poisson arrivals (rate_per_hour)",
        };
        Err(RunError::BadParameter {
            name: name.to_owned(),
            reason: format!("workload {item} has {form}, which this key does not set"),
        })
    }

    /// Set this parameter to `value` in `scenario` or `params`, then check that the scenario
    /// is still valid (as a scenario file saying the same would be). On an error neither
    /// changes.
    pub fn apply(
        &self,
        name: &str,
        value: f64,
        scenario: &mut Scenario,
        params: &mut StrategyParams,
    ) -> Result<(), RunError> {
        let bad = |reason: &str| RunError::BadParameter {
            name: format!("{name}={value}"),
            reason: reason.to_owned(),
        };
        let fractions_allowed = matches!(
            self,
            Parameter::Workload {
                key: WorkloadKey::RatePerHour,
                ..
            }
        );
        if !value.is_finite() || value < 0.0 {
            return Err(bad("must be a number >= 0"));
        }
        if !fractions_allowed && value.fract() != 0.0 {
            return Err(bad("must be a whole number"));
        }
        let whole = value as u64;
        let millis = Duration::from_millis(whole);
        let mut changed = scenario.clone();
        match self {
            Parameter::Strategy(field) => {
                params
                    .set(field, value)
                    .map_err(|error| bad(&error.to_string()))?;
                return Ok(());
            }
            Parameter::Host { host, key } => {
                let sshd = &mut changed
                    .hosts
                    .iter_mut()
                    .find(|h| h.name == *host)
                    .expect("parse checked the host")
                    .sshd;
                let count = u32::try_from(whole).map_err(|_| bad("too large"))?;
                match key {
                    HostKey::MaxSessions => sshd.max_sessions = count,
                    HostKey::MaxStartupsStart => sshd.max_startups.start = count,
                    HostKey::MaxStartupsRate => sshd.max_startups.rate = count,
                    HostKey::MaxStartupsFull => sshd.max_startups.full = count,
                    HostKey::LoginGraceTimeMs => sshd.login_grace_time = millis,
                    HostKey::ClientAliveIntervalMs => {
                        sshd.client_alive_interval = millis_or_off(Some(whole)).flatten()
                    }
                }
            }
            Parameter::Workload { item, key } => {
                let workload = changed
                    .workload
                    .iter_mut()
                    .find(|w| w.name == *item)
                    .expect("parse checked the item");
                match (key, &mut workload.arrivals) {
                    (WorkloadKey::Burst, Arrivals::Burst { count, .. }) => {
                        *count = u32::try_from(whole).map_err(|_| bad("too large"))?;
                    }
                    (WorkloadKey::AtMs, Arrivals::Burst { at, .. } | Arrivals::Once { at }) => {
                        *at = millis;
                    }
                    (WorkloadKey::EveryMs, Arrivals::Periodic { every, .. }) => *every = millis,
                    (WorkloadKey::RatePerHour, Arrivals::Poisson { rate_per_hour, .. }) => {
                        *rate_per_hour = value;
                    }
                    (WorkloadKey::TimeoutMs, _) => workload.timeout = (whole > 0).then_some(millis),
                    (WorkloadKey::DurationMs, _) => match &mut workload.kind {
                        WorkloadKind::Command { command, .. }
                        | WorkloadKind::Interactive { command, .. } => command.duration = millis,
                        WorkloadKind::Job { steps, .. } => {
                            for step in steps {
                                step.command.duration = millis;
                            }
                        }
                    },
                    _ => unreachable!("parse checked that the key applies"),
                }
            }
        }
        // The scenario's own checks (burst >= 1, every_ms > 0, at_ms within the run, ...), as
        // a file saying the same would meet them.
        Scenario::from_str(&changed.to_toml(), &changed.path)
            .map_err(|error| bad(&format!("{}: {}", error.field, error.message)))?;
        *scenario = changed;
        Ok(())
    }
}

/// Parse a sweep's values: `FROM..TO:STEP` (both ends included: `1..100:11` is 1, 12, ..., 100)
/// or a comma-separated list (`1,2,5,10`). Values come back in the order given.
pub fn parse_values(text: &str) -> Result<Vec<f64>, String> {
    use sshrace_core::limits::SWEEP_POINTS;
    let number = |word: &str| {
        word.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{word:?} is not a number"))
    };
    if let Some((from, rest)) = text.split_once("..") {
        let (to, step) = rest
            .split_once(':')
            .ok_or_else(|| format!("{text:?}: a range needs a step, FROM..TO:STEP"))?;
        let (from, to, step) = (number(from)?, number(to)?, number(step)?);
        if step <= 0.0 {
            return Err(format!("{text:?}: the step must be > 0"));
        }
        if to < from {
            return Err(format!("{text:?}: TO is below FROM"));
        }
        // Counted in floating point: a tiny step once overflowed the count to 0 points (and
        // the chart code then looped forever).
        let count = ((to - from) / step + 1e-9).floor() + 1.0;
        if count.is_nan() || count > SWEEP_POINTS as f64 {
            return Err(format!(
                "{text:?}: {count:.0} points, more than the limit of {SWEEP_POINTS}"
            ));
        }
        let values: Vec<f64> = (0..count as u64).map(|i| from + i as f64 * step).collect();
        return distinct(text, values);
    }
    let values = text.split(',').map(number).collect::<Result<Vec<_>, _>>()?;
    if values.len() as u64 > SWEEP_POINTS {
        return Err(format!(
            "{} points, more than the limit of {SWEEP_POINTS}",
            values.len()
        ));
    }
    distinct(text, values)
}

/// The values, if no two are equal (a step below the values' precision gives equal points).
fn distinct(text: &str, values: Vec<f64>) -> Result<Vec<f64>, String> {
    if values.is_empty() {
        return Err(format!("{text:?}: no points"));
    }
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(format!("{text:?}: the point {} is listed twice", pair[0]));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
description = "sweep target"
strategies = ["fresh"]
[sim]
duration_ms = 60000
[[host]]
name = "target"
[[workload]]
name = "calls"
host = "target"
burst = 4
at_ms = 1000
duration_ms = 100
[[workload]]
name = "polls"
host = "target"
every_ms = 5000
"#;

    fn scenario() -> Scenario {
        Scenario::from_str(SCENARIO, "sweep.toml").expect("valid")
    }

    #[test]
    fn values_are_a_range_with_both_ends_or_a_list() {
        assert_eq!(parse_values("1..100:11").unwrap().len(), 10);
        assert_eq!(parse_values("1..100:11").unwrap()[9], 100.0);
        assert_eq!(parse_values("0.5..1:0.25").unwrap(), [0.5, 0.75, 1.0]);
        assert_eq!(parse_values("1,5,10").unwrap(), [1.0, 5.0, 10.0]);
        // A step that yields more points than the limit, or equal points, is refused.
        let error = parse_values("1..2:1e-20").unwrap_err();
        assert!(error.contains("more than the limit of 1000"), "{error}");
        assert!(parse_values("1..1001:1").is_err());
        assert_eq!(parse_values("1..1000:1").unwrap().len(), 1000);
        assert!(parse_values("1e20..1e20:1").is_ok());
        assert!(parse_values("1,1").unwrap_err().contains("listed twice"));
        assert!(parse_values("1..10").is_err());
        assert!(parse_values("5..1:1").is_err());
        assert!(parse_values("1..2:0").is_err());
        assert!(parse_values("x").is_err());
    }

    #[test]
    fn names_are_checked_against_the_scenario_and_the_error_lists_what_is_accepted() {
        let scenario = scenario();
        assert_eq!(
            Parameter::parse("max_age_ms", &scenario).unwrap(),
            Parameter::Strategy("max_age_ms".to_owned())
        );
        assert!(Parameter::parse("workload.calls.burst", &scenario).is_ok());
        assert!(Parameter::parse("host.target.max_sessions", &scenario).is_ok());
        let error = Parameter::parse("workload.nope.burst", &scenario)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("workload.<name>.<key> with <name> one of calls, polls"),
            "{error}"
        );
        assert!(error.contains("max_age_ms"), "{error}");
        let error = Parameter::parse("workload.polls.burst", &scenario)
            .unwrap_err()
            .to_string();
        assert!(error.contains("periodic arrivals"), "{error}");
        assert!(Parameter::parse("host.target.typo", &scenario).is_err());
    }

    #[test]
    fn apply_sets_the_model_and_refuses_what_a_file_could_not_say() {
        let mut scenario = scenario();
        let mut params = StrategyParams::default();
        let burst = Parameter::parse("workload.calls.burst", &scenario).unwrap();
        burst
            .apply("workload.calls.burst", 30.0, &mut scenario, &mut params)
            .unwrap();
        assert_eq!(
            scenario.workload[0].arrivals,
            Arrivals::Burst {
                at: Duration::from_secs(1),
                count: 30
            }
        );
        let error = burst
            .apply("workload.calls.burst", 0.0, &mut scenario, &mut params)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "--param workload.calls.burst=0: workload[0].burst: must be >= 1"
        );
        assert!(
            matches!(
                scenario.workload[0].arrivals,
                Arrivals::Burst { count: 30, .. }
            ),
            "unchanged on error"
        );
        assert!(
            burst
                .apply("workload.calls.burst", 2.5, &mut scenario, &mut params)
                .is_err()
        );
        let age = Parameter::parse("max_age_ms", &scenario).unwrap();
        age.apply("max_age_ms", 60_000.0, &mut scenario, &mut params)
            .unwrap();
        assert_eq!(params.max_age_ms, Some(60_000));
        let sessions = Parameter::parse("host.target.max_sessions", &scenario).unwrap();
        sessions
            .apply("host.target.max_sessions", 3.0, &mut scenario, &mut params)
            .unwrap();
        assert_eq!(scenario.hosts[0].sshd.max_sessions, 3);
    }
}
