//! Admission to containers: whether every fault of a scenario can be applied there, and the
//! time scale it runs at (asked, or chosen so a run takes about 30 s), such that every
//! whole-second sshd setting, ControlPersist and the gaps between operations survive the
//! compression. Refusals name the fault or setting and the scale that would run it.

use std::time::Duration;

use sshrace_core::{Fault, SshdConfig};
use sshrace_scenario::{Action, Arrivals, Scenario};

/// Compressions `--time-scale auto` tries, most compressed first.
const COMPRESSIONS: [f64; 12] = [
    600.0, 300.0, 240.0, 120.0, 60.0, 30.0, 20.0, 10.0, 5.0, 4.0, 2.0, 1.0,
];

/// How long a run should take on containers when the scale is chosen automatically.
const AUTO_TARGET: Duration = Duration::from_secs(30);

/// The longest run `--time-scale auto` accepts; a scenario that cannot be compressed below it
/// is refused with the scale that runs it (give that scale to run it anyway).
const AUTO_LONGEST: Duration = Duration::from_secs(300);

/// The closest two scheduled operations of one workload may come in real time. Compression
/// shrinks the scenario's gaps but not what a real connection costs (a handshake, an `ssh`
/// process: 0.1 s idle, about 1 s under a flood on this machine's 2 cores), so below this,
/// operations that are apart in the scenario overlap on containers: a 15 s status poll at 1/120
/// polls every 0.1 s, and a mux strategy without a creation lock starts masters faster than sshd
/// finishes them, a MaxStartups storm that production never sees.
const MIN_REAL_GAP: Duration = Duration::from_millis(500);

/// Why a scenario cannot run on containers, or not at the asked scale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scenario}: not on containers: {reason}")]
pub struct Refusal {
    /// The scenario's name.
    pub scenario: String,
    /// What cannot be done, naming the fault or setting.
    pub reason: String,
}

/// The sshd settings that take whole seconds, scaled: each must stay at least one second, and
/// rounding to whole seconds may change it by at most a quarter.
fn whole_second_settings(scenario: &Scenario) -> Vec<(String, Duration)> {
    let mut settings = Vec::new();
    for host in &scenario.hosts {
        settings.push((
            format!("host {} LoginGraceTime", host.name),
            host.sshd.login_grace_time,
        ));
        if let Some(interval) = host.sshd.client_alive_interval {
            settings.push((format!("host {} ClientAliveInterval", host.name), interval));
        }
    }
    settings
}

/// Whether `setting` scaled by `scale` can be written as whole seconds.
fn honoured(setting: Duration, scale: f64) -> Result<u64, String> {
    let real = setting.as_secs_f64() * scale;
    let whole = real.round().max(1.0);
    if real < 0.75 {
        return Err(format!("{:.3} s, below sshd's 1 s resolution", real));
    }
    if (whole - real).abs() > real * 0.25 {
        return Err(format!(
            "{real:.2} s, which whole seconds ({whole} s) miss by more than 25%"
        ));
    }
    Ok(whole as u64)
}

/// The shortest ControlPersist a scaled strategy may have: OpenSSH schedules the master's exit
/// at `monotime() + N` with `monotime()` in whole seconds, so it comes 0 to 1 s early.
const PERSIST_FLOOR: Duration = Duration::from_secs(4);

/// The ControlPersist each strategy variant of `scenario` sets (`persist_ms`).
fn control_persists(scenario: &Scenario) -> Vec<(String, Duration)> {
    scenario
        .variants
        .iter()
        .filter_map(|(name, variant)| {
            let ms = variant.params.persist_ms?;
            Some((format!("strategy {name}"), Duration::from_millis(ms)))
        })
        .collect()
}

