//! The messages of the driver protocol (`docs/driver-protocol.md`), as JSON lines.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sshrace_core::WorkspaceStatus;
use sshrace_scenario::{PlannedKind, PlannedOperation, Purpose};

/// The protocol version sent in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// One target host, as the program is told about it in `hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// The scenario's host name (`target`), what requests name.
    pub name: String,
    /// Where to dial it now (`127.0.0.1`).
    pub address: String,
    /// Its SSH port.
    pub port: u16,
    /// Users it accepts; the first is the default.
    pub users: Vec<String>,
    /// The private key to authenticate with.
    pub key_file: PathBuf,
    /// A known_hosts file that has the host's key.
    pub known_hosts: PathBuf,
}

/// Why an operation runs, as the program is told: `"work"`, `"health-check"` or
/// `"interactive"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpPurpose {
    /// Real work.
    Work,
    /// A health check.
    HealthCheck,
    /// An interactive session (a terminal a person keeps open).
    Interactive,
}

impl OpPurpose {
    /// The purpose of a planned operation: interactive for an interactive session, else its
    /// scenario purpose.
    pub fn of(operation: &PlannedOperation) -> Self {
        match (&operation.kind, operation.purpose) {
            (PlannedKind::Interactive { .. }, _) => OpPurpose::Interactive,
            (_, Purpose::HealthCheck) => OpPurpose::HealthCheck,
            (_, Purpose::Work) => OpPurpose::Work,
        }
    }

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            OpPurpose::Work => "work",
            OpPurpose::HealthCheck => "health-check",
            OpPurpose::Interactive => "interactive",
        }
    }
}

/// One command for the program to run (`run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRequest {
    /// Unique among the requests in flight; the reply names it.
    pub id: u64,
    /// The target's name.
    pub host: String,
    /// The user to log in as.
    pub user: String,
    /// The exact remote command line.
    pub command: String,
    /// How long the operation has (sent as `timeout_ms`; sshrace stops waiting then).
    pub timeout: Duration,
    /// Why it runs.
    pub purpose: OpPurpose,
    /// Whether the program may retry it.
    pub retryable: bool,
}

impl OpRequest {
    /// The request for a planned command or interactive operation (`None` for a job), logging in
    /// as `user`, with `timeout` left.
    pub fn for_operation(
        operation: &PlannedOperation,
        user: &str,
        timeout: Duration,
    ) -> Option<OpRequest> {
        match &operation.kind {
            PlannedKind::Command { host, spec } | PlannedKind::Interactive { host, spec } => {
                Some(OpRequest {
                    id: operation.id,
                    host: host.clone(),
                    user: user.to_owned(),
                    command: spec.to_command_line(),
                    timeout,
                    purpose: OpPurpose::of(operation),
                    retryable: operation.retryable,
                })
            }
            PlannedKind::Job { .. } => None,
        }
    }
}

/// One step of a job request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStepRequest {
    /// The step's name (`clone`, `build`).
    pub name: String,
    /// The target's name.
    pub host: String,
    /// The user to log in as.
    pub user: String,
    /// The exact remote command line.
    pub command: String,
}

/// A multi-step job for the program to run and narrate (`job`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    /// Unique among the requests in flight.
    pub id: u64,
    /// Steps in order (host-major, as the plan lists them).
    pub steps: Vec<JobStepRequest>,
    /// How long the job has.
    pub timeout: Duration,
}

impl JobRequest {
    /// The request for a planned job (`None` for anything else), logging in as `user`.
    pub fn for_operation(
        operation: &PlannedOperation,
        user: &str,
        timeout: Duration,
    ) -> Option<JobRequest> {
        match &operation.kind {
            PlannedKind::Job { steps } => Some(JobRequest {
                id: operation.id,
                steps: steps
                    .iter()
                    .map(|step| JobStepRequest {
                        name: step.name.clone(),
                        host: step.host.clone(),
                        user: user.to_owned(),
                        command: step.spec.to_command_line(),
                    })
                    .collect(),
                timeout,
            }),
            _ => None,
        }
    }
}

/// A target in `hello`.
#[derive(Debug, Serialize)]
pub(crate) struct HelloTarget {
    name: String,
    address: String,
    port: u16,
    user: String,
    users: Vec<String>,
    key_file: String,
    known_hosts: String,
}

impl From<&TargetInfo> for HelloTarget {
    fn from(target: &TargetInfo) -> Self {
        HelloTarget {
            name: target.name.clone(),
            address: target.address.clone(),
            port: target.port,
            user: target
                .users
                .first()
                .cloned()
                .unwrap_or_else(|| "root".to_owned()),
            users: target.users.clone(),
            key_file: target.key_file.to_string_lossy().into_owned(),
            known_hosts: target.known_hosts.to_string_lossy().into_owned(),
        }
    }
}

/// sshrace -> program.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub(crate) enum ToProgram {
    Hello {
        protocol: u32,
        workdir: String,
        time_scale: f64,
        targets: Vec<HelloTarget>,
    },
    Run {
        id: u64,
        host: String,
        user: String,
        command: String,
        timeout_ms: u64,
        purpose: OpPurpose,
        retryable: bool,
    },
    Job {
        id: u64,
        steps: Vec<JobStepRequest>,
        timeout_ms: u64,
    },
    Control {
        host: String,
        workspace: String,
        agent: String,
    },
    Refresh {
        host: String,
    },
    Master {
        host: String,
        command: &'static str,
    },
    Cancel {
        id: u64,
    },
    Shutdown,
}

impl ToProgram {
    pub(crate) fn run(request: &OpRequest) -> Self {
        ToProgram::Run {
            id: request.id,
            host: request.host.clone(),
            user: request.user.clone(),
            command: request.command.clone(),
            timeout_ms: millis(request.timeout),
            purpose: request.purpose,
            retryable: request.retryable,
        }
    }

    pub(crate) fn job(request: &JobRequest) -> Self {
        ToProgram::Job {
            id: request.id,
            steps: request.steps.clone(),
            timeout_ms: millis(request.timeout),
        }
    }

    pub(crate) fn control(host: &str, status: &WorkspaceStatus) -> Self {
        ToProgram::Control {
            host: host.to_owned(),
            workspace: status.workspace.clone(),
            agent: status.agent.clone(),
        }
    }

    /// The message as one line, newline included.
    pub(crate) fn line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("protocol messages serialize");
        line.push('\n');
        line
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// program -> sshrace, every field optional so that a wrong shape is reported as such rather
/// than as unreadable JSON. Unknown fields are ignored (later versions may add some).
#[derive(Debug, Deserialize)]
pub(crate) struct FromProgram {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) id: Option<u64>,
    pub(crate) exit_status: Option<u32>,
    pub(crate) stdout_bytes: Option<u64>,
    pub(crate) stderr_bytes: Option<u64>,
    pub(crate) error: Option<String>,
    pub(crate) cause: Option<String>,
    pub(crate) success: Option<bool>,
    pub(crate) text: Option<String>,
}
