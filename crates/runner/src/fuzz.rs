//! Property-based fault fuzzing: generated fault timelines over a base scenario, every run
//! checked against the [invariants](crate::invariants), failures shrunk to a minimal timeline
//! that is written out as a scenario file to replay.
//!
//! A timeline is a `Vec` of [`FuzzEvent`]s, each a time in milliseconds within the scenario's
//! duration and a kind with its own durations. proptest shrinks it well: fewer events first,
//! then earlier and shorter ones. [`apply_events`] turns the events into timeline entries and
//! extra workload items on a copy of the base scenario.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{
    Config, FailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use sshrace_core::Fault;
use sshrace_scenario::{
    Action, Arrivals, At, CommandTemplate, Purpose, Scenario, TimelineEntry, Workload, WorkloadKind,
};
use sshrace_sim::CLIENT_HOST;
use sshrace_strategy::StrategySpec;

use crate::{Invariant, RunError, Violation, check_invariants, run_one};

/// Most events in one generated timeline.
pub const MAX_EVENTS: usize = 6;

/// Highest one-way latency a spike sets. The runner waits 1 s (simulated) after the strategy's
/// shutdown for its closes to reach the servers; a spike above this could hold a close past that
/// wait and show up as a leak that is the harness's, not the strategy's.
pub const MAX_SPIKE_MS: u32 = 500;

/// One generated event: when, on which host (an index into the scenario's hosts, wrapped), and
/// what. Durations are whole milliseconds; an end past the scenario's duration is cut to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuzzEvent {
    /// When it starts, from the start of the run.
    pub at_ms: u32,
    /// Which `[[host]]` it hits (modulo the number of hosts).
    pub host: u8,
    /// What happens.
    pub kind: FuzzEventKind,
}

/// What a [`FuzzEvent`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuzzEventKind {
    /// The client and the host are partitioned (`direction`), healed after `hold_ms`.
    Partition {
        /// Which segments are lost.
        direction: Direction,
        /// How long until the heal.
        hold_ms: u32,
    },
    /// The host crashes and boots again after `down_ms`.
    Crash {
        /// How long it stays down.
        down_ms: u32,
    },
    /// The host's sshd is paused, resumed after `hold_ms`.
    Pause {
        /// How long it stays paused.
        hold_ms: u32,
    },
    /// From now on a NAT forgets flows idle for longer than `idle_ms`.
    NatIdle {
        /// Idle time after which a flow is dropped.
        idle_ms: u32,
    },
    /// The client-host latency jumps to `latency_ms` for `hold_ms`, then returns to the
    /// scenario's.
    LatencySpike {
        /// One-way latency during the spike.
        latency_ms: u32,
        /// How long the spike lasts.
        hold_ms: u32,
    },
    /// The control plane reports the agent DISCONNECTED (workspace still RUNNING) for
    /// `hold_ms`, then CONNECTED again.
    ControlFlap {
        /// How long the flap lasts.
        hold_ms: u32,
    },
    /// `count` extra commands of `duration_ms` each arrive at once.
    Burst {
        /// How many.
        count: u32,
        /// How long each runs on the server.
        duration_ms: u32,
    },
    /// The strategy is asked to refresh its connections to the host (a master recycle).
    Refresh,
}

/// Which way a partition cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    Both,
    /// Client to host lost.
    ToHost,
    /// Host to client lost.
    FromHost,
}

impl fmt::Display for FuzzEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {} ms host#{}: ", self.at_ms, self.host)?;
        match self.kind {
            FuzzEventKind::Partition { direction, hold_ms } => {
                write!(f, "partition {direction:?} for {hold_ms} ms")
            }
            FuzzEventKind::Crash { down_ms } => write!(f, "crash, down {down_ms} ms"),
            FuzzEventKind::Pause { hold_ms } => write!(f, "pause sshd for {hold_ms} ms"),
            FuzzEventKind::NatIdle { idle_ms } => {
                write!(f, "NAT forgets flows idle > {idle_ms} ms")
            }
            FuzzEventKind::LatencySpike {
                latency_ms,
                hold_ms,
            } => write!(f, "latency {latency_ms} ms for {hold_ms} ms"),
            FuzzEventKind::ControlFlap { hold_ms } => {
                write!(f, "agent DISCONNECTED for {hold_ms} ms")
            }
            FuzzEventKind::Burst { count, duration_ms } => {
                write!(f, "burst of {count} commands of {duration_ms} ms")
            }
            FuzzEventKind::Refresh => write!(f, "refresh"),
        }
    }
}

