//! The validated scenario: what a file says, with every default filled in.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sshrace_core::{SshdConfig, StrategyParams};

use crate::location::Source;
use crate::{ScenarioError, TimelineEntry, Workload};

/// A validated scenario file. Build one with [`Scenario::from_str`] or [`Scenario::load`]; expand
/// it for a seed with [`Scenario::plan`]; write it back with [`Scenario::to_toml`].
///
/// Equality compares what the scenario says, not where in its file it said it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// `name`, default the file stem of [`Scenario::path`].
    pub name: String,
    /// The path the scenario was read from, as given; errors are reported under it.
    pub path: String,
    /// `description`: the incident or question the scenario is about.
    pub description: String,
    /// Strategies to compare, built-in names or [`Scenario::variants`], in file order.
    pub strategies: Vec<String>,
    /// Named strategy variants (`[strategy.NAME]`).
    pub variants: BTreeMap<String, StrategyVariant>,
    /// Regression seeds (`seeds`) to run in addition to whatever a runner chooses.
    pub seeds: Vec<u64>,
    /// The OpenSSH version the hosts behave like.
    pub profile: Profile,
    /// Which outcomes count as a failed operation (`failing`), by kind: `remote-exit`,
    /// `transport`, `timeout`, `false-disconnect`, `silent-failure`, `lost-event`. Default: all.
    /// A silent failure counts whatever this says.
    pub failing: Vec<String>,
    /// Simulation settings (`[sim]`).
    pub sim: SimSettings,
    /// Target hosts (`[[host]]`), in file order.
    pub hosts: Vec<Host>,
    /// What the client does (`[[workload]]`), in file order.
    pub workload: Vec<Workload>,
    /// What happens to the world (`[[timeline]]`), in file order.
    pub timeline: Vec<TimelineEntry>,
    /// Pass/fail bounds (`[[expect]]`).
    pub expectations: Vec<Expectation>,
    pub(crate) strategy_positions: Positions,
    /// 1-based line:column of each `[strategy.NAME]` table's name.
    pub(crate) variant_positions: VariantPositions,
}

/// Every outcome kind `failing` may name, in report order.
pub const OUTCOME_KINDS: [&str; 6] = [
    "remote-exit",
    "transport",
    "timeout",
    "false-disconnect",
    "silent-failure",
    "lost-event",
];

impl Scenario {
    /// Whether an outcome with report key `key` (`transport:closed-locally`, `timeout`, ...)
    /// counts as a failure in this scenario. Success never does; a silent failure always does.
    pub fn counts_as_failure(&self, key: &str) -> bool {
        let kind = key.split(':').next().unwrap_or(key);
        kind == "silent-failure" || (kind != "success" && self.failing.iter().any(|f| f == kind))
    }
}

/// Which OpenSSH release the simulated hosts behave like (`profile`): `"openssh-9.2"` (the
/// default) or `"openssh-10.0"`. The same type as [`sshrace_core::OpenSshProfile`].
pub type Profile = sshrace_core::OpenSshProfile;

/// `[sim]`: how a run is simulated.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSettings {
    /// Length of a run (`duration_ms`, > 0).
    pub duration: Duration,
    /// Simulation step (`tick_ms`, default 1 ms, > 0).
    pub tick: Duration,
    /// Step while nothing is in flight on the network (`idle_tick_ms`, a whole multiple of the
    /// tick, default 10 ticks; equal to the tick turns idle stepping off). The first packet
    /// after an idle stretch may wait up to this long.
    pub idle_tick: Duration,
    /// One-way network latency (`latency_ms`, default 1 ms).
    pub latency: Duration,
    /// Extra one-way latency, up to this (`jitter_ms`, default 0).
    pub jitter: Duration,
}

/// `[[host]]`: a target host and its sshd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Unique name; not `client`, `control`, `nat` or `fault`.
    pub name: String,
    /// Its sshd settings.
    pub sshd: SshdConfig,
}

/// `[strategy.NAME]`: a built-in strategy with some parameters set.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyVariant {
    /// The strategy it is a variant of (`base`).
    pub base: String,
    /// The parameters it sets (the table's other keys).
    pub params: StrategyParams,
}