/// The smallest scheduled gap between two operations of each workload that has one: the period
/// less its jitter, or the mean gap of Poisson arrivals. Bursts and single operations have none
/// (bursts overlap on purpose), nor does a period its jitter can close up entirely.
fn workload_gaps(scenario: &Scenario) -> Vec<(String, Duration)> {
    scenario
        .workload
        .iter()
        .filter_map(|w| {
            let gap = match &w.arrivals {
                Arrivals::Periodic { every, jitter, .. } => every.saturating_sub(*jitter),
                Arrivals::Poisson { rate_per_hour, .. } => {
                    Duration::from_secs_f64(3600.0 / rate_per_hour)
                }
                Arrivals::Once { .. } | Arrivals::Burst { .. } => Duration::ZERO,
            };
            (!gap.is_zero()).then(|| (w.name.clone(), gap))
        })
        .collect()
}

/// Check that every fault of `scenario` can be applied on containers and pick (or check) the
/// time scale. `asked` is `None` for automatic: the most compression (up to 600x) that fits the
/// run into about 30 s, that every whole-second sshd setting honours and that keeps each
/// workload's operations [`MIN_REAL_GAP`] apart; a run that would still take over
/// [`AUTO_LONGEST`] is refused, naming the scale to ask for.
pub fn plan_docker(scenario: &Scenario, asked: Option<f64>) -> Result<f64, Refusal> {
    let refuse = |reason: String| Refusal {
        scenario: scenario.name.clone(),
        reason,
    };
    let targets: Vec<&str> = scenario.hosts.iter().map(|h| h.name.as_str()).collect();
    for event in &scenario.plan(0).events {
        if let Action::Fault(fault) = &event.action {
            supported(fault, &targets).map_err(refuse)?;
        }
    }
    let settings = whole_second_settings(scenario);
    let persists = control_persists(scenario);
    let gaps = workload_gaps(scenario);
    let check = |scale: f64| -> Result<(), String> {
        for (name, value) in &settings {
            honoured(*value, scale).map_err(|why| {
                format!(
                    "{name} {} s at time scale 1/{:.0} is {why}; use a time scale of at least 1/{:.0}",
                    value.as_secs_f64(),
                    1.0 / scale,
                    (value.as_secs_f64()).floor().max(1.0)
                )
            })?;
        }
        for (name, persist) in &persists {
            let real = persist.as_secs_f64() * scale;
            if real < PERSIST_FLOOR.as_secs_f64() {
                return Err(format!(
                    "{name} ControlPersist {} s at time scale 1/{:.0} is {real:.2} s; OpenSSH counts it on a whole-second clock and ends it up to 1 s early, more than 25% under {} s; use a time scale of at least 1/{:.0}",
                    persist.as_secs_f64(),
                    1.0 / scale,
                    PERSIST_FLOOR.as_secs(),
                    (persist.as_secs_f64() / PERSIST_FLOOR.as_secs_f64())
                        .floor()
                        .max(1.0)
                ));
            }
        }
        for (name, gap) in &gaps {
            let real = gap.as_secs_f64() * scale;
            if real < MIN_REAL_GAP.as_secs_f64() {
                return Err(format!(
                    "workload {name}: operations {} s apart become {real:.3} s apart at time scale 1/{:.0}, under the {} s a real connection needs not to overlap the next one; use a time scale of at least 1/{:.0}",
                    gap.as_secs_f64(),
                    1.0 / scale,
                    MIN_REAL_GAP.as_secs_f64(),
                    (gap.as_secs_f64() / MIN_REAL_GAP.as_secs_f64())
                        .floor()
                        .max(1.0)
                ));
            }
        }
        Ok(())
    };
    match asked {
        Some(scale) => {
            if !(scale > 0.0 && scale <= 1.0) {
                return Err(refuse(format!(
                    "time scale {scale} is not in (0, 1] (1/60 compresses a minute into a second)"
                )));
            }
            check(scale).map_err(refuse)?;
            Ok(scale)
        }
        None => {
            let length = (scenario.sim.duration.as_secs_f64()).max(1.0);
            let wanted = (length / AUTO_TARGET.as_secs_f64()).clamp(1.0, 600.0);
            let mut tried = COMPRESSIONS
                .iter()
                .filter(|c| **c <= wanted.max(1.0) * 1.0001 || **c == 1.0)
                .map(|c| 1.0 / c);
            let mut why_not_more = None;
            let scale = loop {
                let Some(scale) = tried.next() else {
                    return Err(refuse(check(1.0).unwrap_err()));
                };
                match check(scale) {
                    Ok(()) => break scale,
                    Err(why) => why_not_more = Some(why),
                }
            };
            let real = length * scale;
            if real > AUTO_LONGEST.as_secs_f64() {
                return Err(refuse(format!(
                    "at time scale 1/{:.0}, the most compression it allows, a run takes {real:.0} s, over the {} s --time-scale auto accepts ({}); give --time-scale 1/{:.0} to run it anyway",
                    1.0 / scale,
                    AUTO_LONGEST.as_secs(),
                    why_not_more
                        .unwrap_or_else(|| "sshrace compresses at most 600 times".to_owned()),
                    1.0 / scale
                )));
            }
            Ok(scale)
        }
    }
}

