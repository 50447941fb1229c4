use std::time::Duration;

/// Tunable knobs of the built-in strategies, as a scenario file or a sweep sets them. Every field
/// is optional: `None` keeps the strategy's own default (each built-in documents its defaults).
/// Names end in their unit (`_ms`); a `0` duration means "off" where the OpenSSH option has an
/// off value (ServerAliveInterval, ConnectTimeout).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyParams {
    /// ControlMaster strategies: recycle a master older than this (Coolify `SSH_MUX_MAX_AGE`).
    pub max_age_ms: Option<u64>,
    /// ControlMaster strategies: `ControlPersist`, idle time before the master exits.
    pub persist_ms: Option<u64>,
    /// Attempts per command including the first (Coolify `SSH_MAX_RETRIES`).
    pub attempts: Option<u32>,
    /// First retry delay; doubles per attempt.
    pub retry_base_ms: Option<u64>,
    /// Largest retry delay.
    pub retry_cap_ms: Option<u64>,
    /// Pool: connections per host at most.
    pub max_connections: Option<u32>,
    /// Pool: sessions per connection at most (keep at or below sshd's MaxSessions).
    pub max_sessions: Option<u32>,
    /// `ServerAliveInterval` (0: off).
    pub keepalive_interval_ms: Option<u64>,
    /// `ServerAliveCountMax`.
    pub keepalive_count: Option<u32>,
    /// `ConnectTimeout` (0: none).
    pub connect_timeout_ms: Option<u64>,
    /// Pool: handshakes in flight per host at most.
    pub handshake_limit: Option<u32>,
    /// Reachability gates: control-plane poll interval.
    pub poll_interval_ms: Option<u64>,
    /// ControlMaster strategies: health checks bypass the master (Coolify PR 7503).
    pub health_check_bypass: Option<bool>,
    /// Real seconds per scenario second for every duration a strategy derives from these
    /// parameters (defaults included): `Some(1/60)` on a container run compressed 60 times.
    /// `None` (the simulation) keeps durations exactly as written. Not a file setting.
    #[serde(skip)]
    pub time_scale: Option<f64>,
    /// `fresh` and `pool`: retry a command whose authentication failed (`Permission denied`,
    /// exit 255), like any other failure. Against OpenSSH 10.0 every such retry adds to the
    /// PerSourcePenalties of the client's address, which behind a NAT is everyone's.
    /// Set in `[strategy.NAME]` tables only: it is not in [`StrategyParams::NAMES`], so not a
    /// sweep `--param` (adding it there goes with listing it in the CLI's `sweep --help`).
    pub retry_auth_failures: Option<bool>,
}

/// A strategy parameter that cannot be set: an unknown name, or a value the strategies cannot
/// honour (never clamped or rounded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// No strategy knows this name.
    #[error("unknown strategy parameter {name:?} (known: {})", StrategyParams::NAMES.join(", "))]
    Unknown {
        /// The name that was given.
        name: String,
    },
    /// The value is out of the parameter's range.
    #[error("{name}: {reason}")]
    Value {
        /// The parameter.
        name: String,
        /// Why the value is refused, with the limit.
        reason: String,
    },
}

/// Parameters whose 0 would mean "never": refused rather than taken as 1.
pub const AT_LEAST_ONE: [&str; 4] = [
    "attempts",
    "max_connections",
    "max_sessions",
    "handshake_limit",
];

impl StrategyParams {
    /// Every parameter name, as written in scenario files and `--param`.
    pub const NAMES: [&'static str; 13] = [
        "max_age_ms",
        "persist_ms",
        "attempts",
        "retry_base_ms",
        "retry_cap_ms",
        "max_connections",
        "max_sessions",
        "keepalive_interval_ms",
        "keepalive_count",
        "connect_timeout_ms",
        "handshake_limit",
        "poll_interval_ms",
        "health_check_bypass",
    ];

