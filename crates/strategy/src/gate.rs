use std::sync::Arc;
use std::time::Duration;

use sshrace_core::{Mark, WorkspaceStatus};

use crate::{ConnectionPolicy, Env};

/// Decides from control-plane status whether a host counts as reachable. When a poll says it
/// is not, [`watch_gate`] tears down the policy's connections to it.
pub trait ReachabilityGate: Send + Sync {
    /// Name used in reports (`agent-status`).
    fn name(&self) -> &str;

    /// Whether a host with this status is reachable.
    fn reachable(&self, status: &WorkspaceStatus) -> bool;
}

/// `agent-status`: the Coder JetBrains Toolbox plugin's rule before 0.8.4 (incident 002
/// *before*): reachable only while the agent is CONNECTED; a poll that shows DISCONNECTED tears
/// SSH down, even though the transport works.
#[derive(Debug, Default, Clone, Copy)]
pub struct AgentStatusGate;

impl ReachabilityGate for AgentStatusGate {
    fn name(&self) -> &str {
        "agent-status"
    }

    fn reachable(&self, status: &WorkspaceStatus) -> bool {
        status.agent == "CONNECTED"
    }
}

/// `workspace-running`: the rule since 0.8.4 (incident 002 *after*): reachable while the
/// workspace is RUNNING, whatever the agent status; the data plane (keepalives) decides whether
/// the SSH transport is dead.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkspaceRunningGate;

impl ReachabilityGate for WorkspaceRunningGate {
    fn name(&self) -> &str {
        "workspace-running"
    }

    fn reachable(&self, status: &WorkspaceStatus) -> bool {
        status.workspace == "RUNNING"
    }
}

/// Poll the control plane for `host` every `interval`, forever; on each transition to
/// unreachable, disconnect the policy from `host`. A failed poll changes nothing. Run it as a
/// task and abort it when the run ends.
pub async fn watch_gate(
    env: Env,
    host: String,
    gate: Arc<dyn ReachabilityGate>,
    policy: Arc<dyn ConnectionPolicy>,
    interval: Duration,
) {
    let mut reachable = true;
    loop {
        tokio::time::sleep(interval).await;
        let Ok(Ok(status)) = tokio::time::timeout(interval, env.control.status(&host)).await else {
            continue;
        };
        let now_reachable = gate.reachable(&status);
        if reachable && !now_reachable {
            env.record_marked(
                format!(
                    "gate {}: {host} unreachable (workspace {}, agent {}): tearing down SSH",
                    gate.name(),
                    status.workspace,
                    status.agent
                ),
                vec![Mark::instant("gate")],
            );
            policy.disconnect(&host).await;
        } else if !reachable && now_reachable {
            env.record_marked(
                format!("gate {}: {host} reachable again", gate.name()),
                vec![Mark::instant("gate")],
            );
        }
        reachable = now_reachable;
    }
}
