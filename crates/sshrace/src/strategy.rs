use sshrace_runner::Registry;
use sshrace_scenario::Scenario;
use sshrace_strategy::StrategySpec;

use crate::Error;

/// The strategy a [`Check`](crate::Check) runs: one of yours, or a built-in by name.
///
/// Which one decides how a failure is replayed: a built-in with the `sshrace` command line
/// (`sshrace replay <scenario> --strategy <name> --seed <n>`), your own by re-running the test
/// with `SSHRACE_SEED=<n>`, since the command line does not know your code.
///
/// ```
/// use sshrace::{Strategy, StrategySpec};
///
/// let pool = Strategy::from("pool");
/// assert_eq!(pool.name(), "pool");
/// # let my_spec: StrategySpec = sshrace::doc_support::one_shot();
/// let mine = Strategy::from(my_spec);
/// assert!(matches!(mine, Strategy::Custom(_)));
/// ```
#[derive(Debug, Clone)]
pub enum Strategy {
    /// A built-in strategy (`"pool"`, `"mux-exit"`; `sshrace list` shows them all) or a variant
    /// a scenario defines with `[strategy.NAME]`, resolved for each scenario.
    Builtin(String),
    /// Your own strategy.
    Custom(StrategySpec),
}

impl Strategy {
    /// The built-in strategy `name`.
    pub fn builtin(name: &str) -> Self {
        Strategy::Builtin(name.to_owned())
    }

    /// Its name, as rows and reports show it.
    pub fn name(&self) -> &str {
        match self {
            Strategy::Builtin(name) => name,
            Strategy::Custom(spec) => spec.name(),
        }
    }

    /// The spec to run in `scenario`.
    pub(crate) fn resolve(&self, scenario: &Scenario) -> Result<StrategySpec, Error> {
        match self {
            Strategy::Custom(spec) => Ok(spec.clone()),
            Strategy::Builtin(name) => Registry::new()
                .resolve(scenario, name, &Default::default())
                .map_err(|source| Error::Strategy {
                    scenario: scenario.path.clone(),
                    source: Box::new(source),
                }),
        }
    }
}

impl From<StrategySpec> for Strategy {
    fn from(spec: StrategySpec) -> Self {
        Strategy::Custom(spec)
    }
}

impl From<&str> for Strategy {
    /// A built-in strategy by name.
    fn from(name: &str) -> Self {
        Strategy::builtin(name)
    }
}