    /// Set one parameter by name (a sweep's `--param NAME=...`). Booleans take 0 or 1. A value
    /// that is not a whole number >= 0 in the parameter's range is an error, as is any value
    /// [`StrategyParams::check`] refuses; nothing is rounded or clamped.
    pub fn set(&mut self, name: &str, value: f64) -> Result<(), ParamError> {
        if !Self::NAMES.contains(&name) {
            return Err(ParamError::Unknown {
                name: name.to_owned(),
            });
        }
        let bad = |reason: String| ParamError::Value {
            name: name.to_owned(),
            reason,
        };
        if !(value.is_finite() && value >= 0.0 && value.fract() == 0.0) {
            return Err(bad(format!("{value} is not a whole number >= 0")));
        }
        if value > u64::MAX as f64 {
            return Err(bad(format!("{value} is too large")));
        }
        let whole = value as u64;
        let count =
            || u32::try_from(whole).map_err(|_| bad(format!("{whole} is more than {}", u32::MAX)));
        let mut changed = self.clone();
        match name {
            "max_age_ms" => changed.max_age_ms = Some(whole),
            "persist_ms" => changed.persist_ms = Some(whole),
            "attempts" => changed.attempts = Some(count()?),
            "retry_base_ms" => changed.retry_base_ms = Some(whole),
            "retry_cap_ms" => changed.retry_cap_ms = Some(whole),
            "max_connections" => changed.max_connections = Some(count()?),
            "max_sessions" => changed.max_sessions = Some(count()?),
            "keepalive_interval_ms" => changed.keepalive_interval_ms = Some(whole),
            "keepalive_count" => changed.keepalive_count = Some(count()?),
            "connect_timeout_ms" => changed.connect_timeout_ms = Some(whole),
            "handshake_limit" => changed.handshake_limit = Some(count()?),
            "poll_interval_ms" => changed.poll_interval_ms = Some(whole),
            "health_check_bypass" if whole > 1 => {
                return Err(bad(format!("{whole} is not 0 or 1")));
            }
            "health_check_bypass" => changed.health_check_bypass = Some(whole != 0),
            _ => unreachable!("checked against NAMES"),
        }
        changed.check()?;
        *self = changed;
        Ok(())
    }

