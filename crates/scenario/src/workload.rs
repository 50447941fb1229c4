//! What the client does: operations, when they arrive, and the commands they run.

use std::time::Duration;

/// One `[[workload]]` item: a kind of operation the client performs, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Unique name (`name`), used in plans and reports.
    pub name: String,
    /// What one operation is: a command, an interactive session, or a multi-host job.
    pub kind: WorkloadKind,
    /// Real work or a health check (`purpose`).
    pub purpose: Purpose,
    /// Whether the caller allows the strategy to retry this operation (`retryable`).
    pub retryable: bool,
    /// Whether the operation counts toward the failure rate (`measured`).
    pub measured: bool,
    /// Deadline for the whole operation (`timeout_ms`), if any.
    pub timeout: Option<Duration>,
    /// Key (login identity) the operation authenticates with (`identity`, default `"default"`).
    pub identity: String,
    /// When operations arrive.
    pub arrivals: Arrivals,
}

/// What one operation of a workload item is.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadKind {
    /// One remote command on `host` (`kind = "command"`).
    Command {
        /// The `[[host]]` it runs on.
        host: String,
        /// The command it runs.
        command: CommandTemplate,
    },
    /// One interactive session on `host` running a command (`kind = "interactive"`).
    Interactive {
        /// The `[[host]]` it runs on.
        host: String,
        /// The command the session runs.
        command: CommandTemplate,
    },
    /// A job: every step, in order, on every host (`kind = "job"`).
    Job {
        /// The `[[host]]`s it runs on, in order.
        hosts: Vec<String>,
        /// Its steps (`[[workload.step]]`), in order.
        steps: Vec<Step>,
    },
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `name`, default `step{i}` with `i` its 0-based index.
    pub name: String,
    /// The command the step runs on each host.
    pub command: CommandTemplate,
}

/// Why an operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// Real work (`"work"`, the default).
    #[default]
    Work,
    /// A health check (`"health-check"`), which some strategies route differently.
    HealthCheck,
}

impl Purpose {
    /// The name used in scenario files: `"work"` or `"health-check"`.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Work => "work",
            Purpose::HealthCheck => "health-check",
        }
    }
}

/// When a workload item's operations arrive. Every arrival falls before `sim.duration_ms`.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// One operation at `at` (`at_ms`).
    Once {
        /// Arrival time.
        at: Duration,
    },
    /// `count` operations at the same instant (`burst` with `at_ms`).
    Burst {
        /// Arrival time of all of them.
        at: Duration,
        /// How many (at least 1).
        count: u32,
    },
    /// One operation every `every` from `start` while before `until`, each shifted later by a
    /// uniform draw from `[0, jitter)`; an arrival that jitter pushes to `until` or later is
    /// dropped (`every_ms`, `start_ms`, `until_ms`, `jitter_ms`).
    Periodic {
        /// First arrival (before jitter).
        start: Duration,
        /// Period (> 0).
        every: Duration,
        /// Every arrival, jittered or not, is before this.
        until: Duration,
        /// Each arrival is shifted by a uniform draw from `[0, jitter)`.
        jitter: Duration,
    },
    /// Poisson arrivals in `[start, until)`: exponential gaps with mean `1h / rate_per_hour`
    /// (`rate_per_hour`, `start_ms`, `until_ms`).
    Poisson {
        /// Start of the window.
        start: Duration,
        /// End of the window (exclusive).
        until: Duration,
        /// Mean arrivals per hour (> 0).
        rate_per_hour: f64,
    },
}

impl Arrivals {
    /// How many operations these arrivals plan: exact for the fixed forms (periodic before
    /// jitter drops any), the expected count for Poisson. What admission weighs a run by.
    pub fn expected_count(&self) -> f64 {
        match self {
            Arrivals::Once { .. } => 1.0,
            Arrivals::Burst { count, .. } => f64::from(*count),
            Arrivals::Periodic {
                start,
                every,
                until,
                ..
            } => {
                let window = until.saturating_sub(*start).as_millis();
                let every = every.as_millis().max(1);
                if window == 0 {
                    0.0
                } else {
                    ((window - 1) / every + 1) as f64
                }
            }
            Arrivals::Poisson {
                start,
                until,
                rate_per_hour,
            } => rate_per_hour * until.saturating_sub(*start).as_secs_f64() / 3_600.0,
        }
    }
}

/// A command as a scenario describes it; a plan draws the random parts per operation and turns
/// it into an [`sshrace_core::CommandSpec`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommandTemplate {
    /// How long the command runs (`duration_ms`).
    pub duration: Duration,
    /// Extra run time drawn uniformly from `[0, duration_jitter)` (`duration_jitter_ms`).
    pub duration_jitter: Duration,
    /// Exit status (`exit_code`).
    pub exit_code: u32,
    /// Probability that an operation's exit status becomes 1 when `exit_code` is 0
    /// (`fail_probability`, in `[0, 1]`).
    pub fail_probability: f64,
    /// Bytes written to stdout (`stdout_bytes`).
    pub stdout_bytes: u64,
    /// Bytes written to stderr (`stderr_bytes`).
    pub stderr_bytes: u64,
    /// Stdout is written in this many equal writes over the duration; 0: all at the end
    /// (`chunks`).
    pub chunks: u32,
    /// The command never exits (`hang`).
    pub hang: bool,
}
