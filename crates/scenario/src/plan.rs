//! A scenario expanded for one seed: every operation with its time and concrete command, and
//! every timeline event with its time.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sshrace_core::CommandSpec;

use crate::seed::{Stream, child_rng};
use crate::{Action, Arrivals, At, CommandTemplate, Purpose, Scenario, WorkloadKind};

/// What a run does, concretely, for one seed. The same scenario and seed always give the same
/// plan, whatever else happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Operations sorted by (time, workload item, arrival); ids 1, 2, ... in that order.
    pub operations: Vec<PlannedOperation>,
    /// Timeline events sorted by time (stable: entries at the same time keep file order).
    pub events: Vec<PlannedEvent>,
}

/// A timeline entry at its concrete time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// When it happens.
    pub at: Duration,
    /// What happens.
    pub action: Action,
}

/// One operation the client starts at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOperation {
    /// Unique id, from 1 in plan order.
    pub id: u64,
    /// The `[[workload]]` item it comes from (its name).
    pub workload: String,
    /// When the client starts it.
    pub at: Duration,
    /// Real work or a health check.
    pub purpose: Purpose,
    /// Whether the strategy may retry it.
    pub retryable: bool,
    /// Whether it counts toward the failure rate.
    pub measured: bool,
    /// Deadline for the whole operation.
    pub timeout: Option<Duration>,
    /// Key it authenticates with.
    pub identity: String,
    /// What it runs.
    pub kind: PlannedKind,
}

/// What a planned operation runs. Every [`CommandSpec::operation`] in a plan is unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedKind {
    /// One command on `host`; `spec.operation` is the operation's own id.
    Command {
        /// The `[[host]]`.
        host: String,
        /// The command.
        spec: CommandSpec,
    },
    /// One interactive session on `host`; `spec.operation` is the operation's own id.
    Interactive {
        /// The `[[host]]`.
        host: String,
        /// The command the session runs.
        spec: CommandSpec,
    },
    /// A job: its steps in order; each step's `spec.operation` is an id of its own, above every
    /// operation id of the plan.
    Job {
        /// Host-major: every step on `hosts[0]`, then every step on `hosts[1]`, ...
        steps: Vec<PlannedStep>,
    },
}

/// One command of a job, on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// The step's name.
    pub name: String,
    /// The `[[host]]` it runs on.
    pub host: String,
    /// The command.
    pub spec: CommandSpec,
}

impl Plan {
    /// The operation with id `id`.
    pub fn operation(&self, id: u64) -> Option<&PlannedOperation> {
        self.operations.iter().find(|operation| operation.id == id)
    }

    /// Every command of the plan, in plan order (a job's steps in step order).
    pub fn specs(&self) -> impl Iterator<Item = &CommandSpec> {
        self.operations
            .iter()
            .flat_map(|operation| operation.kind.specs())
    }
}

impl PlannedKind {
    /// The commands this operation runs, in order.
    pub fn specs(&self) -> impl Iterator<Item = &CommandSpec> {
        let (single, steps) = match self {
            PlannedKind::Command { spec, .. } | PlannedKind::Interactive { spec, .. } => {
                (Some(spec), &[][..])
            }
            PlannedKind::Job { steps } => (None, steps.as_slice()),
        };
        single
            .into_iter()
            .chain(steps.iter().map(|step| &step.spec))
    }

    /// The commands this operation runs, in order, to change (a time-compressed replay).
    pub fn specs_mut(&mut self) -> Vec<&mut CommandSpec> {
        match self {
            PlannedKind::Command { spec, .. } | PlannedKind::Interactive { spec, .. } => {
                vec![spec]
            }
            PlannedKind::Job { steps } => steps.iter_mut().map(|step| &mut step.spec).collect(),
        }
    }
}

