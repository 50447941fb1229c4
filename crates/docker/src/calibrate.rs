//! Calibration: each modelled OpenSSH behaviour, isolated in a small timeline
//! (`scenarios/calibration/`), measured on the simulation and on real OpenSSH in containers with
//! the same seeds, side by side with 95% intervals and a verdict.
//!
//! A fraction (MaxStartups drops, sessions killed) agrees when the two Wilson intervals overlap;
//! a timing (seconds until a keepalive gives up) agrees when the means differ by at most the
//! probe's stated tolerance. Rows that cannot agree for a known reason carry a note.

use std::time::Duration;

use sshrace_core::{Cause, ConnectionEnd, Outcome, StalledConnection};
use sshrace_scenario::Scenario;

use sshrace_runner::{Registry, RunError, RunResult, paired_t, run_one, scaled_params, wilson};

use crate::backend::{Client, DockerRun, run_docker};
use crate::image::OpenSshProfile;

/// What a probe measures in one run.
#[derive(Debug, Clone, Copy)]
pub enum Measure {
    /// Measured operations whose outcome satisfies the predicate, out of all measured ones.
    Fraction(fn(Outcome) -> bool),
    /// A duration in scenario seconds read off the run, if the run shows it.
    Seconds(fn(&RunResult) -> Option<f64>),
    /// The timeline's stalled connections that satisfy the predicate, out of all of them.
    Stalled(fn(&StalledConnection) -> bool),
}

/// One isolated behaviour.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Short id (`max-startups-80`).
    pub id: &'static str,
    /// What is measured, in words.
    pub behaviour: &'static str,
    /// The scenario file's text (`scenarios/calibration/*.toml`).
    pub scenario: &'static str,
    /// Its path, for messages.
    pub path: &'static str,
    /// The strategy.
    pub strategy: &'static str,
    /// The client transport on containers.
    pub client: Client,
    /// Time scale on containers.
    pub time_scale: f64,
    /// What is measured.
    pub measure: Measure,
    /// For timings: the largest difference of means that still agrees (seconds).
    pub tolerance: f64,
    /// Only for this OpenSSH version (`None`: every version).
    pub only: Option<OpenSshProfile>,
    /// Why the backends disagree where they are known to (shown only when they do).
    pub note: &'static str,
}

/// A value with its 95% interval and sample size.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// Point estimate (fraction or seconds).
    pub value: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
    /// Trials (fractions) or runs (timings) behind it.
    pub n: u64,
}

/// One row of the calibration table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CalibrationRow {
    /// Probe id.
    pub probe: String,
    /// The behaviour, in words.
    pub behaviour: String,
    /// `openssh-9.2` or `openssh-10.0`.
    pub profile: String,
    /// The client on containers: `ssh 9.2p1 (host)`, `openssh-10.0 (OpenSSH_10.0p2 Debian-7)`
    /// or `russh`.
    pub client: String,
    /// `fraction` or `seconds`.
    pub unit: String,
    /// The simulation's value.
    pub sim: Estimate,
    /// Real OpenSSH's value (`None`: not run).
    pub real: Option<Estimate>,
    /// Whether they agree (intervals overlap, or means within the tolerance).
    pub agree: Option<bool>,
    /// The agreement rule.
    pub rule: String,
    /// What explains a disagreement, when known.
    pub note: String,
}

macro_rules! calibration {
    ($file:literal) => {
        (
            include_str!(concat!("../../../scenarios/calibration/", $file)),
            concat!("scenarios/calibration/", $file),
        )
    };
}

fn killed(outcome: Outcome) -> bool {
    outcome.is_failure()
}

fn dropped_before_banner(outcome: Outcome) -> bool {
    outcome == Outcome::Transport(Cause::ClosedBeforeBanner)
}

fn succeeded(outcome: Outcome) -> bool {
    outcome == Outcome::Success
}

fn lost(outcome: Outcome) -> bool {
    outcome == Outcome::Transport(Cause::ConnectionLost)
}

