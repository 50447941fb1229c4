//! `[[host]]` tables to [`Host`]s with their [`SshdConfig`].

use std::time::Duration;

use sshrace_core::{MaxStartups, SshdConfig, limits};
use toml::Spanned;

use super::{FirstSeen, RESERVED_HOSTS, name as valid_name};
use crate::location::Source;
use crate::raw::RawHost;
use crate::{Host, Profile, ScenarioError};

/// The hosts, each with `profile`'s defaults for what the file leaves out.
pub(super) fn hosts(
    source: &Source<'_>,
    raw: &[Spanned<RawHost>],
    profile: Profile,
) -> Result<Vec<Host>, ScenarioError> {
    if raw.is_empty() {
        return Err(source.top("host", "at least one [[host]] is required"));
    }
    if let Some(host) = raw.get(sshrace_core::limits::HOSTS) {
        return Err(source.at(
            host,
            format!("host[{}]", sshrace_core::limits::HOSTS),
            format!(
                "{} hosts, more than the limit of {}",
                raw.len(),
                sshrace_core::limits::HOSTS
            ),
        ));
    }
    let mut seen = FirstSeen::new();
    let mut out = Vec::with_capacity(raw.len());
    for (index, host) in raw.iter().enumerate() {
        let host = host.get_ref();
        let field = |key: &str| format!("host[{index}].{key}");
        let name = &host.name;
        valid_name(source, name, &field("name"))?;
        if RESERVED_HOSTS.contains(&name.get_ref().as_str()) {
            return Err(source.at(
                name,
                field("name"),
                format!(
                    "{:?} is reserved for the simulation's own nodes ({})",
                    name.get_ref(),
                    RESERVED_HOSTS.join(", ")
                ),
            ));
        }
        if let Some(first) = seen.insert(name.get_ref(), index) {
            return Err(source.at(
                name,
                field("name"),
                format!(
                    "duplicate host name {:?} (also host[{first}])",
                    name.get_ref()
                ),
            ));
        }
        let defaults = SshdConfig::for_profile(profile);
        let max_startups = match &host.max_startups {
            Some(text) => parse_max_startups(text.get_ref())
                .map_err(|message| source.at(text, field("max_startups"), message))?,
            None => defaults.max_startups,
        };
        let handshake_workers = match &host.handshake_workers {
            Some(workers) if *workers.get_ref() == 0 => {
                return Err(source.at(workers, field("handshake_workers"), "must be >= 1"));
            }
            Some(workers) => *workers.get_ref(),
            None => defaults.handshake_workers,
        };
        let at_most = |value: &Option<Spanned<u64>>, key: &str, limit: u64, what: &str| match value
        {
            Some(ms) if *ms.get_ref() > limit => Err(source.at(
                ms,
                field(key),
                format!(
                    "{} is more than the limit of {limit} ms ({what})",
                    ms.get_ref()
                ),
            )),
            _ => Ok(value.as_ref().map(|ms| *ms.get_ref())),
        };
        let login_grace_time_ms = at_most(
            &host.login_grace_time_ms,
            "login_grace_time_ms",
            limits::DURATION_MS,
            "7 days",
        )?;
        let client_alive_interval_ms = at_most(
            &host.client_alive_interval_ms,
            "client_alive_interval_ms",
            limits::DURATION_MS,
            "7 days",
        )?;
        let handshake_cost_ms = at_most(
            &host.handshake_cost_ms,
            "handshake_cost_ms",
            limits::LATENCY_MS,
            "1 minute",
        )?;
        let sshd = SshdConfig {
            profile: defaults.profile,
            per_source_penalties: defaults.per_source_penalties.clone(),
            max_startups,
            max_sessions: host.max_sessions.unwrap_or(defaults.max_sessions),
            login_grace_time: login_grace_time_ms
                .map_or(defaults.login_grace_time, Duration::from_millis),
            client_alive_interval: match client_alive_interval_ms {
                None => defaults.client_alive_interval,
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
            },
            client_alive_count_max: host
                .client_alive_count_max
                .unwrap_or(defaults.client_alive_count_max),
            handshake_cost: handshake_cost_ms
                .map_or(defaults.handshake_cost, Duration::from_millis),
            handshake_workers,
            revoked_identities: host
                .revoked_identities
                .clone()
                .unwrap_or(defaults.revoked_identities),
        };
        out.push(Host {
            name: name.get_ref().clone(),
            sshd,
        });
    }
    Ok(out)
}