/// One event kind. Each alternative's simplest value comes first, so shrinking moves toward
/// shorter holds and smaller bursts.
pub fn event_kind() -> impl Strategy<Value = FuzzEventKind> {
    let hold = 1_000u32..=180_000;
    prop_oneof![
        Just(FuzzEventKind::Refresh),
        (
            prop_oneof![
                Just(Direction::Both),
                Just(Direction::ToHost),
                Just(Direction::FromHost)
            ],
            hold.clone()
        )
            .prop_map(|(direction, hold_ms)| FuzzEventKind::Partition { direction, hold_ms }),
        (1_000u32..=60_000).prop_map(|down_ms| FuzzEventKind::Crash { down_ms }),
        hold.clone()
            .prop_map(|hold_ms| FuzzEventKind::Pause { hold_ms }),
        (10_000u32..=300_000).prop_map(|idle_ms| FuzzEventKind::NatIdle { idle_ms }),
        (50u32..=MAX_SPIKE_MS, hold.clone()).prop_map(|(latency_ms, hold_ms)| {
            FuzzEventKind::LatencySpike {
                latency_ms,
                hold_ms,
            }
        }),
        hold.prop_map(|hold_ms| FuzzEventKind::ControlFlap { hold_ms }),
        (2u32..=24, 100u32..=10_000)
            .prop_map(|(count, duration_ms)| FuzzEventKind::Burst { count, duration_ms }),
    ]
}

/// Timelines for `base`: up to [`MAX_EVENTS`] events, each starting within its duration.
pub fn timeline(base: &Scenario) -> impl Strategy<Value = Vec<FuzzEvent>> + use<> {
    let duration_ms = u32::try_from(base.sim.duration.as_millis())
        .unwrap_or(u32::MAX)
        .max(1);
    let event = (0..duration_ms, any::<u8>(), event_kind())
        .prop_map(|(at_ms, host, kind)| FuzzEvent { at_ms, host, kind });
    proptest::collection::vec(event, 0..=MAX_EVENTS)
}