fn banner_timeout(outcome: Outcome) -> bool {
    outcome == Outcome::Transport(Cause::ConnectTimeout)
}

/// Shown where a MaxStartups row of authenticating clients disagrees.
const MAX_STARTUPS_NOTE: &str = "testbed, measured: these clients authenticate and free their \
slots, so the fraction depends on how long handshakes take against how fast sshd's listener \
accepts. On this 2-core machine the client's 150 handshakes and sshd share the CPUs: real \
handshakes took ~1.1 s (p50) and 10.0's listener, which forks and execs sshd-session per \
connection, spread 89 accepts over 4.9 s (9.2: 150 decisions in 2.3 s), so many clients \
authenticate before the flood ends; the model's sshd has CPU to spare. The `stalled-*` rows, \
whose clients hold their slots, isolate MaxStartups itself and agree";

/// When the partition of the timing probes begins (their files put it at 5 s).
const FAULT_AT: f64 = 5.0;

/// Healthy connects one second apart dropped before the banner: seconds locked out.
fn locked_out(run: &RunResult) -> Option<f64> {
    let dropped = run
        .measured()
        .filter(|(_, outcome)| *outcome == Outcome::Transport(Cause::ClosedBeforeBanner))
        .count();
    Some(dropped as f64)
}

fn client_gave_up(run: &RunResult) -> Option<f64> {
    let (record, outcome) = run.measured().next()?;
    (*outcome == Outcome::Transport(Cause::KeepaliveTimeout))
        .then(|| record.finished.map(|f| f.as_secs_f64() - FAULT_AT))
        .flatten()
}

fn stalled_dropped(connection: &StalledConnection) -> bool {
    connection.dropped()
}

/// Mean seconds from a stalled client's connect to sshd closing it.
fn grace_held(run: &RunResult) -> Option<f64> {
    let held: Vec<f64> = run
        .stalled
        .iter()
        .filter_map(|c| c.held_for().map(|d| d.as_secs_f64()))
        .collect();
    (!held.is_empty()).then(|| held.iter().sum::<f64>() / held.len() as f64)
}

fn server_reaped(run: &RunResult) -> Option<f64> {
    let ledger = run.ledger.as_ref()?;
    ledger
        .connections
        .iter()
        .find(|c| c.end == Some(ConnectionEnd::ClientAliveTimeout))
        .and_then(|c| c.ended_at)
        .map(|at| at.as_secs_f64() - FAULT_AT)
}

/// The ControlPersist of `control-persist-expiry` (its strategy's `persist_ms`).
const PERSIST_SECS: u64 = 4;

/// Seconds from the one command's end to its idle master's exit: the OpenSSH transport traces
/// `c{id}: closed (ControlPersist 4s idle)` when the backgrounded master is gone, the
/// simulation's transport `c{id}: ControlPersist 4s idle: master exits` when the master decides
/// to (then `closed` once it has).
fn persist_expired(run: &RunResult) -> Option<f64> {
    let (record, outcome) = run.measured().next()?;
    if *outcome != Outcome::Success {
        return None;
    }
    let ended = record.finished?;
    let idle = format!("ControlPersist {PERSIST_SECS}s idle");
    let exits = format!("{idle}: master exits");
    let closed = format!("closed ({idle})");
    run.trace
        .as_ref()?
        .events()
        .into_iter()
        .find(|e| e.host == "client" && (e.what.ends_with(&exits) || e.what.ends_with(&closed)))
        .map(|e| e.at.as_secs_f64() - ended.as_secs_f64())
}