/// sshd's `MaxStartups`: `"start:rate:full"`, or `"N"` meaning `N:100:N`.
pub(crate) fn parse_max_startups(text: &str) -> Result<MaxStartups, String> {
    let number = |part: &str| {
        part.trim()
            .parse::<u32>()
            .map_err(|_| format!("{text:?}: {part:?} is not a whole number"))
    };
    let parts: Vec<&str> = text.split(':').collect();
    let startups = match parts.as_slice() {
        [single] => {
            let n = number(single)?;
            MaxStartups {
                start: n,
                rate: 100,
                full: n,
            }
        }
        [start, rate, full] => MaxStartups {
            start: number(start)?,
            rate: number(rate)?,
            full: number(full)?,
        },
        _ => {
            return Err(format!(
                "{text:?} is not \"start:rate:full\" (like \"10:30:100\") or a single number"
            ));
        }
    };
    if startups.start > startups.full {
        return Err(format!(
            "{text:?}: start ({}) is above full ({})",
            startups.start, startups.full
        ));
    }
    if startups.rate > 100 {
        return Err(format!("{text:?}: rate ({}) is above 100", startups.rate));
    }
    Ok(startups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_startups_reads_triples_and_single_numbers_like_sshd() {
        assert_eq!(
            parse_max_startups("10:30:100"),
            Ok(MaxStartups {
                start: 10,
                rate: 30,
                full: 100
            })
        );
        assert_eq!(
            parse_max_startups("20"),
            Ok(MaxStartups {
                start: 20,
                rate: 100,
                full: 20
            })
        );
    }

    #[test]
    fn max_startups_refuses_pairs_inverted_bounds_and_rates_over_100() {
        assert!(parse_max_startups("10:30").is_err());
        assert!(parse_max_startups("100:30:10").is_err());
        assert!(parse_max_startups("10:130:100").is_err());
        assert!(parse_max_startups("ten").is_err());
        assert!(parse_max_startups("").is_err());
    }
}

#[cfg(test)]
mod error_tests {
    use crate::fixtures::{MINIMAL, assert_rejected};

    fn with_host_key(line: &str) -> String {
        MINIMAL.replace(
            "name = \"target\"\n",
            &format!("name = \"target\"\n{line}\n"),
        )
    }

    #[test]
    fn a_bad_max_startups_is_an_error_at_its_value() {
        assert_rejected(
            &with_host_key("max_startups = \"10:30\""),
            "s.toml:9:16: host[0].max_startups: ",
            "not \"start:rate:full\"",
        );
        assert_rejected(
            &with_host_key("max_startups = \"50:30:10\""),
            "s.toml:9:16: host[0].max_startups: ",
            "start (50) is above full (10)",
        );
    }

    #[test]
    fn an_unknown_host_key_is_an_error_at_the_key() {
        assert_rejected(
            &with_host_key("max_sesions = 3"),
            "s.toml:9:1: host[0].max_sesions: ",
            "unknown field",
        );
    }

    #[test]
    fn zero_handshake_workers_is_an_error() {
        assert_rejected(
            &with_host_key("handshake_workers = 0"),
            "s.toml:9:21: host[0].handshake_workers: ",
            "must be >= 1",
        );
    }

    #[test]
    fn host_names_are_unique_and_not_reserved() {
        let text = MINIMAL.replace("name = \"target\"\n", "name = \"client\"\n");
        assert_rejected(&text, "s.toml:8:8: host[0].name: ", "reserved");
        let text = MINIMAL.replace(
            "name = \"target\"\n",
            "name = \"target\"\n[[host]]\nname = \"target\"\n",
        );
        assert_rejected(
            &text,
            "s.toml:10:8: host[1].name: ",
            "duplicate host name \"target\"",
        );
    }
}
