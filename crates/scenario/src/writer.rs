//! A scenario back to scenario-file TOML.

use std::fmt::Write as _;
use std::time::Duration;

use sshrace_core::Fault;

use crate::{Action, Arrivals, At, CommandTemplate, Scenario, WorkloadKind};

impl Scenario {
    /// The scenario as a scenario file: every key written out, defaults included, so that
    /// [`Scenario::from_str`] reads it back to an equal scenario.
    pub fn to_toml(&self) -> String {
        let mut out = Toml::default();
        out.kv("name", string(&self.name));
        out.kv("description", string(&self.description));
        out.kv(
            "strategies",
            array(self.strategies.iter().map(|s| string(s))),
        );
        out.kv(
            "seeds",
            array(self.seeds.iter().map(|&seed| match i64::try_from(seed) {
                Ok(_) => seed.to_string(),
                Err(_) => string(&format!("{seed:#x}")),
            })),
        );
        out.kv("profile", string(self.profile.name()));
        out.kv("failing", array(self.failing.iter().map(|k| string(k))));

        out.header("[sim]");
        out.kv("duration_ms", ms(self.sim.duration));
        out.kv("tick_ms", ms(self.sim.tick));
        out.kv("idle_tick_ms", ms(self.sim.idle_tick));
        out.kv("latency_ms", ms(self.sim.latency));
        out.kv("jitter_ms", ms(self.sim.jitter));

        for host in &self.hosts {
            let sshd = &host.sshd;
            let m = sshd.max_startups;
            out.header("[[host]]");
            out.kv("name", string(&host.name));
            out.kv(
                "max_startups",
                string(&format!("{}:{}:{}", m.start, m.rate, m.full)),
            );
            out.kv("max_sessions", sshd.max_sessions.to_string());
            out.kv("login_grace_time_ms", ms(sshd.login_grace_time));
            out.kv(
                "client_alive_interval_ms",
                sshd.client_alive_interval.map_or("0".to_owned(), ms),
            );
            out.kv(
                "client_alive_count_max",
                sshd.client_alive_count_max.to_string(),
            );
            out.kv("handshake_cost_ms", ms(sshd.handshake_cost));
            out.kv("handshake_workers", sshd.handshake_workers.to_string());
            out.kv(
                "revoked_identities",
                array(sshd.revoked_identities.iter().map(|s| string(s))),
            );
        }

        for (name, variant) in &self.variants {
            out.header(&format!("[strategy.{}]", key(name)));
            out.kv("base", string(&variant.base));
            if let Ok(params) = toml::Table::try_from(&variant.params) {
                for (param, value) in &params {
                    out.kv(&key(param), value.to_string());
                }
            }
        }

        for workload in &self.workload {
            out.header("[[workload]]");
            out.kv("name", string(&workload.name));
            match &workload.kind {
                WorkloadKind::Command { host, .. } => {
                    out.kv("kind", string("command"));
                    out.kv("host", string(host));
                }
                WorkloadKind::Interactive { host, .. } => {
                    out.kv("kind", string("interactive"));
                    out.kv("host", string(host));
                }
                WorkloadKind::Job { hosts, .. } => {
                    out.kv("kind", string("job"));
                    out.kv("hosts", array(hosts.iter().map(|s| string(s))));
                }
            }
            out.kv("purpose", string(workload.purpose.name()));
            out.kv("retryable", workload.retryable.to_string());
            out.kv("measured", workload.measured.to_string());
            if let Some(timeout) = workload.timeout {
                out.kv("timeout_ms", ms(timeout));
            }
            out.kv("identity", string(&workload.identity));
            match &workload.arrivals {
                Arrivals::Once { at } => out.kv("at_ms", ms(*at)),
                Arrivals::Burst { at, count } => {
                    out.kv("burst", count.to_string());
                    out.kv("at_ms", ms(*at));
                }
                Arrivals::Periodic {
                    start,
                    every,
                    until,
                    jitter,
                } => {
                    out.kv("every_ms", ms(*every));
                    out.kv("start_ms", ms(*start));
                    out.kv("until_ms", ms(*until));
                    out.kv("jitter_ms", ms(*jitter));
                }
                Arrivals::Poisson {
                    start,
                    until,
                    rate_per_hour,
                } => {
                    out.kv("rate_per_hour", float(*rate_per_hour));
                    out.kv("start_ms", ms(*start));
                    out.kv("until_ms", ms(*until));
                }
            }
            match &workload.kind {
                WorkloadKind::Command { command, .. }
                | WorkloadKind::Interactive { command, .. } => {
                    out.command(command);
                }
                WorkloadKind::Job { steps, .. } => {
                    for step in steps {
                        out.header("[[workload.step]]");
                        out.kv("name", string(&step.name));
                        out.command(&step.command);
                    }
                }
            }
        }

        for entry in &self.timeline {
            out.header("[[timeline]]");
            match entry.at {
                At::Fixed(at) => out.kv("at_ms", ms(at)),
                At::Range(lo, hi) => out.kv("at_range_ms", array([ms(lo), ms(hi)].into_iter())),
            }
            out.kv("fault", string(entry.action.name()));
            match &entry.action {
                Action::Fault(Fault::Partition { a, b } | Fault::Heal { a, b }) => {
                    out.kv("a", string(a));
                    out.kv("b", string(b));
                }
                Action::Fault(Fault::PartitionOneWay { from, to }) => {
                    out.kv("from", string(from));
                    out.kv("to", string(to));
                }
                Action::Fault(
                    Fault::Crash { host }
                    | Fault::Restart { host }
                    | Fault::Pause { host }
                    | Fault::Resume { host },
                )
                | Action::Refresh { host }
                | Action::MuxExit { host }
                | Action::MuxStop { host } => out.kv("host", string(host)),
                Action::Fault(Fault::NatIdleTimeout { idle }) => {
                    out.kv("idle_ms", idle.map_or("0".to_owned(), ms));
                }
                Action::Fault(Fault::Latency { a, b, base, jitter }) => {
                    out.kv("a", string(a));
                    out.kv("b", string(b));
                    out.kv("base_ms", ms(*base));
                    out.kv("jitter_ms", ms(*jitter));
                }
                Action::Fault(Fault::StalledClients { host, count }) => {
                    out.kv("host", string(host));
                    out.kv("count", count.to_string());
                }
                Action::Fault(Fault::ControlPlane {
                    host,
                    workspace,
                    agent,
                }) => {
                    out.kv("host", string(host));
                    out.kv("workspace", string(workspace));
                    out.kv("agent", string(agent));
                }
            }
        }

        for expectation in &self.expectations {
            out.header("[[expect]]");
            out.kv("strategy", string(&expectation.strategy));
            out.kv("max_failure_rate", float(expectation.max_failure_rate));
        }
        out.text
    }
}