/// The calibration suite.
pub fn probes() -> Vec<Probe> {
    let fraction = |id,
                    behaviour,
                    (scenario, path): (&'static str, &'static str),
                    strategy,
                    client,
                    time_scale,
                    measure| Probe {
        id,
        behaviour,
        scenario,
        path,
        strategy,
        client,
        time_scale,
        measure: Measure::Fraction(measure),
        tolerance: 0.0,
        only: None,
        note: if id.starts_with("max-startups") {
            MAX_STARTUPS_NOTE
        } else {
            ""
        },
    };
    let stalled = |id, behaviour, (scenario, path): (&'static str, &'static str)| Probe {
        id,
        behaviour,
        scenario,
        path,
        strategy: "fresh",
        client: Client::Russh,
        time_scale: 1.0,
        measure: Measure::Stalled(stalled_dropped),
        tolerance: 0.0,
        only: None,
        note: "",
    };
    vec![
        fraction(
            "max-startups-20",
            "MaxStartups 10:30:100: fraction of 20 parallel connections dropped",
            calibration!("max-startups-20.toml"),
            "fresh",
            Client::Russh,
            1.0,
            dropped_before_banner,
        ),
        fraction(
            "max-startups-50",
            "MaxStartups 10:30:100: fraction of 50 parallel connections dropped",
            calibration!("max-startups-50.toml"),
            "fresh",
            Client::Russh,
            1.0,
            dropped_before_banner,
        ),
        fraction(
            "max-startups-80",
            "MaxStartups 10:30:100: fraction of 80 parallel connections dropped",
            calibration!("max-startups-80.toml"),
            "fresh",
            Client::Russh,
            1.0,
            dropped_before_banner,
        ),
        fraction(
            "max-startups-150",
            "MaxStartups 10:30:100: fraction of 150 parallel connections dropped",
            calibration!("max-startups-150.toml"),
            "fresh",
            Client::Russh,
            1.0,
            dropped_before_banner,
        ),
        stalled(
            "stalled-20",
            "MaxStartups 10:30:100: fraction of 20 parallel stalled (unauthenticated) connections dropped",
            calibration!("stalled-20.toml"),
        ),
        stalled(
            "stalled-50",
            "MaxStartups 10:30:100: fraction of 50 parallel stalled (unauthenticated) connections dropped",
            calibration!("stalled-50.toml"),
        ),
        stalled(
            "stalled-80",
            "MaxStartups 10:30:100: fraction of 80 parallel stalled (unauthenticated) connections dropped",
            calibration!("stalled-80.toml"),
        ),
        stalled(
            "stalled-150",
            "MaxStartups 10:30:100: fraction of 150 parallel stalled (unauthenticated) connections dropped",
            calibration!("stalled-150.toml"),
        ),
        Probe {
            id: "login-grace",
            behaviour: "LoginGraceTime 2 s: seconds until sshd closes a client stalled before its banner (mean of 5)",
            scenario: calibration!("login-grace.toml").0,
            path: calibration!("login-grace.toml").1,
            strategy: "fresh",
            client: Client::Russh,
            time_scale: 1.0,
            measure: Measure::Seconds(grace_held),
            // 10.0 adds 0-4 s of jitter per connection: a mean of 5 has sd ~0.5 s.
            tolerance: 1.0,
            only: None,
            note: "",
        },
        fraction(
            "max-sessions-11th",
            "MaxSessions 10: 13 parallel commands over one master, fraction that succeed",
            calibration!("max-sessions-11th.toml"),
            "mux-stop",
            Client::OpenSsh,
            1.0,
            succeeded,
        ),
        fraction(
            "mux-exit-kills",
            "ssh -O exit with a command in flight: fraction killed",
            calibration!("mux-exit-vs-stop.toml"),
            "mux-exit",
            Client::OpenSsh,
            0.5,
            killed,
        ),
        fraction(
            "mux-stop-drains",
            "ssh -O stop with a command in flight: fraction killed",
            calibration!("mux-exit-vs-stop.toml"),
            "mux-stop",
            Client::OpenSsh,
            0.5,
            killed,
        ),
        fraction(
            "crash-mid-session",
            "host crash under a running command: fraction lost with 255",
            calibration!("crash-mid-session.toml"),
            "fresh",
            Client::OpenSsh,
            0.5,
            lost,
        ),
        fraction(
            "pause-banner-timeout",
            "sshd paused: fraction of connects that time out in the banner exchange",
            calibration!("pause-banner.toml"),
            "fresh",
            Client::OpenSsh,
            0.2,
            banner_timeout,
        ),
        Probe {
            id: "keepalive-blackhole",
            behaviour: "ServerAliveInterval 1 s x 3 on a blackholed path: seconds to exit 255",
            scenario: calibration!("keepalive-blackhole.toml").0,
            path: calibration!("keepalive-blackhole.toml").1,
            strategy: "pool-keepalive-1s",
            client: Client::OpenSsh,
            time_scale: 1.0,
            measure: Measure::Seconds(client_gave_up),
            tolerance: 1.0,
            only: None,
            note: "",
        },
        Probe {
            id: "control-persist-expiry",
            behaviour: "ControlPersist 4 s: seconds from the last session's end to the idle master's exit",
            scenario: calibration!("control-persist-expiry.toml").0,
            path: calibration!("control-persist-expiry.toml").1,
            strategy: "persist-4",
            client: Client::OpenSsh,
            time_scale: 1.0,
            measure: Measure::Seconds(persist_expired),
            // OpenSSH's whole-second clock puts the exit anywhere in (3, 4] s.
            tolerance: 1.0,
            only: None,
            note: "",
        },
        Probe {
            id: "client-alive-reap",
            behaviour: "ClientAliveInterval 1 s x 3 with the client gone: seconds to sshd closing",
            scenario: calibration!("client-alive-reap.toml").0,
            path: calibration!("client-alive-reap.toml").1,
            strategy: "fresh",
            client: Client::Russh,
            time_scale: 1.0,
            measure: Measure::Seconds(server_reaped),
            // One probe period: OpenSSH probes a quiet client every 2 x interval, and where the
            // cut falls between two probes differs from run to run.
            tolerance: 2.0,
            only: None,
            note: "",
        },
        Probe {
            id: "penalty-lockout",
            behaviour: "PerSourcePenalties: seconds locked out after 4 failed logins from the shared address",
            scenario: calibration!("penalty-lockout.toml").0,
            path: calibration!("penalty-lockout.toml").1,
            strategy: "fresh",
            client: Client::OpenSsh,
            time_scale: 1.0,
            measure: Measure::Seconds(locked_out),
            // Connects are one second apart and the first failure's timing differs by about a
            // second between the backends.
            tolerance: 3.0,
            only: Some(OpenSshProfile::OpenSsh100),
            note: "",
        },
    ]
}