/// `[[expect]]`: a bound a strategy must stay within.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// A name listed in `strategies`.
    pub strategy: String,
    /// Highest acceptable failure rate of measured operations, in `[0, 1]`.
    pub max_failure_rate: f64,
}

/// 1-based line:column of each variant's name. Not part of a scenario's value: always equal.
#[derive(Debug, Clone, Default)]
pub(crate) struct VariantPositions(pub(crate) BTreeMap<String, (usize, usize)>);

impl PartialEq for VariantPositions {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// 1-based line:column of each `strategies` entry. Not part of a scenario's value: always equal.
#[derive(Debug, Clone, Default)]
pub(crate) struct Positions(pub(crate) Vec<(usize, usize)>);

impl PartialEq for Positions {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Scenario {
    /// Parse and validate scenario `text`; `path` is where it came from, for error messages and
    /// the default name.
    pub fn from_str(text: &str, path: &str) -> Result<Scenario, ScenarioError> {
        crate::convert::scenario(Source::new(path, text))
    }

    /// Read and validate the scenario file at `path` (a `&str`, `Path` or `PathBuf`). An I/O
    /// error is reported at line 0, column 0, with no field.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        use sshrace_core::limits::SCENARIO_FILE_BYTES;
        use std::io::Read as _;
        let path = path.as_ref();
        let shown = path.display().to_string();
        let error = |line, column, message: String| ScenarioError {
            path: shown.clone(),
            line,
            column,
            field: String::new(),
            message,
        };
        let too_large = || {
            format!(
                "larger than the limit of {SCENARIO_FILE_BYTES} bytes (1 MiB) for a scenario file"
            )
        };
        let file = std::fs::File::open(path).map_err(|e| error(0, 0, e.to_string()))?;
        // The size is checked before reading: a regular file by its length, anything else
        // (`/dev/zero`, a pipe) by reading at most one byte past the limit.
        if let Ok(metadata) = file.metadata()
            && metadata.is_file()
            && metadata.len() > SCENARIO_FILE_BYTES
        {
            return Err(error(0, 0, too_large()));
        }
        let mut bytes = Vec::new();
        file.take(SCENARIO_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| error(0, 0, e.to_string()))?;
        if bytes.len() as u64 > SCENARIO_FILE_BYTES {
            return Err(error(0, 0, too_large()));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let offset = e.utf8_error().valid_up_to();
            let valid = std::str::from_utf8(&e.as_bytes()[..offset]).unwrap_or_default();
            let (line, column) = crate::location::line_column(valid, offset);
            error(
                line,
                column,
                format!("not valid UTF-8 at byte {offset}: a scenario file is UTF-8 text"),
            )
        })?;
        Scenario::from_str(&text, &shown)
    }

    /// An error about `strategies[index]`, pointing at its place in the file: for checks made
    /// later, such as a runner not knowing the strategy name. Line and column are 0 if the
    /// entry has no known place (the scenario was changed after parsing).
    pub fn strategy_error(&self, index: usize, message: impl Into<String>) -> ScenarioError {
        let (line, column) = self
            .strategy_positions
            .0
            .get(index)
            .copied()
            .unwrap_or((0, 0));
        ScenarioError {
            path: self.path.clone(),
            line,
            column,
            field: format!("strategies[{index}]"),
            message: message.into(),
        }
    }

    /// An error about the variant `[strategy.NAME]`, pointing at its name in the file (line
    /// and column 0 if it has no known place).
    pub fn variant_error(&self, name: &str, message: impl Into<String>) -> ScenarioError {
        let (line, column) = self
            .variant_positions
            .0
            .get(name)
            .copied()
            .unwrap_or((0, 0));
        ScenarioError {
            path: self.path.clone(),
            line,
            column,
            field: format!("strategy.{name}"),
            message: message.into(),
        }
    }

