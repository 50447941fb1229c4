//! Runs on real hosts in real time, time-compressed: the seam a real-time backend (containers:
//! the `sshrace-docker` crate) plugs into.
//!
//! The runner owns plan -> drive -> judge, as in the simulation. A backend provides the rest
//! through [`RealTime`] and [`LiveHosts`]: it starts the run's hosts and the transport that dials
//! them, applies a network or host fault when the plan reaches it, and reads the servers' ledger
//! back before tearing everything down. The runner itself answers the control plane (a
//! reachability gate's status polls) and applies the timeline's control-plane faults.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use sshrace_core::{
    Clock, ControlPlane, Fault, Ledger, Mark, StalledConnection, StrategyParams, Trace, Transport,
    WorkspaceStatus,
};
use sshrace_scenario::{Action, Plan, Scenario};
use sshrace_strategy::{Env, StrategySpec};

use crate::drive::{DriveLog, drive};
use crate::run::{Stalled, judge, operations_end};
use crate::{Job, OpRecord, RunError, RunResult};

/// What a real-time backend must provide for one run, once its hosts are up.
#[async_trait]
pub trait LiveHosts: Send + Sync {
    /// The transport the strategy dials the hosts with.
    fn transport(&self) -> Arc<dyn Transport>;

    /// Apply a network or host fault now. Control-plane faults (`control-plane`, and a
    /// partition from `control`) never get here: the runner applies them.
    async fn apply(&self, fault: &Fault) -> Result<(), String>;

    /// After the strategy shut down: stop the backend's own clients (the timeline's stalled
    /// clients, the transport's processes) and read the servers' ledger, its times turned into
    /// scenario time: `origin` is the wall-clock instant of scenario time zero. Returns the
    /// ledger and what the stalled clients saw; the backend closed every stalled connection
    /// before it read the ledger.
    async fn ledger(
        &mut self,
        origin: SystemTime,
    ) -> Result<(Ledger, Vec<StalledConnection>), RunError>;

    /// Remove everything the run started. Always called, also after an error.
    async fn teardown(self: Box<Self>);

    /// How a user's client program reaches the hosts: their addresses, a key and known_hosts
    /// file, and a scratch folder the backend removes at teardown.
    #[cfg(feature = "program")]
    async fn program_setup(&self) -> Result<ProgramSetup, String> {
        Err("this backend cannot run a client program".to_owned())
    }
}

/// What a client program is told of the hosts, and where it may write.
#[cfg(feature = "program")]
#[derive(Debug, Clone)]
pub struct ProgramSetup {
    /// The targets, as `hello` lists them.
    pub targets: Vec<sshrace_driver::TargetInfo>,
    /// The program's scratch folder.
    pub workdir: std::path::PathBuf,
}

/// One run as a real-time backend starts it.
pub struct LiveRun<'a> {
    /// The scenario (durations unscaled).
    pub scenario: &'a Scenario,
    /// The plan for the seed (unscaled).
    pub plan: &'a Plan,
    /// The seed.
    pub seed: u64,
    /// Real seconds per scenario second.
    pub time_scale: f64,
    /// The run's trace, on the run's scaled clock.
    pub trace: &'a Trace,
}

/// A backend whose runs happen on real hosts in real time.
#[async_trait]
pub trait RealTime: Send + Sync {
    /// The name in reports and results files (`docker-openssh-9.2`).
    fn name(&self, scenario: &Scenario) -> String;

