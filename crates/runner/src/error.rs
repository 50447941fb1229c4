/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario names a strategy nobody knows.
    #[error("{0}")]
    Scenario(#[from] sshrace_scenario::ScenarioError),
    /// The simulation could not run.
    #[error("simulation: {0}")]
    Simulation(#[from] sshrace_sim::SimError),
    /// A strategy name is not registered.
    #[error("unknown strategy {name:?} (known: {known})")]
    UnknownStrategy {
        /// The name given.
        name: String,
        /// Names that exist.
        known: String,
    },
    /// A sweep names a parameter that neither the strategies nor the scenario have.
    #[error("unknown parameter {name:?}: use {accepted}")]
    UnknownParameter {
        /// The name given.
        name: String,
        /// What is accepted, in words.
        accepted: String,
    },
    /// A sweep parameter that does not apply, or a value the scenario cannot take.
    #[error("--param {name}: {reason}")]
    BadParameter {
        /// The name (with the value, when the value is the problem).
        name: String,
        /// Why not.
        reason: String,
    },
    /// A comparison needs at least two seeds for its interval and test.
    #[error("a comparison needs at least 2 seeds, got {count}")]
    TooFewSeeds {
        /// Seeds given.
        count: usize,
    },
    /// The sweep's chart could not be drawn.
    #[error("plot: {0}")]
    Plot(String),
    /// `--measure` names a workload item the scenario does not have.
    #[error("--measure {name}: no such workload item (the scenario has {known})")]
    UnknownWorkload {
        /// The name given.
        name: String,
        /// The scenario's items.
        known: String,
    },
    /// A real-time backend failed (for containers: Docker, an image, a container, the
    /// client); the message starts with the backend's name (`docker: ...`).
    #[error("{0}")]
    Backend(String),
    /// A command past one of [`sshrace_core::limits`], refused before anything ran.
    #[error("{0}")]
    Admission(String),
    /// A stop was asked for (SIGINT, SIGTERM) before this run started.
    #[error("not run: interrupted by {0}")]
    Interrupted(&'static str),
    /// The fuzzer gave up (proptest rejected too many cases).
    #[error("fuzz: {0}")]
    Fuzz(String),
}
