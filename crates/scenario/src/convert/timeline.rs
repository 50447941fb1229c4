//! `[[timeline]]` tables to [`TimelineEntry`]s: when, and which fault with exactly its keys.

use std::ops::Range;
use std::time::Duration;

use sshrace_core::Fault;
use toml::Spanned;

use super::Context;
use crate::raw::RawTimeline;
use crate::{Action, At, ScenarioError, TimelineEntry};

/// The `fault = "..."` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Partition,
    PartitionOneWay,
    Heal,
    Crash,
    Restart,
    Pause,
    Resume,
    NatIdleTimeout,
    Latency,
    ControlPlane,
    StalledClients,
    Refresh,
    MuxExit,
    MuxStop,
}

/// Every `fault = "..."` name, its kind, and the keys it takes.
const FAULTS: [(&str, Kind, &[&str]); 14] = [
    ("partition", Kind::Partition, &["a", "b"]),
    ("partition-one-way", Kind::PartitionOneWay, &["from", "to"]),
    ("heal", Kind::Heal, &["a", "b"]),
    ("crash", Kind::Crash, &["host"]),
    ("restart", Kind::Restart, &["host"]),
    ("pause", Kind::Pause, &["host"]),
    ("resume", Kind::Resume, &["host"]),
    ("nat-idle-timeout", Kind::NatIdleTimeout, &["idle_ms"]),
    (
        "latency",
        Kind::Latency,
        &["a", "b", "base_ms", "jitter_ms"],
    ),
    (
        "control-plane",
        Kind::ControlPlane,
        &["host", "workspace", "agent"],
    ),
    ("stalled-clients", Kind::StalledClients, &["host", "count"]),
    ("refresh", Kind::Refresh, &["host"]),
    ("mux-exit", Kind::MuxExit, &["host"]),
    ("mux-stop", Kind::MuxStop, &["host"]),
];

/// Nodes a network fault may name besides the `[[host]]`s.
const ENDPOINTS: [&str; 2] = ["client", "control"];

pub(super) fn entry(
    cx: &Context<'_>,
    index: usize,
    item: &Spanned<RawTimeline>,
) -> Result<TimelineEntry, ScenarioError> {
    let prefix = format!("timeline[{index}]");
    let at = at(cx, &prefix, item)?;
    let action = action(cx, &prefix, item)?;
    Ok(TimelineEntry { at, action })
}

fn at(cx: &Context<'_>, prefix: &str, item: &Spanned<RawTimeline>) -> Result<At, ScenarioError> {
    let source = &cx.source;
    let raw = item.get_ref();
    let duration = cx.duration_ms();
    let within = |value: &Spanned<u64>, field: String| {
        if u128::from(*value.get_ref()) > duration {
            Err(source.at(
                value,
                field,
                format!("{} is after sim.duration_ms ({duration})", value.get_ref()),
            ))
        } else {
            Ok(Duration::from_millis(*value.get_ref()))
        }
    };
    match (&raw.at_ms, &raw.at_range_ms) {
        (Some(at_ms), Some(range)) => {
            let (field, span) = if at_ms.span().start > range.span().start {
                ("at_ms", at_ms.span())
            } else {
                ("at_range_ms", range.span())
            };
            Err(source.error(
                span,
                format!("{prefix}.{field}"),
                "set `at_ms` or `at_range_ms`, not both",
            ))
        }
        (Some(at_ms), None) => Ok(At::Fixed(within(at_ms, format!("{prefix}.at_ms"))?)),
        (None, Some(range)) => {
            let [lo, hi] = range.get_ref().as_slice() else {
                return Err(source.at(
                    range,
                    format!("{prefix}.at_range_ms"),
                    format!("expected [lo, hi], got {} values", range.get_ref().len()),
                ));
            };
            if lo.get_ref() > hi.get_ref() {
                return Err(source.at(
                    hi,
                    format!("{prefix}.at_range_ms[1]"),
                    format!("{} is before lo ({})", hi.get_ref(), lo.get_ref()),
                ));
            }
            let lo = within(lo, format!("{prefix}.at_range_ms[0]"))?;
            let hi = within(hi, format!("{prefix}.at_range_ms[1]"))?;
            Ok(At::Range(lo, hi))
        }
        (None, None) => Err(source.at(
            item,
            format!("{prefix}.at_ms"),
            "missing field `at_ms` (or `at_range_ms`)",
        )),
    }
}