    /// The values no strategy can honour: 0 for [`AT_LEAST_ONE`]'s counts, a millisecond
    /// setting past [`limits::DURATION_MS`](crate::limits::DURATION_MS), a gate poll interval
    /// under [`limits::POLL_INTERVAL_MS`](crate::limits::POLL_INTERVAL_MS). The error names
    /// the parameter and the limit.
    pub fn check(&self) -> Result<(), ParamError> {
        use crate::limits::{DURATION_MS, POLL_INTERVAL_MS};
        let bad = |name: &str, reason: String| ParamError::Value {
            name: name.to_owned(),
            reason,
        };
        let counts = [
            ("attempts", self.attempts),
            ("max_connections", self.max_connections),
            ("max_sessions", self.max_sessions),
            ("handshake_limit", self.handshake_limit),
        ];
        for (name, value) in counts {
            if value == Some(0) {
                return Err(bad(name, "must be >= 1 (0 is not rounded up)".to_owned()));
            }
        }
        let millis = [
            ("max_age_ms", self.max_age_ms),
            ("persist_ms", self.persist_ms),
            ("retry_base_ms", self.retry_base_ms),
            ("retry_cap_ms", self.retry_cap_ms),
            ("keepalive_interval_ms", self.keepalive_interval_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("poll_interval_ms", self.poll_interval_ms),
        ];
        for (name, value) in millis {
            if let Some(ms) = value.filter(|ms| *ms > DURATION_MS) {
                return Err(bad(
                    name,
                    format!("{ms} is more than the limit of {DURATION_MS} ms (7 days)"),
                ));
            }
        }
        if let Some(ms) = self.poll_interval_ms.filter(|ms| *ms < POLL_INTERVAL_MS) {
            return Err(bad(
                "poll_interval_ms",
                format!("{ms} is less than the limit of {POLL_INTERVAL_MS} ms"),
            ));
        }
        Ok(())
    }

    /// Fields set in `over` replace those here.
    pub fn merged(&self, over: &StrategyParams) -> StrategyParams {
        StrategyParams {
            max_age_ms: over.max_age_ms.or(self.max_age_ms),
            persist_ms: over.persist_ms.or(self.persist_ms),
            attempts: over.attempts.or(self.attempts),
            retry_base_ms: over.retry_base_ms.or(self.retry_base_ms),
            retry_cap_ms: over.retry_cap_ms.or(self.retry_cap_ms),
            max_connections: over.max_connections.or(self.max_connections),
            max_sessions: over.max_sessions.or(self.max_sessions),
            keepalive_interval_ms: over.keepalive_interval_ms.or(self.keepalive_interval_ms),
            keepalive_count: over.keepalive_count.or(self.keepalive_count),
            connect_timeout_ms: over.connect_timeout_ms.or(self.connect_timeout_ms),
            handshake_limit: over.handshake_limit.or(self.handshake_limit),
            poll_interval_ms: over.poll_interval_ms.or(self.poll_interval_ms),
            health_check_bypass: over.health_check_bypass.or(self.health_check_bypass),
            time_scale: over.time_scale.or(self.time_scale),
            retry_auth_failures: over.retry_auth_failures.or(self.retry_auth_failures),
        }
    }

    /// `ms` (or `default_ms` when unset) as a duration, time-scaled.
    pub fn duration(&self, ms: Option<u64>, default_ms: u64) -> Duration {
        self.scale(Duration::from_millis(ms.unwrap_or(default_ms)))
    }

    /// Like [`StrategyParams::duration`] for an option whose `0` means "off" (`None`); an unset
    /// value takes `default_ms` (itself `None` for off).
    pub fn duration_or_off(&self, ms: Option<u64>, default_ms: Option<u64>) -> Option<Duration> {
        match ms.or(default_ms) {
            Some(0) | None => None,
            Some(ms) => Some(self.duration(Some(ms), 0)),
        }
    }

    /// A strategy's own constant duration, time-scaled like its parameters.
    pub fn scale(&self, duration: Duration) -> Duration {
        match self.time_scale {
            None => duration,
            Some(scale) => duration.mul_f64(scale),
        }
    }
}

/// A millisecond parameter as a `Duration`, `None` when unset or 0 ("off").
pub fn millis_or_off(value: Option<u64>) -> Option<Option<Duration>> {
    value.map(|ms| (ms > 0).then(|| Duration::from_millis(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_knows_every_listed_name_and_nothing_else() {
        let mut params = StrategyParams::default();
        for name in StrategyParams::NAMES {
            let value = if name == "poll_interval_ms" {
                10.0
            } else {
                1.0
            };
            params.set(name, value).unwrap();
        }
        assert!(matches!(
            params.set("max_age", 1.0),
            Err(ParamError::Unknown { .. })
        ));
        let over = StrategyParams {
            max_age_ms: Some(5),
            ..Default::default()
        };
        assert_eq!(params.merged(&over).max_age_ms, Some(5));
        assert_eq!(params.merged(&over).attempts, Some(1));
    }

    #[test]
    fn values_no_strategy_can_honour_are_refused_not_rewritten() {
        let mut params = StrategyParams::default();
        for name in AT_LEAST_ONE {
            let error = params.set(name, 0.0).unwrap_err().to_string();
            assert!(error.contains(">= 1"), "{error}");
        }
        let error = params.set("attempts", 4_294_967_296.0).unwrap_err();
        assert!(
            error.to_string().contains("more than 4294967295"),
            "{error}"
        );
        assert!(params.set("attempts", 1.5).is_err());
        assert!(params.set("attempts", f64::NAN).is_err());
        assert!(params.set("attempts", -1.0).is_err());
        assert!(params.set("poll_interval_ms", 5.0).is_err());
        assert!(params.set("connect_timeout_ms", 1e15).is_err());
        assert!(params.set("health_check_bypass", 2.0).is_err());
        assert_eq!(
            params,
            StrategyParams::default(),
            "a refused value changes nothing"
        );
    }
}