/// The fraction of `hits` that are true, with its 95% Wilson interval.
fn pooled_fraction(hits: impl Iterator<Item = bool>) -> Estimate {
    let (hits, trials) = hits.fold((0u64, 0u64), |(hits, trials), hit| {
        (hits + u64::from(hit), trials + 1)
    });
    let (low, high) = wilson(hits, trials);
    Estimate {
        value: if trials == 0 {
            0.0
        } else {
            hits as f64 / trials as f64
        },
        low,
        high,
        n: trials,
    }
}

/// Per-run measurements pooled into an estimate.
fn estimate(measure: Measure, runs: &[RunResult]) -> Estimate {
    match measure {
        Measure::Fraction(predicate) => pooled_fraction(
            runs.iter()
                .flat_map(|r| r.measured())
                .map(|(_, outcome)| predicate(*outcome)),
        ),
        Measure::Stalled(predicate) => {
            pooled_fraction(runs.iter().flat_map(|r| r.stalled.iter()).map(predicate))
        }
        Measure::Seconds(read) => {
            let values: Vec<f64> = runs.iter().filter_map(read).collect();
            let n = values.len() as u64;
            match (values.len(), paired_t(&values)) {
                (0, _) => Estimate {
                    value: f64::NAN,
                    low: f64::NAN,
                    high: f64::NAN,
                    n,
                },
                (_, Some(t)) => Estimate {
                    value: t.mean,
                    low: t.ci_low,
                    high: t.ci_high,
                    n,
                },
                (_, None) => Estimate {
                    value: values[0],
                    low: values[0],
                    high: values[0],
                    n,
                },
            }
        }
    }
}

