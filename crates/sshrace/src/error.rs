use sshrace_runner::RunError;
use sshrace_scenario::ScenarioError;

/// Why a check could not run at all. A failed assertion is not an error: it panics with the
/// result table and a replay command (see [`Report`](crate::Report)).
///
/// ```
/// use sshrace::{Check, Error};
///
/// let error = Check::new("pool").try_run().unwrap_err();
/// assert!(matches!(error, Error::NoScenarios));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario file is invalid or unreadable; the message points at `path:line:column`.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A scenario directory could not be listed.
    #[error("reading scenario directory {path}: {message}")]
    ScenarioDirectory {
        /// The directory given.
        path: String,
        /// What the operating system said.
        message: String,
    },
    /// The check was given no scenario.
    #[error("no scenarios to run: add some with Check::scenarios, e.g. builtin::all()")]
    NoScenarios,
    /// The check was given an empty seed range.
    #[error("no seeds to run: give Check::seeds a non-empty range, e.g. 0..20")]
    NoSeeds,
    /// Two scenarios share a name, so assertions naming a scenario would be ambiguous.
    #[error("two scenarios are named {name:?} ({first} and {second}): set `name` in one of them")]
    DuplicateScenario {
        /// The shared name.
        name: String,
        /// Path of the first.
        first: String,
        /// Path of the second.
        second: String,
    },
    /// `SSHRACE_SEED`, `SSHRACE_SEEDS` or `SSHRACE_SHARD` holds something that is not a seed, a
    /// range or a shard.
    #[error("{variable}={value:?}: {message}")]
    Environment {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        message: String,
    },
    /// A strategy name is neither a built-in nor a variant the scenario defines.
    #[error("{scenario}: {source}")]
    Strategy {
        /// Path of the scenario it was resolved for.
        scenario: String,
        /// Why it did not resolve (the known names are in the message).
        #[source]
        source: Box<RunError>,
    },
    /// A run could not happen (the simulation failed to start or panicked).
    #[error("{scenario} with {strategy}, seed {seed}: {source}")]
    Run {
        /// Path of the scenario.
        scenario: String,
        /// The strategy's name.
        strategy: String,
        /// The seed.
        seed: u64,
        /// What went wrong.
        #[source]
        source: Box<RunError>,
    },
}