/// `base` with `events` added: faults and refreshes as timeline entries, bursts as workload
/// items. Every instant is cut to the scenario's duration, so the result always validates.
pub fn apply_events(base: &Scenario, events: &[FuzzEvent]) -> Scenario {
    let mut scenario = base.clone();
    let end = base.sim.duration;
    let ms = |value: u64| Duration::from_millis(value).min(end);
    let mut entry = |at: Duration, action: Action| {
        scenario.timeline.push(TimelineEntry {
            at: At::Fixed(at),
            action,
        });
    };
    let mut bursts = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let Some(host) = base
            .hosts
            .get(usize::from(event.host) % base.hosts.len().max(1))
            .map(|h| h.name.clone())
        else {
            continue;
        };
        let at_ms = u64::from(event.at_ms);
        let at = ms(at_ms);
        let after = |hold: u32| ms(at_ms + u64::from(hold));
        let client = CLIENT_HOST.to_owned();
        let heal = Action::Fault(Fault::Heal {
            a: client.clone(),
            b: host.clone(),
        });
        match event.kind {
            FuzzEventKind::Partition { direction, hold_ms } => {
                let fault = match direction {
                    Direction::Both => Fault::Partition {
                        a: client,
                        b: host.clone(),
                    },
                    Direction::ToHost => Fault::PartitionOneWay {
                        from: client,
                        to: host.clone(),
                    },
                    Direction::FromHost => Fault::PartitionOneWay {
                        from: host.clone(),
                        to: client,
                    },
                };
                entry(at, Action::Fault(fault));
                entry(after(hold_ms), heal);
            }
            FuzzEventKind::Crash { down_ms } => {
                entry(at, Action::Fault(Fault::Crash { host: host.clone() }));
                entry(after(down_ms), Action::Fault(Fault::Restart { host }));
            }
            FuzzEventKind::Pause { hold_ms } => {
                entry(at, Action::Fault(Fault::Pause { host: host.clone() }));
                entry(after(hold_ms), Action::Fault(Fault::Resume { host }));
            }
            FuzzEventKind::NatIdle { idle_ms } => entry(
                at,
                Action::Fault(Fault::NatIdleTimeout {
                    idle: Some(Duration::from_millis(u64::from(idle_ms))),
                }),
            ),
            FuzzEventKind::LatencySpike {
                latency_ms,
                hold_ms,
            } => {
                let latency = |base: Duration, jitter: Duration| {
                    Action::Fault(Fault::Latency {
                        a: CLIENT_HOST.to_owned(),
                        b: host.clone(),
                        base,
                        jitter,
                    })
                };
                entry(
                    at,
                    latency(Duration::from_millis(u64::from(latency_ms)), Duration::ZERO),
                );
                entry(after(hold_ms), latency(base.sim.latency, base.sim.jitter));
            }
            FuzzEventKind::ControlFlap { hold_ms } => {
                let status = |agent: &str| {
                    Action::Fault(Fault::ControlPlane {
                        host: host.clone(),
                        workspace: "RUNNING".to_owned(),
                        agent: agent.to_owned(),
                    })
                };
                entry(at, status("DISCONNECTED"));
                entry(after(hold_ms), status("CONNECTED"));
            }
            FuzzEventKind::Burst { count, duration_ms } => bursts.push(Workload {
                name: format!("fuzz-burst-{index}"),
                kind: WorkloadKind::Command {
                    host,
                    command: CommandTemplate {
                        duration: Duration::from_millis(u64::from(duration_ms)),
                        ..CommandTemplate::default()
                    },
                },
                purpose: Purpose::Work,
                retryable: false,
                measured: true,
                timeout: None,
                identity: "default".to_owned(),
                // An arrival must fall before the end of the arrival window.
                arrivals: Arrivals::Burst {
                    at: at.min(end.saturating_sub(Duration::from_millis(1))),
                    count,
                },
            }),
            FuzzEventKind::Refresh => entry(at, Action::Refresh { host }),
        }
    }
    scenario.workload.extend(bursts);
    scenario
}

/// How to fuzz.
pub struct FuzzConfig {
    /// Generated timelines to try (stored regressions run first and do not count).
    pub cases: u32,
    /// Seeds both the proptest RNG (ChaCha) and every simulated run.
    pub seed: u64,
    /// Where failing cases are stored and replayed from; `None`: nowhere (the CLI).
    pub persistence: Option<Box<dyn FailurePersistence>>,
    /// The source file the persistence is keyed by (`file!()` of the test).
    pub source_file: Option<&'static str>,
    /// Most shrink steps after a failure.
    pub max_shrink_iters: u32,
}

impl FuzzConfig {
    /// `cases` cases from `seed`, nothing persisted, up to 512 shrink steps.
    pub fn new(cases: u32, seed: u64) -> Self {
        Self {
            cases,
            seed,
            persistence: None,
            source_file: None,
            max_shrink_iters: 512,
        }
    }
}

/// What a fuzzing session found.
#[derive(Debug, Clone)]
pub struct FuzzReport {
    /// Simulated runs, generated and shrinking ones.
    pub runs: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The shrunk failure, if any case broke an invariant.
    pub failure: Option<FuzzFailure>,
}