    /// Start the hosts of `run`.
    async fn start(&self, run: &LiveRun<'_>) -> Result<Box<dyn LiveHosts>, RunError>;
}

/// `plan` with every instant and duration multiplied by `scale`.
pub fn scaled_plan(plan: &Plan, scale: f64) -> Plan {
    let s = |d: Duration| d.mul_f64(scale);
    let mut plan = plan.clone();
    for operation in &mut plan.operations {
        operation.at = s(operation.at);
        operation.timeout = operation.timeout.map(s);
        for spec in operation.kind.specs_mut() {
            spec.duration = s(spec.duration);
        }
    }
    for event in &mut plan.events {
        event.at = s(event.at);
        if let Action::Fault(fault) = &mut event.action {
            match fault {
                Fault::NatIdleTimeout { idle } => *idle = idle.map(s),
                Fault::Latency { base, jitter, .. } => {
                    *base = s(*base);
                    *jitter = s(*jitter);
                }
                _ => {}
            }
        }
    }
    plan
}

/// The strategy overrides that scale a built-in's durations in real time.
pub fn scaled_params(scale: f64) -> StrategyParams {
    StrategyParams {
        time_scale: Some(scale),
        ..StrategyParams::default()
    }
}

/// Scenario time on a real clock: real time since the run's origin, divided by the scale. The
/// origin is set again once the hosts are up, so scenario time zero is when the plan starts.
struct ScaledClock {
    origin: Mutex<Instant>,
    scale: f64,
}

impl Clock for ScaledClock {
    fn now(&self) -> Duration {
        self.origin
            .lock()
            .expect("clock lock")
            .elapsed()
            .div_f64(self.scale)
    }
}

/// The control plane the runner answers itself (every workspace RUNNING with its agent
/// CONNECTED until the timeline says otherwise); unreachable while partitioned from the client.
#[derive(Default)]
struct HarnessControl {
    statuses: Mutex<BTreeMap<String, WorkspaceStatus>>,
    cut_off: AtomicBool,
}

#[async_trait]
impl ControlPlane for HarnessControl {
    async fn status(&self, host: &str) -> Result<WorkspaceStatus, String> {
        if self.cut_off.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Err("control plane unreachable".to_owned());
        }
        Ok(self
            .statuses
            .lock()
            .expect("status lock")
            .get(host)
            .cloned()
            .unwrap_or_else(WorkspaceStatus::running))
    }
}

impl HarnessControl {
    /// Apply `fault` if it is the control plane's; `false` when it is the backend's.
    fn apply(&self, fault: &Fault) -> bool {
        match fault {
            Fault::Partition { a, b } | Fault::Heal { a, b }
                if a == "control" || b == "control" =>
            {
                let heal = matches!(fault, Fault::Heal { .. });
                self.cut_off.store(!heal, Ordering::SeqCst);
                true
            }
            Fault::PartitionOneWay { from, to } if from == "control" || to == "control" => {
                self.cut_off.store(true, Ordering::SeqCst);
                true
            }
            Fault::ControlPlane {
                host,
                workspace,
                agent,
            } => {
                self.statuses.lock().expect("status lock").insert(
                    host.clone(),
                    WorkspaceStatus {
                        workspace: workspace.clone(),
                        agent: agent.clone(),
                    },
                );
                true
            }
            _ => false,
        }
    }
}

/// Run `job` on `backend` at `time_scale`, judged exactly as a simulated run. The strategy must
/// have been resolved with [`scaled_params`]`(time_scale)`.
pub fn run_real_time(
    backend: &dyn RealTime,
    job: &Job,
    time_scale: f64,
    keep_trace: bool,
) -> Result<RunResult, RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunError::Backend(format!("tokio runtime: {e}")))?;
    runtime.block_on(play(
        backend,
        &job.scenario,
        &job.strategy,
        job.seed,
        time_scale,
        keep_trace,
    ))
}

async fn play(
    backend: &dyn RealTime,
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    scale: f64,
    keep_trace: bool,
) -> Result<RunResult, RunError> {
    let full_plan = scenario.plan(seed);
    let plan = scaled_plan(&full_plan, scale);
    let planned: Vec<OpRecord> = full_plan.operations.iter().map(OpRecord::planned).collect();
    let clock = Arc::new(ScaledClock {
        origin: Mutex::new(Instant::now()),
        scale,
    });
    let trace = Trace::new(clock.clone());
    let hosts = backend
        .start(&LiveRun {
            scenario,
            plan: &full_plan,
            seed,
            time_scale: scale,
            trace: &trace,
        })
        .await?;
    let mut hosts = hosts;
    let origin = Instant::now();
    *clock.origin.lock().expect("clock lock") = origin;
    let played = drive_and_read(
        &mut *hosts,
        Origin {
            instant: origin.into(),
            wall: SystemTime::now(),
        },
        scenario,
        strategy,
        seed,
        plan,
        scale,
        &trace,
    )
    .await;
    hosts.teardown().await;
    let (shared, ledger, stalled) = played?;
    Ok(judge(
        scenario,
        strategy,
        backend.name(scenario),
        seed,
        planned,
        &shared,
        ledger,
        trace,
        keep_trace,
        Stalled::all_closed(stalled),
    ))
}

