//! The control-plane host: answers "what is the status of workspace X" over TCP, so a partition
//! between client and control plane makes polls fail the way they would in production.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sshrace_core::{ControlPlane, WorkspaceStatus};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Port the control host listens on.
pub(crate) const PORT: u16 = 8080;
/// Host name of the control plane.
pub(crate) const HOST: &str = "control";

/// Shared statuses, set by the timeline, served by the control host.
pub(crate) type Statuses = Arc<Mutex<BTreeMap<String, WorkspaceStatus>>>;

/// The control host's software: one line in (`host`), one line out (`WORKSPACE AGENT`).
pub(crate) async fn serve(statuses: Statuses) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let statuses = statuses.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let status = statuses
                .lock()
                .expect("status lock")
                .get(line.trim())
                .cloned()
                .unwrap_or_else(WorkspaceStatus::running);
            let reply = format!("{} {}\n", status.workspace, status.agent);
            let _ = write.write_all(reply.as_bytes()).await;
        });
    }
}

/// A [`ControlPlane`] that polls the simulated control host over the simulated network.
/// Call only inside the simulation's client host.
#[derive(Debug, Clone, Default)]
pub struct ControlPlaneClient;

#[async_trait]
impl ControlPlane for ControlPlaneClient {
    async fn status(&self, host: &str) -> Result<WorkspaceStatus, String> {
        let stream = turmoil::net::TcpStream::connect((HOST, PORT))
            .await
            .map_err(|e| format!("control plane unreachable: {e}"))?;
        let (read, mut write) = stream.into_split();
        write
            .write_all(format!("{host}\n").as_bytes())
            .await
            .map_err(|e| format!("control plane write: {e}"))?;
        let mut line = String::new();
        BufReader::new(read)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("control plane read: {e}"))?;
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(workspace), Some(agent)) => Ok(WorkspaceStatus {
                workspace: workspace.to_owned(),
                agent: agent.to_owned(),
            }),
            _ => Err(format!("control plane sent {line:?}")),
        }
    }
}