impl FuzzReport {
    /// Runs per wall second.
    pub fn runs_per_second(&self) -> f64 {
        self.runs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A minimal failing timeline.
#[derive(Debug, Clone)]
pub struct FuzzFailure {
    /// The shrunk events.
    pub events: Vec<FuzzEvent>,
    /// The base scenario with them applied.
    pub scenario: Scenario,
    /// What the shrunk run breaks (each of them, the first-found invariant among them).
    pub violations: Vec<Violation>,
    /// The invariant the search kept to while shrinking.
    pub invariant: Invariant,
    /// The seed the runs used.
    pub seed: u64,
}

impl FuzzFailure {
    /// The failing scenario as a file to save into `scenarios/` and replay: a `# found by`
    /// header naming `command` (the fuzz command line), the violations, the events and the
    /// replay command for `path`, then the scenario.
    pub fn scenario_file(&self, command: &str, strategy: &str, path: &str) -> String {
        let mut text = format!("# found by {command}\n");
        for violation in &self.violations {
            text.push_str(&format!("# violation: {violation}\n"));
        }
        for event in &self.events {
            text.push_str(&format!("# event: {event}\n"));
        }
        text.push_str(&format!(
            "# replay: sshrace replay {path} --strategy {strategy} --seed {}\n",
            self.seed
        ));
        text.push_str(&self.scenario.to_toml());
        text
    }
}

/// The ChaCha RNG proptest draws from, seeded from `seed`.
pub fn fuzz_rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Fuzz `strategy` over timelines generated for `base`; stop at the first failure and shrink
/// it, keeping to the invariant it first broke. The result depends only on the inputs.
pub fn fuzz(
    base: &Scenario,
    strategy: &StrategySpec,
    config: FuzzConfig,
) -> Result<FuzzReport, RunError> {
    let mut scenario_base = base.clone();
    scenario_base.strategies = vec![strategy.name().to_owned()];
    scenario_base.name = format!("{}-fuzzed", base.name);
    let proptest_config = Config {
        cases: config.cases,
        failure_persistence: config.persistence,
        source_file: config.source_file,
        rng_algorithm: RngAlgorithm::ChaCha,
        max_shrink_iters: config.max_shrink_iters,
        max_shrink_time: 0,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(proptest_config, fuzz_rng(config.seed));
    let seed = config.seed;
    let runs = Cell::new(0u64);
    let kept: Cell<Option<Invariant>> = Cell::new(None);
    let run_error: RefCell<Option<RunError>> = RefCell::new(None);
    let start = Instant::now();
    let outcome = runner.run(&timeline(base), |events| {
        runs.set(runs.get() + 1);
        let scenario = apply_events(&scenario_base, &events);
        let result = match run_one(&scenario, strategy, seed, false) {
            Ok(result) => result,
            Err(error) => {
                let message = error.to_string();
                run_error.borrow_mut().get_or_insert(error);
                return Err(TestCaseError::fail(message));
            }
        };
        let violations = check_invariants(&scenario, &result);
        let hit = match kept.get() {
            None => violations.first(),
            Some(invariant) => violations.iter().find(|v| v.invariant == invariant),
        };
        match hit {
            None => Ok(()),
            Some(violation) => {
                kept.set(Some(violation.invariant));
                Err(TestCaseError::fail(violation.to_string()))
            }
        }
    });
    let elapsed = start.elapsed();
    let failure = match outcome {
        Ok(()) => None,
        Err(TestError::Abort(reason)) => {
            return Err(run_error
                .into_inner()
                .unwrap_or(RunError::Fuzz(reason.to_string())));
        }
        Err(TestError::Fail(_, events)) => {
            let scenario = apply_events(&scenario_base, &events);
            let result = run_one(&scenario, strategy, seed, false)?;
            let violations = check_invariants(&scenario, &result);
            let invariant = kept
                .get()
                .or(violations.first().map(|v| v.invariant))
                .unwrap_or(Invariant::Hang);
            Some(FuzzFailure {
                events,
                scenario,
                violations,
                invariant,
                seed,
            })
        }
    };
    Ok(FuzzReport {
        runs: runs.get(),
        elapsed,
        failure,
    })
}
