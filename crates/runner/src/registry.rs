use sshrace_core::StrategyParams;
use sshrace_scenario::{Scenario, ScenarioError};
use sshrace_strategy::{BUILTIN, StrategySpec, builtin};

use crate::RunError;

/// Strategy names to strategies: your own (registered with [`Registry::with`]) first, then a
/// scenario's named variants (`[strategy.NAME] base = ...`), then the built-ins.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    custom: Vec<StrategySpec>,
}

impl Registry {
    /// The built-ins only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or shadow a built-in with) your own strategy.
    pub fn with(mut self, spec: StrategySpec) -> Self {
        self.custom.retain(|s| s.name() != spec.name());
        self.custom.push(spec);
        self
    }

    /// Every name this registry knows outside any scenario, custom ones first.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.custom.iter().map(|s| s.name().to_owned()).collect();
        names.extend(BUILTIN.iter().map(|(n, _)| (*n).to_owned()));
        names.dedup();
        names
    }

    /// The strategy `name` as `scenario` defines or refers to it, with `overrides` applied to a
    /// built-in's parameters (a sweep's `--param`).
    pub fn resolve(
        &self,
        scenario: &Scenario,
        name: &str,
        overrides: &StrategyParams,
    ) -> Result<StrategySpec, RunError> {
        if let Some(spec) = self.custom.iter().find(|s| s.name() == name) {
            return Ok(spec.clone());
        }
        if let Some(variant) = scenario.variants.get(name) {
            let params = variant.params.merged(overrides);
            return builtin(&variant.base, &params)
                .map(|spec| spec.renamed(name))
                .ok_or_else(|| self.unknown(&variant.base));
        }
        builtin(name, overrides).ok_or_else(|| self.unknown(name))
    }

    /// Check that every strategy `scenario` lists resolves; the error points at the entry.
    pub fn check(&self, scenario: &Scenario) -> Result<(), ScenarioError> {
        // A variant named like a built-in would run under the built-in's name in every report
        // (`[strategy.pool] base = "fresh"` ran fresh as `pool`): refused.
        if let Some(name) = scenario
            .variants
            .keys()
            .find(|name| BUILTIN.iter().any(|(builtin, _)| *builtin == name.as_str()))
        {
            let message = format!(
                "a variant may not take the name of the built-in strategy {name:?}; name it something else"
            );
            return Err(scenario.variant_error(name, message));
        }
        for (index, name) in scenario.strategies.iter().enumerate() {
            if let Err(error) = self.resolve(scenario, name, &StrategyParams::default()) {
                return Err(scenario.strategy_error(index, error.to_string()));
            }
        }
        Ok(())
    }

    fn unknown(&self, name: &str) -> RunError {
        RunError::UnknownStrategy {
            name: name.to_owned(),
            known: self.names().join(", "),
        }
    }
}
