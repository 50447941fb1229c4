use sshrace_scenario::{Scenario, ScenarioError};

/// A scenario file shipped with sshrace (`scenarios/` at the repository top), compiled in.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinScenario {
    /// Its name (the file stem).
    pub name: &'static str,
    /// Its path in the repository, used in errors and replay commands.
    pub path: &'static str,
    /// The file's text.
    pub text: &'static str,
}

impl BuiltinScenario {
    /// Parse it.
    pub fn parse(&self) -> Result<Scenario, ScenarioError> {
        Scenario::from_str(self.text, self.path)
    }
}

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        [$(BuiltinScenario {
            name: $name,
            path: concat!("scenarios/", $name, ".toml"),
            text: include_str!(concat!("../../../scenarios/", $name, ".toml")),
        }),*]
    };
}

const BUILTIN: [BuiltinScenario; 18] = builtin![
    "deploy-age-recycle",
    "flood-fresh-connections",
    "agent-flap",
    "swallowed-install-error",
    "stop-then-reap",
    "control-persist-race",
    "two-workers-create-master",
    "max-sessions-one-master",
    "cron-same-second",
    "stale-master-after-crash",
    "wedged-master-blackhole",
    "max-startups-retry-storm",
    "nat-idle-quiet-session",
    "nat-idle-half-open",
    "sshd-restart-under-load",
    "silent-build-no-keepalive",
    "revoked-key-behind-nat",
    "fuzz-base",
];

/// The built-in scenarios: the four incidents first, then the other races.
pub fn builtin_scenarios() -> &'static [BuiltinScenario] {
    &BUILTIN
}