/// Whether the two backends agree on `probe`, and the rule's verdict in words: what holds when
/// they agree, what fails when they do not.
fn agreement(probe: &Probe, sim: &Estimate, real: &Estimate) -> (bool, String) {
    match probe.measure {
        Measure::Fraction(_) | Measure::Stalled(_) => {
            let overlap = sim.low <= real.high && real.low <= sim.high;
            let verdict = if overlap {
                "95% Wilson intervals overlap"
            } else {
                "95% Wilson intervals do not overlap"
            };
            (overlap, verdict.to_owned())
        }
        Measure::Seconds(_) => {
            let apart = (sim.value - real.value).abs();
            if apart <= probe.tolerance {
                (true, format!("means within {} s", probe.tolerance))
            } else {
                (
                    false,
                    format!(
                        "means {apart:.2} s apart, over the {} s allowed",
                        probe.tolerance
                    ),
                )
            }
        }
    }
}

/// Run `probe` `runs` times (seeds 0..runs) on the simulation and, with `real`, on containers
/// of OpenSSH `version`, with the probe's own client (the host's `ssh` for OpenSSH probes).
pub fn calibrate_probe(
    probe: &Probe,
    version: OpenSshProfile,
    runs: u64,
    real: bool,
) -> Result<CalibrationRow, RunError> {
    calibrate_probe_with(probe, version, runs, real, probe.client)
}

/// [`calibrate_probe`] with `client` in place of the host's `ssh` when the probe's client is
/// OpenSSH (`Client::OpenSshVersion`: that version's client from its image, see
/// [`ensure_client`](crate::client::ensure_client)); a russh probe keeps russh.
pub fn calibrate_probe_with(
    probe: &Probe,
    version: OpenSshProfile,
    runs: u64,
    real: bool,
    client: Client,
) -> Result<CalibrationRow, RunError> {
    let client = if probe.client.is_openssh() && client.is_openssh() {
        client
    } else {
        probe.client
    };
    let mut scenario = Scenario::from_str(probe.scenario, probe.path)?;
    // The simulated hosts behave like the version the containers run.
    scenario.with_profile(version);
    let registry = Registry::new();
    let spec = registry.resolve(&scenario, probe.strategy, &Default::default())?;
    let sim_runs = (0..runs)
        .map(|seed| run_one(&scenario, &spec, seed, true))
        .collect::<Result<Vec<_>, _>>()?;
    let sim = estimate(probe.measure, &sim_runs);
    let (real_estimate, agree, rule) = if real {
        let scaled =
            registry.resolve(&scenario, probe.strategy, &scaled_params(probe.time_scale))?;
        let options = DockerRun {
            openssh: version,
            time_scale: probe.time_scale,
            client,
        };
        let real_runs = (0..runs)
            .map(|seed| run_docker(&scenario, &scaled, seed, &options, true))
            .collect::<Result<Vec<_>, _>>()?;
        let real = estimate(probe.measure, &real_runs);
        let (agree, rule) = agreement(probe, &sim, &real);
        (Some(real), Some(agree), rule)
    } else {
        (None, None, String::new())
    };
    Ok(CalibrationRow {
        probe: probe.id.to_owned(),
        behaviour: probe.behaviour.to_owned(),
        profile: format!("openssh-{}", version.version()),
        client: if real {
            client_label(client).map_err(|e| RunError::Backend(format!("docker: {e}")))?
        } else {
            client.name().to_owned()
        },
        unit: match probe.measure {
            Measure::Fraction(_) | Measure::Stalled(_) => "fraction".to_owned(),
            Measure::Seconds(_) => "seconds".to_owned(),
        },
        sim,
        real: real_estimate,
        note: if agree == Some(false) {
            probe.note.to_owned()
        } else {
            String::new()
        },
        agree,
        rule,
    })
}