/// Whether the nemesis can apply `fault`; the reason names the fault when not.
fn supported(fault: &Fault, targets: &[&str]) -> Result<(), String> {
    let is_target = |h: &str| targets.contains(&h);
    let client_side = |h: &str| h == "client" || h == "control";
    match fault {
        Fault::Partition { a, b } | Fault::Heal { a, b } | Fault::Latency { a, b, .. } => {
            if (is_target(a) && client_side(b)) || (is_target(b) && client_side(a)) {
                Ok(())
            } else {
                Err(format!(
                    "fault `{}` between {a} and {b}: containers only fault the path between the client (or control plane) and a target",
                    fault_name(fault)
                ))
            }
        }
        Fault::PartitionOneWay { from, to } => {
            if (is_target(from) && client_side(to)) || (is_target(to) && client_side(from)) {
                Ok(())
            } else {
                Err(format!(
                    "fault `partition-one-way` from {from} to {to}: only client <-> target paths"
                ))
            }
        }
        Fault::Crash { .. }
        | Fault::Restart { .. }
        | Fault::Pause { .. }
        | Fault::Resume { .. }
        | Fault::NatIdleTimeout { .. }
        | Fault::StalledClients { .. }
        | Fault::ControlPlane { .. } => Ok(()),
    }
}

fn fault_name(fault: &Fault) -> &'static str {
    Action::Fault(fault.clone()).name()
}

