//! Reachability gates: a brief DISCONNECTED flap from the control plane tears down a healthy
//! SSH session under the old rule (agent status) and not under the new one (workspace RUNNING).
//! Incident: ../shared/seeds/002_fbe761ffa8f3f92a.txt

use std::sync::Arc;

use sshrace_core::{Cause, CommandSpec, Fault, StrategyParams};
use sshrace_sim::{World, WorldConfig};
use sshrace_strategy::{
    AgentStatusGate, ConnectionPolicy, Pool, ReachabilityGate, WorkspaceRunningGate, watch_gate,
};
use sshrace_tests::{env, request, secs};

fn flap(agent: &str) -> Fault {
    Fault::ControlPlane {
        host: "target".into(),
        workspace: "RUNNING".into(),
        agent: agent.into(),
    }
}

/// An IDE session of 10 minutes; the agent shows DISCONNECTED from 100 s to 108 s.
fn interactive_session(
    gate: Arc<dyn ReachabilityGate>,
) -> sshrace_sim::SimOutcome<Result<u32, Cause>> {
    let config = WorldConfig::new(60)
        .target("target")
        .fault(secs(100), flap("DISCONNECTED"))
        .fault(secs(108), flap("CONNECTED"))
        .tick(std::time::Duration::from_millis(10));
    World::run(&config, move |ctx| async move {
        let env = env(&ctx);
        let policy: Arc<dyn ConnectionPolicy> =
            Arc::new(Pool::new(env.clone(), &StrategyParams::default()));
        let watcher = tokio::spawn(watch_gate(
            env,
            "target".into(),
            gate,
            policy.clone(),
            secs(5),
        ));
        let result = policy
            .run(&request("target", &CommandSpec::new(1, secs(600))))
            .await
            .map(|r| r.exit_status)
            .map_err(|e| e.cause);
        watcher.abort();
        policy.shutdown().await;
        result
    })
    .unwrap()
}

#[test]
fn agent_status_gate_tears_down_healthy_session_on_flap() {
    let outcome = interactive_session(Arc::new(AgentStatusGate));
    assert_eq!(outcome.client.unwrap(), Err(Cause::ClosedLocally));
    assert!(
        !outcome.ledger.completed_successfully(1),
        "the server-side session was cut"
    );
    assert!(outcome.trace.render().contains("tearing down SSH"));
}

#[test]
fn workspace_running_gate_keeps_session_through_flap() {
    let outcome = interactive_session(Arc::new(WorkspaceRunningGate));
    assert_eq!(outcome.client.unwrap(), Ok(0));
    assert!(outcome.ledger.completed_successfully(1));
}
