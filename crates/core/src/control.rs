use async_trait::async_trait;

/// What a control plane (Coder, a cloud console) says about a workspace and its agent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkspaceStatus {
    /// Workspace build status: PENDING, STARTING, RUNNING, STOPPING, STOPPED, FAILED, ...
    pub workspace: String,
    /// Agent status: CONNECTING, CONNECTED, DISCONNECTED, TIMEOUT.
    pub agent: String,
}

impl WorkspaceStatus {
    /// A running workspace with a connected agent.
    pub fn running() -> Self {
        Self {
            workspace: "RUNNING".to_owned(),
            agent: "CONNECTED".to_owned(),
        }
    }
}

/// Where a reachability gate asks for status. The simulation answers over the simulated network
/// from its `control` host; real runs answer from the harness.
#[async_trait]
pub trait ControlPlane: Send + Sync {
    /// The current status of `host`'s workspace, or why it could not be fetched.
    async fn status(&self, host: &str) -> Result<WorkspaceStatus, String>;
}