fn action(
    cx: &Context<'_>,
    prefix: &str,
    item: &Spanned<RawTimeline>,
) -> Result<Action, ScenarioError> {
    let source = &cx.source;
    let raw = item.get_ref();
    let field = |key: &str| format!("{prefix}.{key}");
    let name = raw.fault.get_ref().as_str();
    let Some(&(_, kind, allowed)) = FAULTS.iter().find(|(known, _, _)| *known == name) else {
        let known: Vec<&str> = FAULTS.iter().map(|(known, _, _)| *known).collect();
        return Err(source.at(
            &raw.fault,
            field("fault"),
            format!("unknown fault {name:?} (known: {})", known.join(", ")),
        ));
    };
    let strings = [
        ("a", &raw.a),
        ("b", &raw.b),
        ("from", &raw.from),
        ("to", &raw.to),
        ("host", &raw.host),
        ("workspace", &raw.workspace),
        ("agent", &raw.agent),
    ];
    let numbers = [
        ("idle_ms", &raw.idle_ms),
        ("base_ms", &raw.base_ms),
        ("jitter_ms", &raw.jitter_ms),
        ("count", &raw.count),
    ];
    let present = strings
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|value| (*key, value.span())))
        .chain(
            numbers
                .iter()
                .filter_map(|(key, value)| value.as_ref().map(|value| (*key, value.span()))),
        );
    let mut stray: Option<(&str, Range<usize>)> = None;
    for (key, span) in present {
        if !allowed.contains(&key)
            && stray
                .as_ref()
                .is_none_or(|(_, first)| span.start < first.start)
        {
            stray = Some((key, span));
        }
    }
    if let Some((key, span)) = stray {
        return Err(source.error(
            span,
            field(key),
            format!(
                "fault {name:?} takes no `{key}` (its keys: {})",
                allowed.join(", ")
            ),
        ));
    }

    let missing = |key: &str| {
        source.at(
            item,
            field(key),
            format!("missing field `{key}` (required for fault {name:?})"),
        )
    };
    let string = |key: &str| -> Result<&Spanned<String>, ScenarioError> {
        strings
            .iter()
            .find(|(name, _)| *name == key)
            .and_then(|(_, value)| value.as_ref())
            .ok_or_else(|| missing(key))
    };
    let number = |key: &str| -> Result<u64, ScenarioError> {
        numbers
            .iter()
            .find(|(name, _)| *name == key)
            .and_then(|(_, value)| value.as_ref())
            .map(|value| *value.get_ref())
            .ok_or_else(|| missing(key))
    };
    let optional = |key: &str, default: &str| -> Result<String, ScenarioError> {
        match string(key) {
            Ok(value) if value.get_ref().trim().is_empty() => {
                Err(source.at(value, field(key), "must not be empty"))
            }
            Ok(value) => Ok(value.get_ref().clone()),
            Err(_) => Ok(default.to_owned()),
        }
    };
    let target = |key: &str| -> Result<String, ScenarioError> {
        let host = string(key)?;
        cx.check_host(host, &field(key))?;
        Ok(host.get_ref().clone())
    };
    let endpoints = |one: &str, other: &str| -> Result<(String, String), ScenarioError> {
        let mut names = Vec::with_capacity(2);
        for key in [one, other] {
            let host = string(key)?;
            let name = host.get_ref();
            if !cx.hosts.contains(name) && !ENDPOINTS.contains(&name.as_str()) {
                return Err(source.at(
                    host,
                    field(key),
                    format!(
                        "{name:?} is not a [[host]], \"client\" or \"control\" (hosts: {})",
                        cx.host_list()
                    ),
                ));
            }
            names.push(host);
        }
        if names[0].get_ref() == names[1].get_ref() {
            return Err(source.at(
                names[1],
                field(other),
                format!("`{one}` and `{other}` are the same node"),
            ));
        }
        Ok((names[0].get_ref().clone(), names[1].get_ref().clone()))
    };

    let action = match kind {
        Kind::Partition => {
            let (a, b) = endpoints("a", "b")?;
            Action::Fault(Fault::Partition { a, b })
        }
        Kind::PartitionOneWay => {
            let (from, to) = endpoints("from", "to")?;
            Action::Fault(Fault::PartitionOneWay { from, to })
        }
        Kind::Heal => {
            let (a, b) = endpoints("a", "b")?;
            Action::Fault(Fault::Heal { a, b })
        }
        Kind::Crash => Action::Fault(Fault::Crash {
            host: target("host")?,
        }),
        Kind::Restart => Action::Fault(Fault::Restart {
            host: target("host")?,
        }),
        Kind::Pause => Action::Fault(Fault::Pause {
            host: target("host")?,
        }),
        Kind::Resume => Action::Fault(Fault::Resume {
            host: target("host")?,
        }),
        Kind::NatIdleTimeout => {
            let idle = number("idle_ms")?;
            Action::Fault(Fault::NatIdleTimeout {
                idle: (idle > 0).then(|| Duration::from_millis(idle)),
            })
        }
        Kind::Latency => {
            let (a, b) = endpoints("a", "b")?;
            for (key, value) in [("base_ms", &raw.base_ms), ("jitter_ms", &raw.jitter_ms)] {
                if let Some(ms) = value
                    .as_ref()
                    .filter(|ms| *ms.get_ref() > sshrace_core::limits::LATENCY_MS)
                {
                    return Err(source.at(
                        ms,
                        field(key),
                        format!(
                            "{} is more than the limit of {} ms",
                            ms.get_ref(),
                            sshrace_core::limits::LATENCY_MS
                        ),
                    ));
                }
            }
            let base = Duration::from_millis(number("base_ms")?);
            let jitter = Duration::from_millis(number("jitter_ms").unwrap_or(0));
            Action::Fault(Fault::Latency { a, b, base, jitter })
        }
        Kind::ControlPlane => Action::Fault(Fault::ControlPlane {
            host: target("host")?,
            workspace: optional("workspace", "RUNNING")?,
            agent: optional("agent", "CONNECTED")?,
        }),
        Kind::StalledClients => {
            let count = number("count")?;
            if count == 0 || count > 10_000 {
                let value = raw.count.as_ref().expect("count was read");
                return Err(source.at(value, field("count"), "must be between 1 and 10000"));
            }
            Action::Fault(Fault::StalledClients {
                host: target("host")?,
                count: count as u32,
            })
        }
        Kind::Refresh => Action::Refresh {
            host: target("host")?,
        },
        Kind::MuxExit => Action::MuxExit {
            host: target("host")?,
        },
        Kind::MuxStop => Action::MuxStop {
            host: target("host")?,
        },
    };
    Ok(action)
}