impl Scenario {
    /// Expand the scenario for `seed`: arrival times, drawn command durations and failures, and
    /// timeline times drawn from `at_range_ms`. Each workload item and timeline entry draws from
    /// its own stream, so adding one leaves the others' draws unchanged.
    pub fn plan(&self, seed: u64) -> Plan {
        let mut drafts = Vec::new();
        for (index, workload) in self.workload.iter().enumerate() {
            let mut arrivals_rng = child_rng(seed, Stream::Arrivals, index);
            let mut commands_rng = child_rng(seed, Stream::Commands, index);
            let times = arrival_times(&workload.arrivals, &mut arrivals_rng);
            for (arrival, at) in times.into_iter().enumerate() {
                let kind = match &workload.kind {
                    WorkloadKind::Command { host, command } => PlannedKind::Command {
                        host: host.clone(),
                        spec: draw(command, &mut commands_rng),
                    },
                    WorkloadKind::Interactive { host, command } => PlannedKind::Interactive {
                        host: host.clone(),
                        spec: draw(command, &mut commands_rng),
                    },
                    WorkloadKind::Job { hosts, steps } => PlannedKind::Job {
                        steps: hosts
                            .iter()
                            .flat_map(|host| steps.iter().map(move |step| (host, step)))
                            .map(|(host, step)| PlannedStep {
                                name: step.name.clone(),
                                host: host.clone(),
                                spec: draw(&step.command, &mut commands_rng),
                            })
                            .collect(),
                    },
                };
                drafts.push(((at, index, arrival), kind));
            }
        }
        drafts.sort_by_key(|(key, _)| *key);

        let mut next_step_id = drafts.len() as u64 + 1;
        let operations = drafts
            .into_iter()
            .enumerate()
            .map(|(position, ((at, index, _), mut kind))| {
                let id = position as u64 + 1;
                match &mut kind {
                    PlannedKind::Command { spec, .. } | PlannedKind::Interactive { spec, .. } => {
                        spec.operation = id;
                    }
                    PlannedKind::Job { steps } => {
                        for step in steps {
                            step.spec.operation = next_step_id;
                            next_step_id += 1;
                        }
                    }
                }
                let workload = &self.workload[index];
                PlannedOperation {
                    id,
                    workload: workload.name.clone(),
                    at,
                    purpose: workload.purpose,
                    retryable: workload.retryable,
                    measured: workload.measured,
                    timeout: workload.timeout,
                    identity: workload.identity.clone(),
                    kind,
                }
            })
            .collect();

        let mut events: Vec<PlannedEvent> = self
            .timeline
            .iter()
            .enumerate()
            .map(|(index, entry)| PlannedEvent {
                at: match entry.at {
                    At::Fixed(at) => at,
                    At::Range(lo, hi) => {
                        let mut rng = child_rng(seed, Stream::Timeline, index);
                        Duration::from_millis(rng.random_range(millis(lo)..=millis(hi)))
                    }
                },
                action: entry.action.clone(),
            })
            .collect();
        events.sort_by_key(|event| event.at);

        Plan { operations, events }
    }
}

/// Whole milliseconds of `duration`, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A uniform draw from `[0, bound)` milliseconds; zero without drawing when `bound` is zero.
fn below(bound: Duration, rng: &mut ChaCha8Rng) -> Duration {
    match millis(bound) {
        0 => Duration::ZERO,
        bound => Duration::from_millis(rng.random_range(0..bound)),
    }
}

/// Arrival times in arrival order (periodic jitter may make them out of time order).
fn arrival_times(arrivals: &Arrivals, rng: &mut ChaCha8Rng) -> Vec<Duration> {
    match *arrivals {
        Arrivals::Once { at } => vec![at],
        Arrivals::Burst { at, count } => vec![at; count as usize],
        Arrivals::Periodic {
            start,
            every,
            until,
            jitter,
        } => {
            let mut times = Vec::new();
            if every.is_zero() {
                return times;
            }
            let mut base = start;
            while base < until {
                let at = base + below(jitter, rng);
                if at < until {
                    times.push(at);
                }
                base += every;
            }
            times
        }
        Arrivals::Poisson {
            start,
            until,
            rate_per_hour,
        } => {
            let mut times = Vec::new();
            if !(rate_per_hour > 0.0 && rate_per_hour.is_finite()) {
                return times;
            }
            let mean_gap_ms = 3_600_000.0 / rate_per_hour;
            let until_ms = millis(until) as f64;
            let mut t = millis(start) as f64;
            loop {
                let u: f64 = rng.random();
                t += -(1.0 - u).ln() * mean_gap_ms;
                if t >= until_ms {
                    break;
                }
                times.push(Duration::from_millis(t as u64));
            }
            times
        }
    }
}

