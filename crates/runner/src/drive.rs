//! The client side of a run: plays the plan's operations and client-side events through the
//! strategy (or, on a real-time backend, a user's client program), in (simulated) time, and
//! records what the client reported.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sshrace_core::{Clock, ExecResult, Mark, TransportError};
use sshrace_scenario::{Action, Plan, PlannedKind, PlannedOperation, Purpose};
use sshrace_strategy::{
    ConnectionPolicy, Env, EventSink, Job, JobRunner, JobStep, MasterCommand, Request,
    StrategySpec, watch_gate,
};
use tokio::time::Instant;

use crate::{OpRecord, OpResult};

/// What the driver hands back, filled as operations resolve (so a run cut short still has them).
#[derive(Default)]
pub(crate) struct DriveLog {
    pub(crate) records: Mutex<Vec<OpRecord>>,
    /// (host, time) of each teardown a reachability gate ordered.
    pub(crate) teardowns: Mutex<Vec<(String, Duration)>>,
}

/// Forwards to the policy, noting each gate-ordered disconnect.
struct Tracked {
    inner: Arc<dyn ConnectionPolicy>,
    shared: Arc<DriveLog>,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl ConnectionPolicy for Tracked {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        self.inner.run(request).await
    }

    async fn disconnect(&self, host: &str) {
        self.shared
            .teardowns
            .lock()
            .expect("teardowns lock")
            .push((host.to_owned(), self.clock.now()));
        self.inner.disconnect(host).await;
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

/// Who answers the plan's operations.
#[derive(Clone)]
enum Client {
    /// A strategy's connection policy and job runner.
    Strategy {
        policy: Arc<dyn ConnectionPolicy>,
        jobs: Arc<dyn JobRunner>,
    },
    /// A user's program, spoken to in the driver protocol.
    #[cfg(feature = "program")]
    Program(Arc<sshrace_driver::Program>),
}

/// Play `plan` with `spec` until every operation resolved or `end`, then shut the strategy down.
pub(crate) async fn drive(
    env: Env,
    spec: StrategySpec,
    plan: Plan,
    hosts: Vec<String>,
    end: Duration,
    shared: Arc<DriveLog>,
) {
    let start = Instant::now();
    let built = spec.build(env.clone());
    let policy = built.policy.clone();
    let mut background = Vec::new();
    if let Some(gate) = &built.gate {
        let tracked: Arc<dyn ConnectionPolicy> = Arc::new(Tracked {
            inner: policy.clone(),
            shared: shared.clone(),
            clock: env.trace.clock().clone(),
        });
        for host in hosts {
            background.push(tokio::spawn(watch_gate(
                env.clone(),
                host,
                gate.clone(),
                tracked.clone(),
                built.poll_interval,
            )));
        }
    }
    let client = Client::Strategy {
        policy: policy.clone(),
        jobs: built.jobs.clone(),
    };
    play(&env, &client, plan, start, end, &shared, background).await;
    policy.shutdown().await;
    // Let the closes reach the servers, so the ledger shows what was really left open.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Play `plan` through a user's `program` until every operation resolved or `end`, then shut
/// the program down; what it did wrong goes to the trace.
#[cfg(feature = "program")]
pub(crate) async fn drive_program(
    env: Env,
    program: Arc<sshrace_driver::Program>,
    plan: Plan,
    end: Duration,
    shared: Arc<DriveLog>,
) {
    let start = Instant::now();
    let client = Client::Program(program.clone());
    play(&env, &client, plan, start, end, &shared, Vec::new()).await;
    let diagnostics = program.shutdown().await;
    env.record_marked(
        format!(
            "client program {}: {} protocol violation(s), {} late message(s), {}{}",
            program.name(),
            diagnostics.violation_count,
            diagnostics.late_messages,
            diagnostics.exit.as_deref().unwrap_or("still running"),
            if diagnostics.killed {
                ", killed at shutdown"
            } else {
                ""
            }
        ),
        vec![Mark::Global],
    );
    // Let the closes reach the servers, so the ledger shows what was really left open.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Play the plan's client-side events and operations through `client`; `background` tasks are
/// stopped once every operation resolved.
async fn play(
    env: &Env,
    client: &Client,
    plan: Plan,
    start: Instant,
    end: Duration,
    shared: &Arc<DriveLog>,
    mut background: Vec<tokio::task::JoinHandle<()>>,
) {
    let clock = env.trace.clock().clone();
    for event in plan.events {
        let client = client.clone();
        let env = env.clone();
        background.push(tokio::spawn(async move {
            tokio::time::sleep_until(start + event.at).await;
            match event.action {
                Action::Refresh { host } => {
                    env.record_marked(format!("timeline: refresh {host}"), vec![Mark::Global]);
                    client.refresh(&host).await;
                }
                Action::MuxExit { host } => {
                    env.record_marked(
                        format!("timeline: ssh -O exit to the master for {host}"),
                        vec![Mark::Global],
                    );
                    client.master(&host, MasterCommand::Exit).await;
                }
                Action::MuxStop { host } => {
                    env.record_marked(
                        format!("timeline: ssh -O stop to the master for {host}"),
                        vec![Mark::Global],
                    );
                    client.master(&host, MasterCommand::Stop).await;
                }
                Action::Fault(fault) => client.fault(&fault).await,
            }
        }));
    }
    let mut tasks = Vec::new();
    for operation in plan.operations {
        let player = Player {
            client: client.clone(),
            env: env.clone(),
            clock: clock.clone(),
            shared: shared.clone(),
        };
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start + operation.at).await;
            player.play(operation, start, end).await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    for task in background {
        task.abort();
    }
}

impl Client {
    async fn refresh(&self, host: &str) {
        match self {
            Client::Strategy { policy, .. } => policy.refresh(host).await,
            #[cfg(feature = "program")]
            Client::Program(program) => program.refresh(host).await,
        }
    }

    async fn master(&self, host: &str, command: MasterCommand) {
        match self {
            Client::Strategy { policy, .. } => policy.master(host, command).await,
            #[cfg(feature = "program")]
            Client::Program(program) => program.master(host, command).await,
        }
    }

    /// A strategy learns of faults only through its transport and control plane; a program is
    /// told of control-plane changes, as its own control-plane client would be.
    async fn fault(&self, fault: &sshrace_core::Fault) {
        #[cfg(feature = "program")]
        if let (
            Client::Program(program),
            sshrace_core::Fault::ControlPlane {
                host,
                workspace,
                agent,
            },
        ) = (self, fault)
        {
            let status = sshrace_core::WorkspaceStatus {
                workspace: workspace.clone(),
                agent: agent.clone(),
            };
            program.control(host, &status).await;
        }
        let _ = fault;
    }
}

struct Player {
    client: Client,
    env: Env,
    clock: Arc<dyn Clock>,
    shared: Arc<DriveLog>,
}

fn request(operation: &PlannedOperation, host: &str, command: String) -> Request {
    Request {
        host: host.to_owned(),
        command,
        health_check: operation.purpose == Purpose::HealthCheck,
        retryable: operation.retryable,
        identity: operation.identity.clone(),
    }
}

impl Player {
    /// Run `operation` until it resolves or its deadline: `start + deadline` on the runtime's
    /// timer (the trace clock reads scenario time, which on a time-compressed container run is
    /// not the timer's time).
    async fn play(self, operation: PlannedOperation, start: Instant, end: Duration) {
        let started = self.clock.now();
        let deadline = operation
            .timeout
            .map_or(end, |t| (operation.at + t).min(end));
        let mut record = OpRecord::planned(&operation);
        record.started = started;
        let span = format!("op {}", operation.id);
        self.env.record_marked(
            format!(
                "op {} {}: start on {}",
                operation.id,
                operation.workload,
                record.hosts.join(",")
            ),
            vec![Mark::begin(
                span.clone(),
                format!("op {} {}", operation.id, operation.workload),
                "operations",
            )],
        );
        let work = self.execute(&operation, start, deadline);
        let result = match tokio::time::timeout_at(start + deadline, work).await {
            Ok(result) => result,
            Err(_) => OpResult::TimedOut,
        };
        self.env.record_marked(
            format!(
                "op {} {}: {}",
                operation.id,
                operation.workload,
                summary(&result)
            ),
            vec![Mark::end(span)],
        );
        record.finished = Some(self.clock.now());
        record.result = result;
        self.shared
            .records
            .lock()
            .expect("records lock")
            .push(record);
    }

    async fn execute(
        &self,
        operation: &PlannedOperation,
        start: Instant,
        deadline: Duration,
    ) -> OpResult {
        let (policy, jobs) = match &self.client {
            Client::Strategy { policy, jobs } => (policy, jobs),
            #[cfg(feature = "program")]
            Client::Program(program) => {
                return execute_on_program(program, operation, start, deadline, &self.env).await;
            }
        };
        let _ = (start, deadline);
        match &operation.kind {
            PlannedKind::Command { host, spec } | PlannedKind::Interactive { host, spec } => {
                let request = request(operation, host, spec.to_command_line());
                OpResult::Command(policy.run(&request).await)
            }
            PlannedKind::Job { steps } => {
                let job = Job {
                    id: operation.id,
                    steps: steps
                        .iter()
                        .map(|step| JobStep {
                            name: step.name.clone(),
                            request: request(operation, &step.host, step.spec.to_command_line()),
                        })
                        .collect(),
                };
                let events = EventSink::new(operation.id, self.env.trace.clone());
                let report = jobs.run(policy.clone(), &job, &events).await;
                OpResult::Job {
                    report,
                    lost_events: events.lost().len(),
                }
            }
        }
    }
}

/// One operation through a user's program: a `run` or `job` request with the time it has left.
#[cfg(feature = "program")]
async fn execute_on_program(
    program: &sshrace_driver::Program,
    operation: &PlannedOperation,
    start: Instant,
    deadline: Duration,
    env: &Env,
) -> OpResult {
    use sshrace_driver::{JobRequest, OpRequest};
    let left = (start + deadline).saturating_duration_since(Instant::now());
    if let Some(request) = OpRequest::for_operation(operation, &operation.identity, left) {
        return OpResult::Command(program.run(request).await);
    }
    match JobRequest::for_operation(operation, &operation.identity, left) {
        Some(request) => {
            let events = EventSink::new(operation.id, env.trace.clone());
            let report = program.job(request, &events).await;
            OpResult::Job {
                report,
                lost_events: events.lost().len(),
            }
        }
        None => OpResult::TimedOut,
    }
}

fn summary(result: &OpResult) -> String {
    match result {
        OpResult::Command(Ok(exec)) => format!("client got exit {}", exec.exit_status),
        OpResult::Command(Err(error)) => format!("client got {error}"),
        OpResult::Job {
            report,
            lost_events,
        } => format!(
            "job reports {} ({lost_events} events lost after DONE)",
            if report.success { "success" } else { "failure" }
        ),
        OpResult::TimedOut => "no answer before the deadline".to_owned(),
    }
}