/// The scenario's sshd settings with every duration scaled.
pub(crate) fn scaled_sshd(sshd: &SshdConfig, scale: f64) -> SshdConfig {
    let whole = |d: Duration| Duration::from_secs(honoured(d, scale).unwrap_or(1));
    SshdConfig {
        login_grace_time: whole(sshd.login_grace_time),
        client_alive_interval: sshd.client_alive_interval.map(whole),
        ..sshd.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::from_str(text, "test.toml").expect("valid scenario")
    }

    #[test]
    fn auto_scale_fits_the_run_and_honours_whole_seconds() {
        let long = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 3_600_000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"w\"\nhost = \"target\"\nevery_ms = 60_000\nduration_ms = 1_000\n",
        );
        // 1 h into ~30 s wants 120x; LoginGraceTime 120 s becomes 1 s: allowed.
        assert_eq!(plan_docker(&long, None).unwrap(), 1.0 / 120.0);
        // 1/600 would make LoginGraceTime 0.2 s: refused, naming the setting.
        let refusal = plan_docker(&long, Some(1.0 / 600.0)).unwrap_err();
        assert!(refusal.reason.contains("LoginGraceTime"), "{refusal}");
        let bad = plan_docker(&long, Some(2.0)).unwrap_err();
        assert!(bad.reason.contains("not in (0, 1]"), "{bad}");
    }

    /// Every built-in scenario runs at the automatic scale except deploy-age-recycle: its 15 s
    /// (less 5 s jitter) status poll keeps it at 1/20 at most, 12 minutes a run, so `auto`
    /// refuses it and names the scale that runs it, which is then accepted as asked.
    #[test]
    fn every_built_in_scenario_runs_on_containers_or_names_the_scale_that_runs_it() {
        let mut refused = Vec::new();
        for builtin in sshrace_runner::builtin_scenarios() {
            let scenario = builtin.parse().unwrap();
            match plan_docker(&scenario, None) {
                Ok(scale) => {
                    assert!(scale > 0.0 && scale <= 1.0, "{}: {scale}", builtin.name);
                    let real = scenario.sim.duration.as_secs_f64() * scale;
                    assert!(real <= AUTO_LONGEST.as_secs_f64(), "{}", builtin.name);
                }
                Err(refusal) => {
                    let asked = refusal
                        .reason
                        .rsplit_once("give --time-scale 1/")
                        .and_then(|(_, rest)| rest.split(' ').next()?.parse::<f64>().ok())
                        .unwrap_or_else(|| panic!("names no scale: {refusal}"));
                    assert_eq!(plan_docker(&scenario, Some(1.0 / asked)), Ok(1.0 / asked));
                    refused.push((builtin.name, refusal.reason));
                }
            }
        }
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert_eq!(refused[0].0, "deploy-age-recycle");
        assert!(
            refused[0].1.contains("at time scale 1/20")
                && refused[0].1.contains("a run takes 720 s")
                && refused[0]
                    .1
                    .contains("workload status-poll: operations 10 s apart"),
            "{}",
            refused[0].1
        );
    }

    #[test]
    fn a_control_persist_under_4_real_seconds_refuses_the_scale() {
        let persist = scenario(
            "description = \"d\"\nstrategies = [\"persist-60\"]\n[sim]\nduration_ms = 1_800_000\n[[host]]\nname = \"target\"\n[strategy.persist-60]\nbase = \"mux-exit\"\npersist_ms = 60_000\n[[workload]]\nname = \"w\"\nhost = \"target\"\nat_ms = 1_000\nduration_ms = 100\n",
        );
        let refusal = plan_docker(&persist, Some(1.0 / 60.0)).unwrap_err();
        assert!(
            refusal
                .reason
                .contains("strategy persist-60 ControlPersist 60 s at time scale 1/60 is 1.00 s")
                && refusal.reason.contains("at least 1/15"),
            "{refusal}"
        );
        assert_eq!(plan_docker(&persist, Some(1.0 / 15.0)), Ok(1.0 / 15.0));
        // auto: 1800 s wants 1/60; 1/20 leaves 3 s, 1/10 leaves 6 s.
        assert_eq!(plan_docker(&persist, None), Ok(0.1));
    }

    #[test]
    fn operations_closer_than_a_real_connection_refuse_the_scale() {
        let poll = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 600_000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"poll\"\nhost = \"target\"\nevery_ms = 10_000\njitter_ms = 2_000\nduration_ms = 100\n",
        );
        // 8 s apart at most compression 16: 1/10 keeps them 0.8 s apart, 1/20 0.4 s.
        assert_eq!(plan_docker(&poll, Some(0.1)), Ok(0.1));
        let refusal = plan_docker(&poll, Some(0.05)).unwrap_err();
        assert!(
            refusal
                .reason
                .contains("workload poll: operations 8 s apart become 0.400 s apart")
                && refusal.reason.contains("at least 1/16"),
            "{refusal}"
        );
        // 600 s wants 1/20 for ~30 s; the poll allows 1/10 (60 s), which auto accepts.
        assert_eq!(plan_docker(&poll, None), Ok(0.1));
        // A burst has no gap: it may be compressed as far as the rest allows.
        let burst = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 600_000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"flood\"\nhost = \"target\"\nat_ms = 1_000\nburst = 50\nduration_ms = 100\n",
        );
        assert_eq!(plan_docker(&burst, None), Ok(1.0 / 20.0));
    }

    #[test]
    fn faults_between_two_targets_are_refused_by_name() {
        let two = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 60_000\n[[host]]\nname = \"a\"\n[[host]]\nname = \"b\"\n[[workload]]\nname = \"w\"\nhost = \"a\"\nevery_ms = 10_000\nduration_ms = 1_000\n[[timeline]]\nat_ms = 1_000\nfault = \"partition\"\na = \"a\"\nb = \"b\"\n",
        );
        let refusal = plan_docker(&two, None).unwrap_err();
        assert!(
            refusal.reason.contains("`partition` between a and b"),
            "{refusal}"
        );
    }
}