#[cfg(test)]
mod tests {
    use crate::fixtures::{assert_rejected, minimal_with};

    /// MINIMAL plus one timeline entry: `[[timeline]]` is line 15, its keys from line 16 on.
    fn entry(lines: &str) -> String {
        minimal_with(&format!("\n[[timeline]]\n{lines}\n"))
    }

    #[test]
    fn at_ms_after_duration_is_an_error_at_its_line() {
        assert_rejected(
            &entry("fault = \"crash\"\nhost = \"target\"\nat_ms = 90000"),
            "s.toml:18:9: timeline[0].at_ms: ",
            "90000 is after sim.duration_ms (60000)",
        );
    }

    #[test]
    fn at_range_ms_must_be_an_ordered_pair_within_the_run() {
        let range = |range: &str| {
            entry(&format!(
                "at_range_ms = {range}\nfault = \"refresh\"\nhost = \"target\""
            ))
        };
        assert_rejected(
            &range("[1, 2, 3]"),
            "s.toml:16:15: timeline[0].at_range_ms: ",
            "expected [lo, hi]",
        );
        assert_rejected(
            &range("[5, 2]"),
            "s.toml:16:19: timeline[0].at_range_ms[1]: ",
            "before lo",
        );
        assert_rejected(
            &range("[5, 60001]"),
            "s.toml:16:19: timeline[0].at_range_ms[1]: ",
            "after sim.duration_ms",
        );
        assert_rejected(
            &entry("at_ms = 1\nat_range_ms = [1, 2]\nfault = \"refresh\"\nhost = \"target\""),
            "s.toml:17:15: timeline[0].at_range_ms: ",
            "not both",
        );
        assert_rejected(
            &entry("fault = \"refresh\"\nhost = \"target\""),
            "s.toml:15:1: timeline[0].at_ms: ",
            "missing field `at_ms`",
        );
    }

