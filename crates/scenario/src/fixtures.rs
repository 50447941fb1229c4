//! Scenario texts shared by the tests.

/// A scenario file that sets every key the format has, most of them to non-defaults.
pub(crate) const COMPLETE: &str = r#"# Deploys through a ControlMaster recycled by age (every key of the format).
name = "deploy-age-recycle"
description = "Deploys and health checks through a ControlMaster recycled by age."
strategies = ["mux-exit", "coolify-3600"]
seeds = [12, "0x7164edcda800eb69", "42"]
profile = "openssh-10.0"
failing = ["transport", "timeout", "silent-failure"]

[sim]
duration_ms = 3600000
tick_ms = 2
latency_ms = 3
jitter_ms = 1

[[host]]
name = "target"
max_startups = "10:30:100"
max_sessions = 10
login_grace_time_ms = 120000
client_alive_interval_ms = 0
client_alive_count_max = 3
handshake_cost_ms = 2
handshake_workers = 2
revoked_identities = []

[[host]]
name = "builder"
max_startups = "20"
max_sessions = 4
login_grace_time_ms = 30000
client_alive_interval_ms = 15000
client_alive_count_max = 2
handshake_cost_ms = 5
handshake_workers = 1
revoked_identities = ["mallory"]

[strategy.coolify-3600]
base = "mux-exit"
max_age_ms = 3600000
attempts = 3
health_check_bypass = true

[[workload]]
name = "deploy"
kind = "command"
host = "target"
purpose = "work"
retryable = false
measured = true
timeout_ms = 600000
identity = "deployer"
every_ms = 60000
start_ms = 1000
until_ms = 3000000
jitter_ms = 500
duration_ms = 60000
duration_jitter_ms = 1000
exit_code = 0
fail_probability = 0.01
stdout_bytes = 4096
stderr_bytes = 16
chunks = 4
hang = false

[[workload]]
name = "health"
host = "target"
purpose = "health-check"
retryable = true
measured = false
rate_per_hour = 120
start_ms = 0
until_ms = 3600000
duration_ms = 50

[[workload]]
name = "shell"
kind = "interactive"
host = "builder"
burst = 80
at_ms = 1000
hang = true

[[workload]]
name = "build"
kind = "job"
hosts = ["builder", "target"]
at_ms = 120000

[[workload.step]]
name = "clone"
duration_ms = 5000

[[workload.step]]
duration_ms = 20000
exit_code = 2

[[timeline]]
at_ms = 30000
fault = "partition"
a = "client"
b = "target"

[[timeline]]
at_ms = 40000
fault = "heal"
a = "client"
b = "target"

[[timeline]]
at_range_ms = [50000, 60000]
fault = "partition-one-way"
from = "target"
to = "control"

[[timeline]]
at_ms = 70000
fault = "crash"
host = "target"

[[timeline]]
at_ms = 80000
fault = "restart"
host = "target"

[[timeline]]
at_ms = 90000
fault = "pause"
host = "builder"

[[timeline]]
at_ms = 100000
fault = "resume"
host = "builder"

[[timeline]]
at_ms = 110000
fault = "nat-idle-timeout"
idle_ms = 350000

[[timeline]]
at_ms = 120000
fault = "nat-idle-timeout"
idle_ms = 0

[[timeline]]
at_ms = 130000
fault = "latency"
a = "client"
b = "builder"
base_ms = 40
jitter_ms = 10

[[timeline]]
at_ms = 140000
fault = "control-plane"
host = "target"
workspace = "STOPPED"
agent = "DISCONNECTED"

[[timeline]]
at_ms = 150000
fault = "control-plane"
host = "builder"

[[timeline]]
at_ms = 160000
fault = "refresh"
host = "target"

[[timeline]]
at_ms = 170000
fault = "mux-exit"
host = "target"

[[timeline]]
at_ms = 180000
fault = "mux-stop"
host = "builder"

[[timeline]]
at_ms = 3600000
fault = "latency"
a = "client"
b = "target"
base_ms = 1

[[expect]]
strategy = "coolify-3600"
max_failure_rate = 0.05
"#;

/// The smallest valid scenario; tests append to it or replace lines. Line numbers matter:
/// `[sim]` is line 4, `[[host]]` line 7, `[[workload]]` line 10, and the text ends after line 13.
pub(crate) const MINIMAL: &str = r#"description = "minimal"
strategies = ["mux-exit", "mux-stop"]

[sim]
duration_ms = 60000

[[host]]
name = "target"

[[workload]]
name = "deploy"
host = "target"
at_ms = 1000
"#;

/// The error `text` is rejected with, reported under path `s.toml`.
pub(crate) fn rejected(text: &str) -> crate::ScenarioError {
    match crate::Scenario::from_str(text, "s.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(error) => error,
    }
}

/// Assert that `text` is rejected with an error starting `prefix` (`s.toml:LINE:COL: FIELD: `)
/// and mentioning `words`.
pub(crate) fn assert_rejected(text: &str, prefix: &str, words: &str) {
    let shown = rejected(text).to_string();
    assert!(
        shown.starts_with(prefix) && shown.contains(words),
        "expected {prefix}...{words}...\n     got {shown}"
    );
}

/// [`MINIMAL`] with `more` appended.
pub(crate) fn minimal_with(more: &str) -> String {
    format!("{MINIMAL}{more}")
}