/// One operation's command from `template`: duration jitter drawn, then the failure draw. The
/// operation id is filled in once the plan is sorted.
fn draw(template: &CommandTemplate, rng: &mut ChaCha8Rng) -> CommandSpec {
    let duration = template.duration + below(template.duration_jitter, rng);
    let mut exit_code = template.exit_code;
    if exit_code == 0
        && template.fail_probability > 0.0
        && rng.random::<f64>() < template.fail_probability
    {
        exit_code = 1;
    }
    let spec = CommandSpec::new(0, duration)
        .exit_code(exit_code)
        .stdout_bytes(template.stdout_bytes)
        .stderr_bytes(template.stderr_bytes)
        .streamed(template.chunks);
    if template.hang { spec.hang() } else { spec }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::fixtures::{COMPLETE, MINIMAL};
    use sshrace_core::CommandBehaviour;

    fn scenario(text: &str) -> Scenario {
        Scenario::from_str(text, "s.toml").unwrap_or_else(|error| panic!("{error}"))
    }

    /// MINIMAL with its workload's arrival (`at_ms = 1000`) replaced by `lines`.
    fn workload_with(lines: &str) -> Scenario {
        scenario(&MINIMAL.replace("at_ms = 1000\n", &format!("{lines}\n")))
    }

    fn times(plan: &Plan) -> Vec<u128> {
        plan.operations.iter().map(|op| op.at.as_millis()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_plan() {
        let scenario = scenario(COMPLETE);
        assert_eq!(scenario.plan(12), scenario.plan(12));
        let reparsed = Scenario::from_str(COMPLETE, "elsewhere.toml").expect("valid");
        assert_eq!(scenario.plan(12), reparsed.plan(12));
    }

    #[test]
    fn different_seeds_give_different_plans_when_there_is_randomness() {
        let scenario = scenario(COMPLETE);
        assert_ne!(scenario.plan(1), scenario.plan(2));
        let fixed = scenario_without_randomness();
        assert_eq!(fixed.plan(1), fixed.plan(2));
    }

    fn scenario_without_randomness() -> Scenario {
        workload_with("every_ms = 1000\nduration_ms = 50")
    }

    #[test]
    fn poisson_arrivals_average_near_the_rate() {
        // 600 per hour over 100 hours: 60000 expected, standard deviation about 245. (Was 60
        // per hour over 1000 hours, the same count, until sim.duration_ms got its 7-day limit.)
        let text = MINIMAL
            .replace("duration_ms = 60000", "duration_ms = 360000000")
            .replace("at_ms = 1000", "rate_per_hour = 600.0");
        let scenario = scenario(&text);
        for seed in [1, 2, 3] {
            let plan = scenario.plan(seed);
            let count = plan.operations.len();
            assert!((57_000..=63_000).contains(&count), "seed {seed}: {count}");
            assert!(
                plan.operations
                    .iter()
                    .all(|op| op.at < scenario.sim.duration)
            );
        }
    }

    #[test]
    fn poisson_arrivals_stay_inside_their_window() {
        let scenario = workload_with("rate_per_hour = 36000\nstart_ms = 10000\nuntil_ms = 20000");
        let plan = scenario.plan(9);
        assert!(!plan.operations.is_empty());
        assert!(times(&plan).iter().all(|&t| (10_000..20_000).contains(&t)));
    }

    #[test]
    fn a_burst_gives_n_operations_at_one_instant() {
        let plan = workload_with("burst = 80\nat_ms = 1000").plan(3);
        assert_eq!(plan.operations.len(), 80);
        assert!(times(&plan).iter().all(|&t| t == 1000));
        let ids: Vec<u64> = plan.operations.iter().map(|op| op.id).collect();
        assert_eq!(ids, (1..=80).collect::<Vec<_>>());
    }

    #[test]
    fn periodic_arrivals_stop_before_until() {
        let plan = workload_with("every_ms = 10000\nstart_ms = 5000\nuntil_ms = 35000").plan(3);
        assert_eq!(times(&plan), [5_000, 15_000, 25_000]);
        let plan = workload_with("every_ms = 10000\nuntil_ms = 30000").plan(3);
        assert_eq!(times(&plan), [0, 10_000, 20_000]);
    }

    #[test]
    fn periodic_jitter_shifts_each_arrival_by_less_than_jitter() {
        let plan = workload_with("every_ms = 10000\njitter_ms = 3000").plan(5);
        let times = times(&plan);
        assert_eq!(times.len(), 6);
        for (k, t) in times.iter().enumerate() {
            let base = k as u128 * 10_000;
            assert!((base..base + 3_000).contains(t), "{t}");
        }
        assert!(times.iter().any(|t| t % 10_000 != 0));
    }

    #[test]
    fn periodic_arrivals_that_jitter_pushes_past_until_are_dropped() {
        // Bases 0, 10000, ..., 50000; jitter up to 19999 pushes some late ones past the end.
        let scenario = workload_with("every_ms = 10000\njitter_ms = 20000");
        let mut counts = BTreeSet::new();
        for seed in 0..20 {
            let times = times(&scenario.plan(seed));
            assert!(times.iter().all(|&t| t < 60_000), "{times:?}");
            counts.insert(times.len());
        }
        assert!(counts.len() > 1 && counts.iter().all(|&n| (4..=6).contains(&n)));
    }

    #[test]
    fn every_command_spec_operation_in_a_plan_is_unique() {
        let scenario = scenario(COMPLETE);
        let plan = scenario.plan(77);
        let specs: Vec<u64> = plan.specs().map(|spec| spec.operation).collect();
        let unique: BTreeSet<u64> = specs.iter().copied().collect();
        assert_eq!(unique.len(), specs.len());
        let last_id = plan.operations.len() as u64;
        for op in &plan.operations {
            match &op.kind {
                PlannedKind::Command { spec, .. } | PlannedKind::Interactive { spec, .. } => {
                    assert_eq!(spec.operation, op.id);
                }
                PlannedKind::Job { steps } => {
                    assert!(steps.iter().all(|step| step.spec.operation > last_id));
                }
            }
        }
    }

    #[test]
    fn operations_are_sorted_by_time_then_workload_and_numbered_from_one() {
        let plan = scenario(COMPLETE).plan(4);
        let keys: Vec<(Duration, u64)> = plan.operations.iter().map(|op| (op.at, op.id)).collect();
        assert!(keys.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(
            plan.operations
                .iter()
                .enumerate()
                .all(|(i, op)| op.id == i as u64 + 1)
        );
        assert!(plan.operation(1).is_some() && plan.operation(0).is_none());
    }

    #[test]
    fn adding_a_workload_item_does_not_change_the_first_items_plan() {
        let one = workload_with(
            "rate_per_hour = 600\nduration_ms = 100\nduration_jitter_ms = 50\nfail_probability = 0.5",
        );
        let two = scenario(&format!(
            "{}\n[[workload]]\nname = \"other\"\nhost = \"target\"\nrate_per_hour = 900\nduration_jitter_ms = 70\n",
            MINIMAL.replace(
                "at_ms = 1000\n",
                "rate_per_hour = 600\nduration_ms = 100\nduration_jitter_ms = 50\nfail_probability = 0.5\n"
            )
        ));
        for seed in [1, 2] {
            let first = |plan: Plan| -> Vec<(Duration, CommandSpec)> {
                plan.operations
                    .into_iter()
                    .filter(|op| op.workload == "deploy")
                    .filter_map(|op| match op.kind {
                        PlannedKind::Command { mut spec, .. } => {
                            spec.operation = 0;
                            Some((op.at, spec))
                        }
                        _ => None,
                    })
                    .collect()
            };
            let alone = first(one.plan(seed));
            assert!(!alone.is_empty());
            assert_eq!(alone, first(two.plan(seed)));
        }
    }

    #[test]
    fn a_job_runs_every_step_on_every_host_host_major() {
        let plan = scenario(COMPLETE).plan(1);
        let job = plan
            .operations
            .iter()
            .find(|op| op.workload == "build")
            .expect("the build job");
        let PlannedKind::Job { steps } = &job.kind else {
            panic!("not a job: {job:?}");
        };
        let order: Vec<(&str, &str)> = steps
            .iter()
            .map(|step| (step.host.as_str(), step.name.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("builder", "clone"),
                ("builder", "step1"),
                ("target", "clone"),
                ("target", "step1")
            ]
        );
        assert_eq!(steps[1].spec.exit_code, 2);
        assert_eq!(steps[0].spec.duration, Duration::from_secs(5));
    }

    #[test]
    fn commands_follow_their_template() {
        let plan = scenario(COMPLETE).plan(8);
        for op in &plan.operations {
            match (&op.kind, op.workload.as_str()) {
                (PlannedKind::Command { spec, host }, "deploy") => {
                    assert_eq!(host, "target");
                    assert!((60_000..61_000).contains(&spec.duration.as_millis()));
                    assert_eq!(
                        (spec.stdout_bytes, spec.stderr_bytes, spec.output_chunks),
                        (4096, 16, 4)
                    );
                    assert_eq!(op.timeout, Some(Duration::from_secs(600)));
                    assert_eq!(op.identity, "deployer");
                }
                (PlannedKind::Interactive { spec, .. }, "shell") => {
                    assert_eq!(spec.behaviour, CommandBehaviour::Hang);
                }
                (PlannedKind::Command { .. }, "health") => {
                    assert_eq!(
                        (op.purpose, op.retryable, op.measured),
                        (Purpose::HealthCheck, true, false)
                    );
                }
                (PlannedKind::Job { .. }, "build") => {}
                (kind, workload) => panic!("{workload}: unexpected {kind:?}"),
            }
        }
    }

    #[test]
    fn fail_probability_turns_exit_zero_into_one() {
        let exits = |p: &str| -> BTreeSet<u32> {
            workload_with(&format!("every_ms = 100\nfail_probability = {p}"))
                .plan(6)
                .specs()
                .map(|spec| spec.exit_code)
                .collect()
        };
        assert_eq!(exits("0.0"), BTreeSet::from([0]));
        assert_eq!(exits("1.0"), BTreeSet::from([1]));
        assert_eq!(exits("0.5"), BTreeSet::from([0, 1]));
        let kept = workload_with("every_ms = 100\nexit_code = 3\nfail_probability = 1.0").plan(6);
        assert!(kept.specs().all(|spec| spec.exit_code == 3));
    }

    #[test]
    fn timeline_events_are_sorted_and_ranges_are_drawn_inside_their_bounds() {
        let scenario = scenario(COMPLETE);
        let mut drawn = BTreeSet::new();
        for seed in 0..20 {
            let plan = scenario.plan(seed);
            assert_eq!(plan.events.len(), scenario.timeline.len());
            assert!(plan.events.windows(2).all(|pair| pair[0].at <= pair[1].at));
            let one_way = plan
                .events
                .iter()
                .find(|event| event.action.name() == "partition-one-way")
                .expect("the ranged entry");
            assert!((50_000..=60_000).contains(&one_way.at.as_millis()));
            drawn.insert(one_way.at);
        }
        assert!(drawn.len() > 1);
    }

    #[test]
    fn plans_are_pinned_across_versions() {
        // Changing the seed mixing or the draw order changes every recorded run; this catches it.
        let plan = workload_with(
            "rate_per_hour = 3600
duration_jitter_ms = 1000",
        )
        .plan(42);
        let pinned: Vec<(u128, u128)> = plan
            .operations
            .iter()
            .take(3)
            .map(|op| match &op.kind {
                PlannedKind::Command { spec, .. } => (op.at.as_millis(), spec.duration.as_millis()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(pinned, [(3703, 629), (3737, 347), (3821, 34)]);
    }

    proptest::proptest! {
        #[test]
        fn any_seed_gives_a_well_formed_plan(seed in proptest::prelude::any::<u64>()) {
            let scenario = scenario(COMPLETE);
            let plan = scenario.plan(seed);
            let specs: Vec<u64> = plan.specs().map(|spec| spec.operation).collect();
            let unique: BTreeSet<u64> = specs.iter().copied().collect();
            proptest::prop_assert_eq!(unique.len(), specs.len());
            proptest::prop_assert!(plan.operations.iter().all(|op| op.at < scenario.sim.duration));
            proptest::prop_assert!(plan.events.iter().all(|event| event.at <= scenario.sim.duration));
            proptest::prop_assert!(plan.operations.windows(2).all(|pair| pair[0].at <= pair[1].at));
        }
    }

    #[test]
    fn events_at_the_same_time_keep_file_order() {
        let text = format!(
            "{MINIMAL}\n[[timeline]]\nat_ms = 500\nfault = \"mux-stop\"\nhost = \"target\"\n\n[[timeline]]\nat_ms = 100\nfault = \"crash\"\nhost = \"target\"\n\n[[timeline]]\nat_ms = 500\nfault = \"refresh\"\nhost = \"target\"\n"
        );
        let names: Vec<&str> = scenario(&text)
            .plan(0)
            .events
            .iter()
            .map(|event| event.action.name())
            .collect();
        assert_eq!(names, ["crash", "mux-stop", "refresh"]);
    }
}