/// The file being written.
#[derive(Default)]
struct Toml {
    text: String,
}

impl Toml {
    fn kv(&mut self, key: &str, value: String) {
        let _ = writeln!(self.text, "{key} = {value}");
    }

    fn header(&mut self, header: &str) {
        let _ = write!(self.text, "\n{header}\n");
    }

    fn command(&mut self, command: &CommandTemplate) {
        self.kv("duration_ms", ms(command.duration));
        self.kv("duration_jitter_ms", ms(command.duration_jitter));
        self.kv("exit_code", command.exit_code.to_string());
        self.kv("fail_probability", float(command.fail_probability));
        self.kv("stdout_bytes", command.stdout_bytes.to_string());
        self.kv("stderr_bytes", command.stderr_bytes.to_string());
        self.kv("chunks", command.chunks.to_string());
        self.kv("hang", command.hang.to_string());
    }
}

/// A TOML string literal.
fn string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A TOML float literal (always with a `.` or exponent, so it reads back as a float).
fn float(value: f64) -> String {
    toml::Value::Float(value).to_string()
}

/// Whole milliseconds.
fn ms(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// `[a, b]`.
fn array(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

/// A key, bare when TOML allows it, else quoted.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { name.to_owned() } else { string(name) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bare_when_toml_allows_and_quoted_otherwise() {
        assert_eq!(key("coolify-3600"), "coolify-3600");
        assert_eq!(key("a.b"), "\"a.b\"");
        assert_eq!(key(""), "\"\"");
    }

    #[test]
    fn floats_always_read_back_as_floats() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.05), "0.05");
    }
}

#[cfg(test)]
mod round_trip {
    use crate::Scenario;
    use crate::fixtures::{COMPLETE, MINIMAL};

    #[test]
    fn to_toml_round_trips_the_complete_file() {
        let scenario = Scenario::from_str(COMPLETE, "scenarios/complete.toml").expect("valid");
        let written = scenario.to_toml();
        let again = Scenario::from_str(&written, "scenarios/complete.toml")
            .unwrap_or_else(|error| panic!("{error}\n{written}"));
        assert_eq!(again, scenario);
        assert_eq!(again.to_toml(), written);
    }

    #[test]
    fn to_toml_round_trips_defaults_and_awkward_strings() {
        let mut scenario = Scenario::from_str(MINIMAL, "minimal.toml").expect("valid");
        scenario.description = "quotes \" and \\ and\nnewlines, é".to_owned();
        scenario.seeds = vec![0, i64::MAX as u64, u64::MAX];
        let written = scenario.to_toml();
        let again = Scenario::from_str(&written, "minimal.toml")
            .unwrap_or_else(|error| panic!("{error}\n{written}"));
        assert_eq!(again, scenario);
    }
}