/// How a row names its client: `ssh 9.2p1 (host)`, `openssh-10.0 (OpenSSH_10.0p2 Debian-7)`,
/// `russh`.
pub fn client_label(client: Client) -> Result<String, crate::DockerError> {
    Ok(match client {
        Client::OpenSsh => format!("ssh {} (host)", crate::client::host_ssh_version()?),
        Client::OpenSshVersion(version) => {
            let extracted = crate::client::ensure_client(version, &mut |_| {})?;
            let banner = extracted.banner.split(',').next().unwrap_or_default();
            format!("{} ({banner})", client.name())
        }
        Client::Russh => client.name().to_owned(),
    })
}

fn cell(estimate: &Estimate, unit: &str) -> String {
    if estimate.value.is_nan() {
        return format!("not observed (n={})", estimate.n);
    }
    match unit {
        "fraction" => format!(
            "{:.1}% ({:.1}-{:.1}%, n={})",
            estimate.value * 100.0,
            estimate.low * 100.0,
            estimate.high * 100.0,
            estimate.n
        ),
        _ => format!(
            "{:.2} s ({:.2}-{:.2}, n={})",
            estimate.value, estimate.low, estimate.high, estimate.n
        ),
    }
}

/// The table as markdown.
pub fn markdown(rows: &[CalibrationRow]) -> String {
    let mut out = String::from(
        "| behaviour | profile | client | simulated (95% interval) | real OpenSSH (95% interval) | agreement | note |\n|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let real = row
            .real
            .as_ref()
            .map_or("not run".to_owned(), |r| cell(r, &row.unit));
        let agree = match row.agree {
            Some(true) => format!("yes ({})", row.rule),
            Some(false) => format!("**no** ({})", row.rule),
            None => "-".to_owned(),
        };
        out.push_str(&format!(
            "| {} (`{}`) | {} | {} | {} | {} | {} | {} |\n",
            row.behaviour,
            row.probe,
            row.profile,
            row.client,
            cell(&row.sim, &row.unit),
            real,
            agree,
            row.note
        ));
    }
    out
}

/// How long a probe's run takes on containers, roughly (for progress messages).
pub fn expected_real_time(probe: &Probe) -> Duration {
    Scenario::from_str(probe.scenario, probe.path)
        .map(|s| s.sim.duration.mul_f64(probe.time_scale))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(value: f64, low: f64, high: f64) -> Estimate {
        Estimate {
            value,
            low,
            high,
            n: 10,
        }
    }

    fn probe(id: &str) -> Probe {
        probes()
            .into_iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no probe {id}"))
    }

    #[test]
    fn the_verdict_says_what_held_or_what_failed() {
        let fraction = probe("max-startups-80");
        let (agree, rule) = agreement(
            &fraction,
            &estimate(0.4, 0.3, 0.5),
            &estimate(0.45, 0.35, 0.55),
        );
        assert!(agree);
        assert_eq!(rule, "95% Wilson intervals overlap");
        let (agree, rule) = agreement(
            &fraction,
            &estimate(0.4, 0.3, 0.5),
            &estimate(0.7, 0.6, 0.8),
        );
        assert!(!agree);
        assert_eq!(rule, "95% Wilson intervals do not overlap");
        let timing = probe("login-grace");
        let (agree, rule) = agreement(&timing, &estimate(2.0, 2.0, 2.0), &estimate(2.5, 2.4, 2.6));
        assert!(agree);
        assert_eq!(rule, format!("means within {} s", timing.tolerance));
        let far = 2.0 + timing.tolerance + 0.5;
        let (agree, rule) = agreement(&timing, &estimate(2.0, 2.0, 2.0), &estimate(far, far, far));
        assert!(!agree);
        assert_eq!(
            rule,
            format!(
                "means {:.2} s apart, over the {} s allowed",
                timing.tolerance + 0.5,
                timing.tolerance
            )
        );
    }
}