    #[test]
    fn stalled_clients_take_a_target_and_a_count_from_1_to_10000() {
        assert_rejected(
            &entry("at_ms = 1\nfault = \"stalled-clients\"\nhost = \"target\"\ncount = 0"),
            "s.toml:19:9: timeline[0].count: ",
            "between 1 and 10000",
        );
        assert_rejected(
            &entry("at_ms = 1\nfault = \"stalled-clients\"\nhost = \"target\""),
            "s.toml:15:1: timeline[0].count: ",
            "missing field `count`",
        );
        let scenario = crate::Scenario::from_str(
            &entry("at_ms = 1\nfault = \"stalled-clients\"\nhost = \"target\"\ncount = 150"),
            "s.toml",
        )
        .unwrap();
        assert_eq!(
            scenario.timeline[0].action,
            crate::Action::Fault(sshrace_core::Fault::StalledClients {
                host: "target".to_owned(),
                count: 150
            })
        );
    }

    #[test]
    fn a_timeline_host_that_is_not_defined_is_an_error_at_the_name() {
        assert_rejected(
            &entry("at_ms = 1\nfault = \"crash\"\nhost = \"web\""),
            "s.toml:18:8: timeline[0].host: ",
            "\"web\" is not a [[host]]",
        );
        // client is a network endpoint, not a host that can crash.
        assert_rejected(
            &entry("at_ms = 1\nfault = \"crash\"\nhost = \"client\""),
            "s.toml:18:8: timeline[0].host: ",
            "not a [[host]]",
        );
    }

    #[test]
    fn partition_endpoints_are_hosts_client_or_control_and_differ() {
        assert_rejected(
            &entry("at_ms = 1\nfault = \"partition\"\na = \"client\"\nb = \"nat\""),
            "s.toml:19:5: timeline[0].b: ",
            "\"nat\" is not a [[host]], \"client\" or \"control\"",
        );
        assert_rejected(
            &entry("at_ms = 1\nfault = \"heal\"\na = \"target\"\nb = \"target\""),
            "s.toml:19:5: timeline[0].b: ",
            "same node",
        );
    }

    #[test]
    fn an_unknown_fault_is_an_error_listing_the_known_ones() {
        assert_rejected(
            &entry("at_ms = 1\nfault = \"explode\"\nhost = \"target\""),
            "s.toml:17:9: timeline[0].fault: ",
            "unknown fault \"explode\" (known: partition,",
        );
    }

    #[test]
    fn a_key_the_fault_does_not_take_is_an_error_at_the_key() {
        assert_rejected(
            &entry("at_ms = 1\nfault = \"crash\"\nhost = \"target\"\nidle_ms = 5"),
            "s.toml:19:11: timeline[0].idle_ms: ",
            "fault \"crash\" takes no `idle_ms` (its keys: host)",
        );
    }

    #[test]
    fn a_key_the_fault_needs_is_an_error_at_the_entry() {
        assert_rejected(
            &entry("at_ms = 1\nfault = \"latency\"\na = \"client\"\nb = \"target\""),
            "s.toml:15:1: timeline[0].base_ms: ",
            "missing field `base_ms` (required for fault \"latency\")",
        );
        assert_rejected(
            &entry("at_ms = 1\nfault = \"partition-one-way\"\nfrom = \"client\""),
            "s.toml:15:1: timeline[0].to: ",
            "missing field `to`",
        );
    }

    #[test]
    fn an_unknown_timeline_key_is_an_error_at_the_key() {
        assert_rejected(
            &entry("at_ms = 1\nfault = \"crash\"\nhosts = [\"target\"]"),
            "s.toml:18:1: timeline[0].hosts: ",
            "unknown field `hosts`",
        );
    }
}
