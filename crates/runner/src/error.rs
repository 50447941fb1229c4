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
    /// The fuzzer gave up (proptest rejected too many cases).
    #[error("fuzz: {0}")]
    Fuzz(String),
}
