use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sshrace_core::{FailureClass, Mark, Trace};

use crate::{ConnectionPolicy, Request};

/// A multi-step remote job (install a daemon on several hosts: clone, build, install).
#[derive(Debug, Clone)]
pub struct Job {
    /// Operation id, for reports.
    pub id: u64,
    /// Steps in order; a job runs each host's steps in order, hosts in parallel.
    pub steps: Vec<JobStep>,
}

/// One step of a [`Job`] on one host.
#[derive(Debug, Clone)]
pub struct JobStep {
    /// Step name (`clone`, `build`).
    pub name: String,
    /// What to run where.
    pub request: Request,
}

/// What a job runner reports about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// Whether the job says it succeeded.
    pub success: bool,
    /// How it failed, if it says it failed.
    pub failure: Option<FailureClass>,
}

/// The track job events are drawn on in a timeline viewer.
const JOBS_TRACK: &str = "job events";

/// The job's event stream (server-sent events to a UI). It ends with a DONE marker; a consumer
/// stops reading at DONE, so events emitted after it are lost.
#[derive(Clone)]
pub struct EventSink {
    inner: Arc<Mutex<Events>>,
    trace: Trace,
    job: u64,
}

#[derive(Default)]
struct Events {
    delivered: Vec<String>,
    lost: Vec<String>,
    done: bool,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink").field("job", &self.job).finish()
    }
}

impl EventSink {
    /// An open stream for job `job`.
    pub fn new(job: u64, trace: Trace) -> Self {
        Self {
            inner: Arc::default(),
            trace,
            job,
        }
    }

    /// Emit an event: delivered before DONE, lost after.
    pub fn emit(&self, event: impl Into<String>) {
        let event = event.into();
        let mut events = self.inner.lock().expect("events lock");
        if events.done {
            self.trace.record_marked(
                "client",
                format!("job {}: event lost after DONE: {event}", self.job),
                vec![Mark::instant(JOBS_TRACK)],
            );
            events.lost.push(event);
        } else {
            self.trace.record_marked(
                "client",
                format!("job {}: event: {event}", self.job),
                vec![Mark::instant(JOBS_TRACK)],
            );
            events.delivered.push(event);
        }
    }

    /// Send the DONE marker; the consumer stops reading.
    pub fn done(&self) {
        self.trace.record_marked(
            "client",
            format!("job {}: DONE", self.job),
            vec![Mark::instant(JOBS_TRACK)],
        );
        self.inner.lock().expect("events lock").done = true;
    }

    /// Events delivered before DONE.
    pub fn delivered(&self) -> Vec<String> {
        self.inner.lock().expect("events lock").delivered.clone()
    }

    /// Events emitted after DONE.
    pub fn lost(&self) -> Vec<String> {
        self.inner.lock().expect("events lock").lost.clone()
    }
}

/// How a multi-step job runs its steps and reports failures and events.
#[async_trait]
pub trait JobRunner: Send + Sync {
    /// Name used in reports.
    fn name(&self) -> &str;

    /// Run `job` through `policy`, emitting events to `events`, and report.
    async fn run(
        &self,
        policy: Arc<dyn ConnectionPolicy>,
        job: &Job,
        events: &EventSink,
    ) -> JobReport;
}

/// Each host's steps in a spawned task; a failing step ends that host's task with its error.
async fn run_hosts(
    policy: &Arc<dyn ConnectionPolicy>,
    job: &Job,
    events: &EventSink,
) -> Vec<(String, Result<(), FailureClass>)> {
    let mut hosts: Vec<String> = Vec::new();
    for step in &job.steps {
        if !hosts.contains(&step.request.host) {
            hosts.push(step.request.host.clone());
        }
    }
    let mut tasks = Vec::new();
    for host in hosts {
        let steps: Vec<JobStep> = job
            .steps
            .iter()
            .filter(|s| s.request.host == host)
            .cloned()
            .collect();
        let policy = policy.clone();
        let events = events.clone();
        tasks.push((
            host.clone(),
            tokio::spawn(async move {
                for step in steps {
                    events.emit(format!("{host}: {} started", step.name));
                    match policy.run(&step.request).await {
                        Ok(result) if result.exit_status == 0 => {}
                        Ok(result) => return Err(FailureClass::RemoteExit(result.exit_status)),
                        Err(error) => return Err(FailureClass::from(&error)),
                    }
                }
                Ok(())
            }),
        ));
    }
    let mut results = Vec::new();
    for (host, task) in tasks {
        let result = task.await.unwrap_or(Err(FailureClass::Timeout));
        results.push((host, result));
    }
    results
}

fn describe(host: &str, result: &Result<(), FailureClass>) -> String {
    match result {
        Ok(()) => format!("{host}: ok"),
        Err(failure) => format!("{host}: failed: {failure:?}"),
    }
}

/// `swallow`: the rbee daemon-sync runner before its fix (incident 003 *before*). Per-host tasks
/// store their errors in the per-host results, the job returns success regardless, sends DONE,
/// and only then narrates the per-host results, which the consumer never reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct Swallow;

#[async_trait]
impl JobRunner for Swallow {
    fn name(&self) -> &str {
        "swallow"
    }

    async fn run(
        &self,
        policy: Arc<dyn ConnectionPolicy>,
        job: &Job,
        events: &EventSink,
    ) -> JobReport {
        let results = run_hosts(&policy, job, events).await;
        events.done();
        for (host, result) in &results {
            events.emit(describe(host, result));
        }
        JobReport {
            success: true,
            failure: None,
        }
    }
}

/// `propagate`: the fix (incident 003 *after*). The job fails if any step fails, and every
/// result is narrated before DONE.
#[derive(Debug, Default, Clone, Copy)]
pub struct Propagate;

#[async_trait]
impl JobRunner for Propagate {
    fn name(&self) -> &str {
        "propagate"
    }

    async fn run(
        &self,
        policy: Arc<dyn ConnectionPolicy>,
        job: &Job,
        events: &EventSink,
    ) -> JobReport {
        let results = run_hosts(&policy, job, events).await;
        for (host, result) in &results {
            events.emit(describe(host, result));
        }
        let failure = results.iter().find_map(|(_, r)| r.err());
        events.done();
        JobReport {
            success: failure.is_none(),
            failure,
        }
    }
}
