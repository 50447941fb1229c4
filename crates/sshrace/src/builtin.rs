//! The scenarios shipped with sshrace, compiled in: the four incidents (a ControlMaster
//! recycled under a deploy, a MaxStartups flood, a control-plane flap, a swallowed error) and
//! the other races. `sshrace list` describes each.
//!
//! ```
//! use sshrace::builtin;
//!
//! assert_eq!(builtin::all().len(), builtin::names().len());
//! let scenario = builtin::named("deploy-age-recycle");
//! assert_eq!(scenario.path, "scenarios/deploy-age-recycle.toml");
//! ```

use sshrace_runner::builtin_scenarios;
use sshrace_scenario::Scenario;

/// Every built-in scenario, the incidents first.
pub fn all() -> Vec<Scenario> {
    builtin_scenarios()
        .iter()
        .map(|builtin| parse(builtin.name))
        .collect()
}

/// The built-in scenario `name` (a file stem in sshrace's `scenarios/`, e.g.
/// `"deploy-age-recycle"`).
///
/// # Panics
///
/// If there is no built-in scenario of that name; the message lists the names there are.
pub fn named(name: &str) -> Scenario {
    if !names().contains(&name) {
        panic!(
            "no built-in scenario named {name:?} (built-ins: {})",
            names().join(", ")
        );
    }
    parse(name)
}

/// The names of the built-in scenarios, in [`all`]'s order.
pub fn names() -> Vec<&'static str> {
    builtin_scenarios().iter().map(|b| b.name).collect()
}

fn parse(name: &str) -> Scenario {
    let builtin = builtin_scenarios()
        .iter()
        .find(|b| b.name == name)
        .expect("caller checked the name");
    // Built-ins are compiled in and parsed by sshrace's own tests: an error is a bug in sshrace.
    builtin
        .parse()
        .unwrap_or_else(|error| panic!("built-in scenario does not parse: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_under_its_name() {
        for (scenario, name) in all().iter().zip(names()) {
            assert_eq!(scenario.name, name);
        }
    }

    #[test]
    #[should_panic(
        expected = "no built-in scenario named \"deploy\" (built-ins: deploy-age-recycle"
    )]
    fn an_unknown_name_lists_the_builtins() {
        named("deploy");
    }
}
