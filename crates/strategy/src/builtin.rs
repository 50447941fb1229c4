use std::sync::Arc;

use sshrace_core::StrategyParams;

use crate::{
    AgentStatusGate, Cached, Fresh, Mux, MuxMode, Pool, Propagate, StrategySpec, Swallow,
    WorkspaceRunningGate,
};

/// Every built-in strategy: name and what it models. Names are used everywhere (CLI, scenario
/// files, reports).
pub const BUILTIN: [(&str, &str); 10] = [
    (
        "fresh",
        "connect, run, close per command (incident 001, before)",
    ),
    (
        "cached",
        "one connection per host reused while open, no limits, no liveness (incident 001, after)",
    ),
    (
        "mux-exit",
        "ControlMaster recycled by age with ssh -O exit, no lock (incident 000, before)",
    ),
    (
        "mux-exit-pr7503",
        "mux-exit with health checks bypassing the master (Coolify PR 7503)",
    ),
    (
        "mux-stop",
        "ControlMaster recycled by stop-and-drain under a per-host lock (incident 000, after)",
    ),
    (
        "pool",
        "bounded pool, keepalives, backoff with jitter, safe retries (recommended)",
    ),
    (
        "agent-status",
        "pool gated on agent CONNECTED: a flap tears SSH down (incident 002, before)",
    ),
    (
        "workspace-running",
        "pool gated on workspace RUNNING, keepalives judge the transport (incident 002, after)",
    ),
    (
        "swallow",
        "fresh connections, job errors swallowed, events after DONE lost (incident 003, before)",
    ),
    (
        "propagate",
        "fresh connections, job fails on any failed step, events before DONE (incident 003, after)",
    ),
];

/// The built-in strategy `name` with `params` applied, or `None` if there is no such built-in.
pub fn builtin(name: &str, params: &StrategyParams) -> Option<StrategySpec> {
    let description = BUILTIN.iter().find(|(n, _)| *n == name)?.1;
    let p = params.clone();
    let poll = params.duration(params.poll_interval_ms, 5_000);
    let spec = match name {
        "fresh" | "swallow" | "propagate" => {
            StrategySpec::custom(name, move |env| Arc::new(Fresh::new(env, &p)))
        }
        "cached" => StrategySpec::custom(name, move |env| Arc::new(Cached::new(env, &p))),
        "mux-exit" => {
            StrategySpec::custom(name, move |env| Arc::new(Mux::new(env, MuxMode::Exit, &p)))
        }
        "mux-exit-pr7503" => {
            let p = StrategyParams {
                health_check_bypass: Some(p.health_check_bypass.unwrap_or(true)),
                ..p
            };
            StrategySpec::custom(name, move |env| Arc::new(Mux::new(env, MuxMode::Exit, &p)))
        }
        "mux-stop" => {
            StrategySpec::custom(name, move |env| Arc::new(Mux::new(env, MuxMode::Stop, &p)))
        }
        _ => StrategySpec::custom(name, move |env| Arc::new(Pool::new(env, &p))),
    };
    let spec = match name {
        "agent-status" => spec.with_gate(Arc::new(AgentStatusGate), poll),
        "workspace-running" => spec.with_gate(Arc::new(WorkspaceRunningGate), poll),
        "swallow" => spec.with_jobs(Arc::new(Swallow)),
        "propagate" => spec.with_jobs(Arc::new(Propagate)),
        _ => spec,
    };
    Some(spec.describe(description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_builtin_builds_under_its_own_name() {
        for (name, _) in BUILTIN {
            let spec = builtin(name, &StrategyParams::default()).expect(name);
            assert_eq!(spec.name(), name);
            assert!(!spec.description().is_empty());
        }
        assert!(builtin("nope", &StrategyParams::default()).is_none());
    }
}