    /// The `[[host]]` named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|host| host.name == name)
    }

    /// The `max_failure_rate` an `[[expect]]` sets for `strategy`, if any.
    pub fn max_failure_rate(&self, strategy: &str) -> Option<f64> {
        self.expectations
            .iter()
            .find(|e| e.strategy == strategy)
            .map(|e| e.max_failure_rate)
    }

    /// Make every host behave like `profile` (the CLI's `--openssh`): sets
    /// [`Scenario::profile`] and each host's [`SshdConfig::set_profile`] (its
    /// PerSourcePenalties become that release's defaults; other settings stay as the file set
    /// them). Returns `self` for chaining.
    pub fn with_profile(&mut self, profile: Profile) -> &mut Self {
        self.profile = profile;
        for host in &mut self.hosts {
            host.sshd.set_profile(profile);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{COMPLETE, MINIMAL};
    use crate::{Action, Arrivals, At, CommandTemplate, Purpose, Step, WorkloadKind};
    use sshrace_core::{Fault, MaxStartups};

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn at(millis: u64, action: Action) -> TimelineEntry {
        TimelineEntry {
            at: At::Fixed(ms(millis)),
            action,
        }
    }

    fn expected_complete() -> Scenario {
        // The file says profile = "openssh-10.0": both hosts get its PerSourcePenalties.
        let target = SshdConfig::for_profile(Profile::OpenSsh100);
        let builder = SshdConfig {
            max_startups: MaxStartups {
                start: 20,
                rate: 100,
                full: 20,
            },
            max_sessions: 4,
            login_grace_time: ms(30_000),
            client_alive_interval: Some(ms(15_000)),
            client_alive_count_max: 2,
            handshake_cost: ms(5),
            handshake_workers: 1,
            revoked_identities: vec!["mallory".to_owned()],
            ..SshdConfig::for_profile(Profile::OpenSsh100)
        };
        let work = |name: &str, kind, arrivals| Workload {
            name: name.to_owned(),
            kind,
            purpose: Purpose::Work,
            retryable: false,
            measured: true,
            timeout: None,
            identity: "default".to_owned(),
            arrivals,
        };
        let s = |text: &str| text.to_owned();
        Scenario {
            name: s("deploy-age-recycle"),
            path: s("scenarios/complete.toml"),
            description: s("Deploys and health checks through a ControlMaster recycled by age."),
            strategies: vec![s("mux-exit"), s("coolify-3600")],
            failing: vec![s("transport"), s("timeout"), s("silent-failure")],
            variants: BTreeMap::from([(
                s("coolify-3600"),
                StrategyVariant {
                    base: s("mux-exit"),
                    params: StrategyParams {
                        max_age_ms: Some(3_600_000),
                        attempts: Some(3),
                        health_check_bypass: Some(true),
                        ..StrategyParams::default()
                    },
                },
            )]),
            seeds: vec![12, 0x7164_edcd_a800_eb69, 42],
            profile: Profile::OpenSsh100,
            sim: SimSettings {
                duration: ms(3_600_000),
                tick: ms(2),
                idle_tick: ms(20),
                latency: ms(3),
                jitter: ms(1),
            },
            hosts: vec![
                Host {
                    name: s("target"),
                    sshd: target,
                },
                Host {
                    name: s("builder"),
                    sshd: builder,
                },
            ],
            workload: vec![
                Workload {
                    timeout: Some(ms(600_000)),
                    identity: s("deployer"),
                    ..work(
                        "deploy",
                        WorkloadKind::Command {
                            host: s("target"),
                            command: CommandTemplate {
                                duration: ms(60_000),
                                duration_jitter: ms(1_000),
                                exit_code: 0,
                                fail_probability: 0.01,
                                stdout_bytes: 4096,
                                stderr_bytes: 16,
                                chunks: 4,
                                hang: false,
                            },
                        },
                        Arrivals::Periodic {
                            start: ms(1_000),
                            every: ms(60_000),
                            until: ms(3_000_000),
                            jitter: ms(500),
                        },
                    )
                },
                Workload {
                    purpose: Purpose::HealthCheck,
                    retryable: true,
                    measured: false,
                    ..work(
                        "health",
                        WorkloadKind::Command {
                            host: s("target"),
                            command: CommandTemplate {
                                duration: ms(50),
                                ..CommandTemplate::default()
                            },
                        },
                        Arrivals::Poisson {
                            start: ms(0),
                            until: ms(3_600_000),
                            rate_per_hour: 120.0,
                        },
                    )
                },
                work(
                    "shell",
                    WorkloadKind::Interactive {
                        host: s("builder"),
                        command: CommandTemplate {
                            hang: true,
                            ..CommandTemplate::default()
                        },
                    },
                    Arrivals::Burst {
                        at: ms(1_000),
                        count: 80,
                    },
                ),
                work(
                    "build",
                    WorkloadKind::Job {
                        hosts: vec![s("builder"), s("target")],
                        steps: vec![
                            Step {
                                name: s("clone"),
                                command: CommandTemplate {
                                    duration: ms(5_000),
                                    ..CommandTemplate::default()
                                },
                            },
                            Step {
                                name: s("step1"),
                                command: CommandTemplate {
                                    duration: ms(20_000),
                                    exit_code: 2,
                                    ..CommandTemplate::default()
                                },
                            },
                        ],
                    },
                    Arrivals::Once { at: ms(120_000) },
                ),
            ],
            timeline: vec![
                at(
                    30_000,
                    Action::Fault(Fault::Partition {
                        a: s("client"),
                        b: s("target"),
                    }),
                ),
                at(
                    40_000,
                    Action::Fault(Fault::Heal {
                        a: s("client"),
                        b: s("target"),
                    }),
                ),
                TimelineEntry {
                    at: At::Range(ms(50_000), ms(60_000)),
                    action: Action::Fault(Fault::PartitionOneWay {
                        from: s("target"),
                        to: s("control"),
                    }),
                },
                at(70_000, Action::Fault(Fault::Crash { host: s("target") })),
                at(80_000, Action::Fault(Fault::Restart { host: s("target") })),
                at(90_000, Action::Fault(Fault::Pause { host: s("builder") })),
                at(100_000, Action::Fault(Fault::Resume { host: s("builder") })),
                at(
                    110_000,
                    Action::Fault(Fault::NatIdleTimeout {
                        idle: Some(ms(350_000)),
                    }),
                ),
                at(120_000, Action::Fault(Fault::NatIdleTimeout { idle: None })),
                at(
                    130_000,
                    Action::Fault(Fault::Latency {
                        a: s("client"),
                        b: s("builder"),
                        base: ms(40),
                        jitter: ms(10),
                    }),
                ),
                at(
                    140_000,
                    Action::Fault(Fault::ControlPlane {
                        host: s("target"),
                        workspace: s("STOPPED"),
                        agent: s("DISCONNECTED"),
                    }),
                ),
                at(
                    150_000,
                    Action::Fault(Fault::ControlPlane {
                        host: s("builder"),
                        workspace: s("RUNNING"),
                        agent: s("CONNECTED"),
                    }),
                ),
                at(160_000, Action::Refresh { host: s("target") }),
                at(170_000, Action::MuxExit { host: s("target") }),
                at(180_000, Action::MuxStop { host: s("builder") }),
                at(
                    3_600_000,
                    Action::Fault(Fault::Latency {
                        a: s("client"),
                        b: s("target"),
                        base: ms(1),
                        jitter: ms(0),
                    }),
                ),
            ],
            expectations: vec![Expectation {
                strategy: s("coolify-3600"),
                max_failure_rate: 0.05,
            }],
            strategy_positions: Positions::default(),
            variant_positions: VariantPositions::default(),
        }
    }

    #[test]
    fn failing_defaults_to_every_kind_and_rejects_unknown_ones() {
        let scenario = Scenario::from_str(MINIMAL, "m.toml").expect("valid");
        assert_eq!(scenario.failing, OUTCOME_KINDS.map(str::to_owned).to_vec());
        assert!(scenario.counts_as_failure("transport:closed-locally"));
        assert!(!scenario.counts_as_failure("success"));
        let text = format!("failing = [\"timeout\", \"typo\"]\n{MINIMAL}");
        let error = Scenario::from_str(&text, "m.toml").expect_err("unknown kind");
        assert_eq!((error.line, error.field.as_str()), (1, "failing[1]"));
        let text = format!("failing = [\"timeout\"]\n{MINIMAL}");
        let scenario = Scenario::from_str(&text, "m.toml").expect("valid");
        assert!(!scenario.counts_as_failure("transport:closed-locally"));
        assert!(
            scenario.counts_as_failure("silent-failure"),
            "always counted"
        );
    }

    #[test]
    fn a_complete_file_parses_into_the_expected_model() {
        let scenario = Scenario::from_str(COMPLETE, "scenarios/complete.toml").expect("valid");
        assert_eq!(scenario, expected_complete());
    }

    #[test]
    fn with_profile_switches_every_host_and_keeps_their_settings() {
        let mut scenario = Scenario::from_str(COMPLETE, "scenarios/complete.toml").expect("valid");
        assert!(
            scenario
                .hosts
                .iter()
                .all(|h| h.sshd.per_source_penalties.is_some())
        );
        scenario.with_profile(Profile::OpenSsh92);
        assert_eq!(scenario.profile, Profile::OpenSsh92);
        for host in &scenario.hosts {
            assert_eq!(host.sshd.profile, Profile::OpenSsh92);
            assert_eq!(host.sshd.per_source_penalties, None);
        }
        assert_eq!(scenario.hosts[1].sshd.max_sessions, 4);
        scenario.with_profile(Profile::OpenSsh100);
        assert_eq!(scenario, expected_complete());
        let minimal = Scenario::from_str(MINIMAL, "scenarios/minimal.toml").expect("valid");
        assert_eq!(minimal.hosts[0].sshd, SshdConfig::default());
    }

    #[test]
    fn a_minimal_file_gets_every_default() {
        let scenario = Scenario::from_str(MINIMAL, "scenarios/minimal.toml").expect("valid");
        assert_eq!(scenario.name, "minimal");
        assert_eq!(scenario.profile, Profile::OpenSsh92);
        assert!(scenario.seeds.is_empty() && scenario.variants.is_empty());
        assert_eq!(
            scenario.sim,
            SimSettings {
                duration: ms(60_000),
                tick: ms(1),
                idle_tick: ms(10),
                latency: ms(1),
                jitter: ms(0),
            }
        );
        assert_eq!(scenario.hosts[0].sshd, SshdConfig::default());
        let workload = &scenario.workload[0];
        assert_eq!(
            (
                workload.purpose,
                workload.retryable,
                workload.measured,
                workload.timeout,
                workload.identity.as_str()
            ),
            (Purpose::Work, false, true, None, "default")
        );
        assert_eq!(
            workload.kind,
            WorkloadKind::Command {
                host: "target".to_owned(),
                command: CommandTemplate::default(),
            }
        );
        assert_eq!(workload.arrivals, Arrivals::Once { at: ms(1_000) });
    }

    #[test]
    fn name_defaults_to_the_file_stem() {
        let scenario = Scenario::from_str(MINIMAL, "a/b/mux_recycle.toml").expect("valid");
        assert_eq!(scenario.name, "mux_recycle");
        assert_eq!(scenario.path, "a/b/mux_recycle.toml");
    }

    #[test]
    fn strategy_error_points_at_the_strategies_entry() {
        let scenario = Scenario::from_str(MINIMAL, "s.toml").expect("valid");
        let error = scenario.strategy_error(1, "unknown strategy \"mux-stop\"");
        assert_eq!(
            error.to_string(),
            "s.toml:2:27: strategies[1]: unknown strategy \"mux-stop\""
        );
        assert_eq!((scenario.strategy_error(5, "x").line), 0);
    }

    #[test]
    fn load_reads_the_file_and_reports_io_errors_without_a_position() {
        let dir = std::env::temp_dir().join(format!("sshrace-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("loaded.toml");
        std::fs::write(&path, MINIMAL).expect("write");
        let scenario = Scenario::load(&path).expect("valid");
        assert_eq!(scenario.name, "loaded");
        assert_eq!(scenario.path, path.display().to_string());
        std::fs::remove_dir_all(&dir).expect("cleanup");

        let error = Scenario::load(dir.join("missing.toml")).expect_err("no such file");
        assert_eq!((error.line, error.column, error.field.as_str()), (0, 0, ""));
        assert!(error.path.ends_with("missing.toml"));
    }
}