/// Scenario time zero, on the runtime's timer and on the wall clock.
struct Origin {
    instant: tokio::time::Instant,
    wall: SystemTime,
}

/// Play the scaled plan through the strategy on `hosts`, applying each fault at its instant,
/// then read the ledger.
#[allow(clippy::too_many_arguments)]
async fn drive_and_read(
    hosts: &mut dyn LiveHosts,
    origin: Origin,
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    plan: Plan,
    scale: f64,
    trace: &Trace,
) -> Result<(Arc<DriveLog>, Ledger, Vec<StalledConnection>), RunError> {
    let control = Arc::new(HarnessControl::default());
    let env = Env {
        transport: hosts.transport(),
        control: control.clone(),
        trace: trace.clone(),
        seed,
    };
    let shared = Arc::new(DriveLog::default());
    let names: Vec<String> = scenario.hosts.iter().map(|h| h.name.clone()).collect();
    let end = operations_end(scenario).mul_f64(scale);
    let faults: Vec<(Duration, Fault)> = plan
        .events
        .iter()
        .filter_map(|event| match &event.action {
            Action::Fault(fault) => Some((event.at, fault.clone())),
            _ => None,
        })
        .collect();
    let driver = match strategy.program_command() {
        None => tokio::spawn(drive(
            env,
            strategy.clone(),
            plan,
            names,
            end,
            shared.clone(),
        )),
        #[cfg(feature = "program")]
        Some(command) => {
            let setup = hosts.program_setup().await.map_err(RunError::Backend)?;
            let options = sshrace_driver::Options {
                time_scale: scale,
                ..sshrace_driver::Options::default()
            };
            let program = sshrace_driver::Program::start_with(
                command,
                &setup.workdir,
                &setup.targets,
                trace.clone(),
                options,
            )
            .await
            .map_err(|e| RunError::Backend(format!("client program `{command}`: {e}")))?;
            tokio::spawn(crate::drive::drive_program(
                env,
                Arc::new(program),
                plan,
                end,
                shared.clone(),
            ))
        }
        #[cfg(not(feature = "program"))]
        Some(command) => {
            return Err(RunError::Backend(format!(
                "client program `{command}`: this build of sshrace-runner has no `program` feature"
            )));
        }
    };
    let mut fault_errors = Vec::new();
    for (at, fault) in faults {
        tokio::time::sleep_until(origin.instant + at).await;
        trace.record_marked("nemesis", format!("fault: {fault}"), vec![Mark::Global]);
        if control.apply(&fault) {
            continue;
        }
        if let Err(error) = hosts.apply(&fault).await {
            trace.record_marked(
                "nemesis",
                format!("fault {fault} failed: {error}"),
                vec![Mark::Global],
            );
            fault_errors.push(format!("{fault}: {error}"));
        }
    }
    let _ = driver.await;
    let (ledger, stalled) = hosts.ledger(origin.wall).await?;
    if !fault_errors.is_empty() {
        return Err(RunError::Backend(format!(
            "the nemesis could not apply: {}",
            fault_errors.join("; ")
        )));
    }
    Ok((shared, ledger, stalled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_plan_keeps_order_and_scales_every_duration() {
        let s = Scenario::from_str(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 60_000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"w\"\nhost = \"target\"\nevery_ms = 10_000\nduration_ms = 6_000\ntimeout_ms = 12_000\n",
            "test.toml",
        )
        .expect("valid scenario");
        let plan = s.plan(3);
        let scaled = scaled_plan(&plan, 0.5);
        for (a, b) in plan.operations.iter().zip(&scaled.operations) {
            assert_eq!(b.at, a.at / 2);
            assert_eq!(b.timeout, a.timeout.map(|t| t / 2));
            assert_eq!(b.id, a.id);
        }
    }
}
