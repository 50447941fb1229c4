//! The container backend: the same plan, strategy and judgement as [`crate::run_one`], on real
//! OpenSSH servers in containers, time-compressed.
//!
//! A run starts one container per `[[host]]` (its sshd settings scaled and written into its
//! sshd_config), a userspace fault proxy in front of each, and the chosen client transport (the
//! OpenSSH client, or russh over real TCP); it plays the plan scaled by the time scale, applies
//! the timeline's faults through the nemesis below, reads the in-container ledger back and
//! classifies every operation exactly as the simulation does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use sshrace_core::{
    Clock, ControlPlane, Fault, Mark, SshdConfig, StallLog, StrategyParams, Trace, Transport,
    WorkspaceStatus,
};
use sshrace_docker::dialer::{AddressBook, TcpDialer, generate_client_key};
pub use sshrace_docker::image::OpenSshProfile;
use sshrace_docker::proxy::FaultProxy;
use sshrace_docker::target::{Firewall, TargetSpec, Testbed};
use sshrace_openssh::OpenSshTransport;
use sshrace_russh::{RusshTransport, stall};
use sshrace_scenario::{Action, Arrivals, Plan, Scenario};
use sshrace_strategy::{Env, StrategySpec};

use crate::drive::{DriveLog, drive};
use crate::run::{Backend, RunResult, Stalled, judge, operations_end};
use crate::{OpRecord, RunError};

/// Which SSH client the strategies' transport runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// The OpenSSH client: a connection is a ControlMaster (`ssh -fNM`), a session `ssh -S`.
    OpenSsh,
    /// russh over real TCP (cheap: floods of hundreds of connections).
    Russh,
}

impl Client {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Client::OpenSsh => "openssh",
            Client::Russh => "russh",
        }
    }
}

/// How a scenario runs on containers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DockerRun {
    /// The OpenSSH server version (Debian suite of the target image).
    pub openssh: OpenSshProfile,
    /// Real seconds per scenario second (`1/60`: a minute of the scenario takes a second).
    pub time_scale: f64,
    /// The client transport.
    pub client: Client,
}

/// Compressions `--time-scale auto` tries, most compressed first.
const COMPRESSIONS: [f64; 12] = [
    600.0, 300.0, 240.0, 120.0, 60.0, 30.0, 20.0, 10.0, 5.0, 4.0, 2.0, 1.0,
];

/// How long a run should take on containers when the scale is chosen automatically.
const AUTO_TARGET: Duration = Duration::from_secs(30);

/// The longest run `--time-scale auto` accepts; a scenario that cannot be compressed below it
/// is refused with the scale that runs it (give that scale to run it anyway).
const AUTO_LONGEST: Duration = Duration::from_secs(300);

/// The closest two scheduled operations of one workload may come in real time. Compression
/// shrinks the scenario's gaps but not what a real connection costs (a handshake, an `ssh`
/// process: 0.1 s idle, about 1 s under a flood on this machine's 2 cores), so below this,
/// operations that are apart in the scenario overlap on containers: a 15 s status poll at 1/120
/// polls every 0.1 s, and a mux strategy without a creation lock starts masters faster than sshd
/// finishes them, a MaxStartups storm that production never sees.
const MIN_REAL_GAP: Duration = Duration::from_millis(500);

/// Why a scenario cannot run on containers, or not at the asked scale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scenario}: not on containers: {reason}")]
pub struct Refusal {
    /// The scenario's name.
    pub scenario: String,
    /// What cannot be done, naming the fault or setting.
    pub reason: String,
}

/// The sshd settings that take whole seconds, scaled: each must stay at least one second, and
/// rounding to whole seconds may change it by at most a quarter.
fn whole_second_settings(scenario: &Scenario) -> Vec<(String, Duration)> {
    let mut settings = Vec::new();
    for host in &scenario.hosts {
        settings.push((
            format!("host {} LoginGraceTime", host.name),
            host.sshd.login_grace_time,
        ));
        if let Some(interval) = host.sshd.client_alive_interval {
            settings.push((format!("host {} ClientAliveInterval", host.name), interval));
        }
    }
    settings
}

/// Whether `setting` scaled by `scale` can be written as whole seconds.
fn honoured(setting: Duration, scale: f64) -> Result<u64, String> {
    let real = setting.as_secs_f64() * scale;
    let whole = real.round().max(1.0);
    if real < 0.75 {
        return Err(format!("{:.3} s, below sshd's 1 s resolution", real));
    }
    if (whole - real).abs() > real * 0.25 {
        return Err(format!(
            "{real:.2} s, which whole seconds ({whole} s) miss by more than 25%"
        ));
    }
    Ok(whole as u64)
}

/// The shortest ControlPersist a scaled strategy may have: OpenSSH schedules the master's exit
/// at `monotime() + N` with `monotime()` in whole seconds, so it comes 0 to 1 s early.
const PERSIST_FLOOR: Duration = Duration::from_secs(4);

/// The ControlPersist each strategy variant of `scenario` sets (`persist_ms`).
fn control_persists(scenario: &Scenario) -> Vec<(String, Duration)> {
    scenario
        .variants
        .iter()
        .filter_map(|(name, variant)| {
            let ms = variant.params.persist_ms?;
            Some((format!("strategy {name}"), Duration::from_millis(ms)))
        })
        .collect()
}

/// The smallest scheduled gap between two operations of each workload that has one: the period
/// less its jitter, or the mean gap of Poisson arrivals. Bursts and single operations have none
/// (bursts overlap on purpose), nor does a period its jitter can close up entirely.
fn workload_gaps(scenario: &Scenario) -> Vec<(String, Duration)> {
    scenario
        .workload
        .iter()
        .filter_map(|w| {
            let gap = match &w.arrivals {
                Arrivals::Periodic { every, jitter, .. } => every.saturating_sub(*jitter),
                Arrivals::Poisson { rate_per_hour, .. } => {
                    Duration::from_secs_f64(3600.0 / rate_per_hour)
                }
                Arrivals::Once { .. } | Arrivals::Burst { .. } => Duration::ZERO,
            };
            (!gap.is_zero()).then(|| (w.name.clone(), gap))
        })
        .collect()
}

/// Check that every fault of `scenario` can be applied on containers and pick (or check) the
/// time scale. `asked` is `None` for automatic: the most compression (up to 600x) that fits the
/// run into about 30 s, that every whole-second sshd setting honours and that keeps each
/// workload's operations [`MIN_REAL_GAP`] apart; a run that would still take over
/// [`AUTO_LONGEST`] is refused, naming the scale to ask for.
pub fn plan_docker(scenario: &Scenario, asked: Option<f64>) -> Result<f64, Refusal> {
    let refuse = |reason: String| Refusal {
        scenario: scenario.name.clone(),
        reason,
    };
    let targets: Vec<&str> = scenario.hosts.iter().map(|h| h.name.as_str()).collect();
    for event in &scenario.plan(0).events {
        if let Action::Fault(fault) = &event.action {
            supported(fault, &targets).map_err(refuse)?;
        }
    }
    let settings = whole_second_settings(scenario);
    let persists = control_persists(scenario);
    let gaps = workload_gaps(scenario);
    let check = |scale: f64| -> Result<(), String> {
        for (name, value) in &settings {
            honoured(*value, scale).map_err(|why| {
                format!(
                    "{name} {} s at time scale 1/{:.0} is {why}; use a time scale of at least 1/{:.0}",
                    value.as_secs_f64(),
                    1.0 / scale,
                    (value.as_secs_f64()).floor().max(1.0)
                )
            })?;
        }
        for (name, persist) in &persists {
            let real = persist.as_secs_f64() * scale;
            if real < PERSIST_FLOOR.as_secs_f64() {
                return Err(format!(
                    "{name} ControlPersist {} s at time scale 1/{:.0} is {real:.2} s; OpenSSH counts it on a whole-second clock and ends it up to 1 s early, more than 25% under {} s; use a time scale of at least 1/{:.0}",
                    persist.as_secs_f64(),
                    1.0 / scale,
                    PERSIST_FLOOR.as_secs(),
                    (persist.as_secs_f64() / PERSIST_FLOOR.as_secs_f64())
                        .floor()
                        .max(1.0)
                ));
            }
        }
        for (name, gap) in &gaps {
            let real = gap.as_secs_f64() * scale;
            if real < MIN_REAL_GAP.as_secs_f64() {
                return Err(format!(
                    "workload {name}: operations {} s apart become {real:.3} s apart at time scale 1/{:.0}, under the {} s a real connection needs not to overlap the next one; use a time scale of at least 1/{:.0}",
                    gap.as_secs_f64(),
                    1.0 / scale,
                    MIN_REAL_GAP.as_secs_f64(),
                    (gap.as_secs_f64() / MIN_REAL_GAP.as_secs_f64())
                        .floor()
                        .max(1.0)
                ));
            }
        }
        Ok(())
    };
    match asked {
        Some(scale) => {
            if !(scale > 0.0 && scale <= 1.0) {
                return Err(refuse(format!(
                    "time scale {scale} is not in (0, 1] (1/60 compresses a minute into a second)"
                )));
            }
            check(scale).map_err(refuse)?;
            Ok(scale)
        }
        None => {
            let length = (scenario.sim.duration.as_secs_f64()).max(1.0);
            let wanted = (length / AUTO_TARGET.as_secs_f64()).clamp(1.0, 600.0);
            let mut tried = COMPRESSIONS
                .iter()
                .filter(|c| **c <= wanted.max(1.0) * 1.0001 || **c == 1.0)
                .map(|c| 1.0 / c);
            let mut why_not_more = None;
            let scale = loop {
                let Some(scale) = tried.next() else {
                    return Err(refuse(check(1.0).unwrap_err()));
                };
                match check(scale) {
                    Ok(()) => break scale,
                    Err(why) => why_not_more = Some(why),
                }
            };
            let real = length * scale;
            if real > AUTO_LONGEST.as_secs_f64() {
                return Err(refuse(format!(
                    "at time scale 1/{:.0}, the most compression it allows, a run takes {real:.0} s, over the {} s --time-scale auto accepts ({}); give --time-scale 1/{:.0} to run it anyway",
                    1.0 / scale,
                    AUTO_LONGEST.as_secs(),
                    why_not_more
                        .unwrap_or_else(|| "sshrace compresses at most 600 times".to_owned()),
                    1.0 / scale
                )));
            }
            Ok(scale)
        }
    }
}

/// Whether the nemesis can apply `fault`; the reason names the fault when not.
fn supported(fault: &Fault, targets: &[&str]) -> Result<(), String> {
    let is_target = |h: &str| targets.contains(&h);
    let client_side = |h: &str| h == "client" || h == "control";
    match fault {
        Fault::Partition { a, b } | Fault::Heal { a, b } | Fault::Latency { a, b, .. } => {
            if (is_target(a) && client_side(b)) || (is_target(b) && client_side(a)) {
                Ok(())
            } else {
                Err(format!(
                    "fault `{}` between {a} and {b}: containers only fault the path between the client (or control plane) and a target",
                    fault_name(fault)
                ))
            }
        }
        Fault::PartitionOneWay { from, to } => {
            if (is_target(from) && client_side(to)) || (is_target(to) && client_side(from)) {
                Ok(())
            } else {
                Err(format!(
                    "fault `partition-one-way` from {from} to {to}: only client <-> target paths"
                ))
            }
        }
        Fault::Crash { .. }
        | Fault::Restart { .. }
        | Fault::Pause { .. }
        | Fault::Resume { .. }
        | Fault::NatIdleTimeout { .. }
        | Fault::StalledClients { .. }
        | Fault::ControlPlane { .. } => Ok(()),
    }
}

fn fault_name(fault: &Fault) -> &'static str {
    Action::Fault(fault.clone()).name()
}

/// The scenario's sshd settings with every duration scaled.
fn scaled_sshd(sshd: &SshdConfig, scale: f64) -> SshdConfig {
    let whole = |d: Duration| Duration::from_secs(honoured(d, scale).unwrap_or(1));
    SshdConfig {
        login_grace_time: whole(sshd.login_grace_time),
        client_alive_interval: sshd.client_alive_interval.map(whole),
        ..sshd.clone()
    }
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

/// The strategy overrides that scale a built-in's durations on containers.
pub fn scaled_params(scale: f64) -> StrategyParams {
    StrategyParams {
        time_scale: Some(scale),
        ..StrategyParams::default()
    }
}

/// Scenario time on a real clock: real time since the run's origin, divided by the scale.
struct ScaledClock {
    origin: Instant,
    scale: f64,
}

impl Clock for ScaledClock {
    fn now(&self) -> Duration {
        self.origin.elapsed().div_f64(self.scale)
    }
}

/// The control plane the harness answers itself (every workspace RUNNING with its agent
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

/// A run id unique on this machine: labels every container of the run.
fn run_id(scenario: &str, seed: u64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000);
    format!(
        "{}-{}-{seed}-{}-{nanos}",
        scenario.chars().take(24).collect::<String>(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Run `scenario` with `strategy` (built with [`scaled_params`]) and `seed` on containers.
pub fn run_docker(
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    options: &DockerRun,
    keep_trace: bool,
) -> Result<RunResult, RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunError::Docker(format!("tokio runtime: {e}")))?;
    runtime.block_on(run_docker_async(
        scenario, strategy, seed, options, keep_trace,
    ))
}

async fn run_docker_async(
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    options: &DockerRun,
    keep_trace: bool,
) -> Result<RunResult, RunError> {
    let docker = |e: sshrace_docker::error::DockerError| RunError::Docker(e.to_string());
    let scale = options.time_scale;
    let full_plan = scenario.plan(seed);
    let plan = scaled_plan(&full_plan, scale);
    let planned: Vec<OpRecord> = full_plan.operations.iter().map(OpRecord::planned).collect();

    let (key, key_openssh, public_key) = generate_client_key(seed);
    let mut identities: Vec<String> = full_plan
        .operations
        .iter()
        .map(|o| o.identity.clone())
        .collect();
    identities.sort();
    identities.dedup();
    let specs: Vec<TargetSpec> = scenario
        .hosts
        .iter()
        .map(|host| TargetSpec {
            name: host.name.clone(),
            sshd: scaled_sshd(&host.sshd, scale),
            identities: identities.clone(),
            extra_sshd_config: Vec::new(),
        })
        .collect();
    let id = run_id(&scenario.name, seed);
    let testbed = Testbed::start(&id, options.openssh, &specs, &public_key)
        .await
        .map_err(docker)?;
    let result = play(
        scenario,
        strategy,
        seed,
        options,
        &testbed,
        plan,
        planned,
        key,
        &key_openssh,
        keep_trace,
    )
    .await;
    testbed.shutdown().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn play(
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    options: &DockerRun,
    testbed: &Testbed,
    plan: Plan,
    planned: Vec<OpRecord>,
    key: russh::keys::PrivateKey,
    key_openssh: &str,
    keep_trace: bool,
) -> Result<RunResult, RunError> {
    let scale = options.time_scale;
    let io = |what: &str, e: std::io::Error| RunError::Docker(format!("{what}: {e}"));
    let book = AddressBook::default();
    let mut proxies = BTreeMap::new();
    for host in &scenario.hosts {
        let upstream = testbed
            .ssh_addr(&host.name)
            .ok_or_else(|| RunError::Docker(format!("no port for {}", host.name)))?;
        let proxy = FaultProxy::start(&host.name, upstream)
            .await
            .map_err(|e| io("fault proxy", e))?;
        if !scenario.sim.latency.is_zero() || !scenario.sim.jitter.is_zero() {
            proxy.set_latency(
                scenario.sim.latency.mul_f64(scale),
                scenario.sim.jitter.mul_f64(scale),
                seed,
            );
        }
        book.set(&host.name, proxy.addr());
        proxies.insert(host.name.clone(), proxy);
    }
    let origin_instant = Instant::now();
    let origin = SystemTime::now();
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock {
        origin: origin_instant,
        scale,
    });
    let trace = Trace::new(clock);
    let (transport, openssh): (Arc<dyn Transport>, Option<Arc<OpenSshTransport>>) =
        match options.client {
            Client::Russh => (
                Arc::new(RusshTransport::with_key(
                    TcpDialer { book: book.clone() },
                    "client",
                    trace.clone(),
                    key,
                )),
                None,
            ),
            Client::OpenSsh => {
                // Each run its own workdir: parallel runs in one process must not share the
                // key file or the control socket names.
                let workdir = OpenSshTransport::temp_workdir()
                    .map_err(|e| io("openssh client workdir", e))?;
                let transport = Arc::new(
                    OpenSshTransport::new(book.clone(), key_openssh, workdir, trace.clone())
                        .map_err(|e| io("openssh client", e))?,
                );
                (transport.clone(), Some(transport))
            }
        };
    let control = Arc::new(HarnessControl::default());
    let env = Env {
        transport,
        control: control.clone(),
        trace: trace.clone(),
        seed,
    };
    let nemesis = Nemesis {
        testbed,
        proxies: &proxies,
        book: &book,
        control: &control,
        trace: &trace,
        stalls: StallLog::default(),
        stall_tasks: Mutex::new(Vec::new()),
    };
    let shared = Arc::new(DriveLog::default());
    let hosts: Vec<String> = scenario.hosts.iter().map(|h| h.name.clone()).collect();
    let end = operations_end(scenario).mul_f64(scale);
    let faults: Vec<(Duration, Fault)> = plan
        .events
        .iter()
        .filter_map(|event| match &event.action {
            Action::Fault(fault) => Some((event.at, fault.clone())),
            _ => None,
        })
        .collect();
    let driver = tokio::spawn(drive(
        env,
        strategy.clone(),
        plan,
        hosts,
        end,
        shared.clone(),
    ));
    let mut fault_errors = Vec::new();
    for (at, fault) in faults {
        tokio::time::sleep_until((origin_instant + at).into()).await;
        if let Err(error) = nemesis.apply(&fault).await {
            trace.record_marked(
                "nemesis",
                format!("fault {fault} failed: {error}"),
                vec![Mark::Global],
            );
            fault_errors.push(format!("{fault}: {error}"));
        }
    }
    let _ = driver.await;
    // Close the stalled clients' connections before sshd's log is read, so they are not taken
    // for the strategy's leaks.
    for task in nemesis
        .stall_tasks
        .lock()
        .expect("stall tasks lock")
        .drain(..)
    {
        task.abort();
    }
    let stalled = nemesis.stalls.snapshot();
    if let Some(openssh) = openssh {
        openssh.shutdown().await;
    }
    for (_, proxy) in proxies {
        proxy.shutdown().await;
    }
    // Let sshd notice the closes and the command scripts write their last lines.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ledger = testbed
        .ledger(origin, 1.0 / scale)
        .await
        .map_err(|e| RunError::Docker(e.to_string()))?;
    if !fault_errors.is_empty() {
        return Err(RunError::Docker(format!(
            "the nemesis could not apply: {}",
            fault_errors.join("; ")
        )));
    }
    Ok(judge(
        scenario,
        strategy,
        Backend::Docker(options.openssh),
        seed,
        planned,
        &shared,
        ledger,
        trace,
        keep_trace,
        Stalled::all_closed(stalled),
    ))
}

/// Applies timeline faults to containers, the fault proxies and the harness's control plane.
struct Nemesis<'a> {
    testbed: &'a Testbed,
    proxies: &'a BTreeMap<String, FaultProxy>,
    book: &'a AddressBook,
    control: &'a HarnessControl,
    trace: &'a Trace,
    stalls: StallLog,
    stall_tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Nemesis<'_> {
    async fn apply(&self, fault: &Fault) -> Result<(), String> {
        self.trace
            .record_marked("nemesis", format!("fault: {fault}"), vec![Mark::Global]);
        let e = |e: sshrace_docker::error::DockerError| e.to_string();
        match fault {
            Fault::Partition { a, b } | Fault::Heal { a, b } => {
                let heal = matches!(fault, Fault::Heal { .. });
                let (target, other) = if self.proxies.contains_key(a) {
                    (a, b)
                } else {
                    (b, a)
                };
                if other == "control" {
                    self.control.cut_off.store(!heal, Ordering::SeqCst);
                    return Ok(());
                }
                let rule = if heal {
                    Firewall::Clear
                } else {
                    Firewall::Drop {
                        inbound: true,
                        outbound: true,
                    }
                };
                self.testbed.iptables(target, rule).await.map_err(e)
            }
            Fault::PartitionOneWay { from, to } => {
                if from == "control" || to == "control" {
                    self.control.cut_off.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                let inbound = self.proxies.contains_key(to);
                let target = if inbound { to } else { from };
                self.testbed
                    .iptables(
                        target,
                        Firewall::Drop {
                            inbound,
                            outbound: !inbound,
                        },
                    )
                    .await
                    .map_err(e)
            }
            Fault::Crash { host } => self.testbed.kill(host).await.map_err(e),
            Fault::Restart { host } => {
                self.testbed.restart(host).await.map_err(e)?;
                let addr = self
                    .testbed
                    .ssh_addr(host)
                    .ok_or_else(|| format!("no port for {host} after restart"))?;
                if let Some(proxy) = self.proxies.get(host) {
                    proxy.set_upstream(addr);
                }
                let _ = self.book;
                Ok(())
            }
            Fault::StalledClients { host, count } => {
                // Through the fault proxy, as every client connects.
                let mut tasks = self.stall_tasks.lock().expect("stall tasks lock");
                let first = tasks.len() as u32;
                for number in first..first + count {
                    let dialer = TcpDialer {
                        book: self.book.clone(),
                    };
                    let (host, log, trace) =
                        (host.clone(), self.stalls.clone(), self.trace.clone());
                    tasks.push(tokio::spawn(async move {
                        stall(&dialer, &host, number, &log, &trace).await;
                    }));
                }
                Ok(())
            }
            Fault::Pause { host } => self.testbed.pause(host).await.map_err(e),
            Fault::Resume { host } => self.testbed.unpause(host).await.map_err(e),
            Fault::NatIdleTimeout { idle } => {
                for proxy in self.proxies.values() {
                    proxy.set_nat_idle(*idle);
                }
                Ok(())
            }
            Fault::Latency { a, b, base, jitter } => {
                let target = if self.proxies.contains_key(a) { a } else { b };
                if let Some(proxy) = self.proxies.get(target) {
                    proxy.set_latency(*base, *jitter, 0);
                }
                Ok(())
            }
            Fault::ControlPlane {
                host,
                workspace,
                agent,
            } => {
                self.control.statuses.lock().expect("status lock").insert(
                    host.clone(),
                    WorkspaceStatus {
                        workspace: workspace.clone(),
                        agent: agent.clone(),
                    },
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::from_str(text, "test.toml").expect("valid scenario")
    }

    #[test]
    fn auto_scale_fits_the_run_and_honours_whole_seconds() {
        let long = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 3_600_000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"w\"\nhost = \"target\"\nevery_ms = 60_000\nduration_ms = 1_000\n",
        );
        // 1 h into ~30 s wants 120x; LoginGraceTime 120 s becomes 1 s: allowed.
        assert_eq!(plan_docker(&long, None).unwrap(), 1.0 / 120.0);
        // 1/600 would make LoginGraceTime 0.2 s: refused, naming the setting.
        let refusal = plan_docker(&long, Some(1.0 / 600.0)).unwrap_err();
        assert!(refusal.reason.contains("LoginGraceTime"), "{refusal}");
        let bad = plan_docker(&long, Some(2.0)).unwrap_err();
        assert!(bad.reason.contains("not in (0, 1]"), "{bad}");
    }

    /// Every built-in scenario runs at the automatic scale except deploy-age-recycle: its 15 s
    /// (less 5 s jitter) status poll keeps it at 1/20 at most, 12 minutes a run, so `auto`
    /// refuses it and names the scale that runs it, which is then accepted as asked.
    #[test]
    fn every_built_in_scenario_runs_on_containers_or_names_the_scale_that_runs_it() {
        let mut refused = Vec::new();
        for builtin in crate::builtin_scenarios() {
            let scenario = builtin.parse().unwrap();
            match plan_docker(&scenario, None) {
                Ok(scale) => {
                    assert!(scale > 0.0 && scale <= 1.0, "{}: {scale}", builtin.name);
                    let real = scenario.sim.duration.as_secs_f64() * scale;
                    assert!(real <= AUTO_LONGEST.as_secs_f64(), "{}", builtin.name);
                }
                Err(refusal) => {
                    let asked = refusal
                        .reason
                        .rsplit_once("give --time-scale 1/")
                        .and_then(|(_, rest)| rest.split(' ').next()?.parse::<f64>().ok())
                        .unwrap_or_else(|| panic!("names no scale: {refusal}"));
                    assert_eq!(plan_docker(&scenario, Some(1.0 / asked)), Ok(1.0 / asked));
                    refused.push((builtin.name, refusal.reason));
                }
            }
        }
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert_eq!(refused[0].0, "deploy-age-recycle");
        assert!(
            refused[0].1.contains("at time scale 1/20")
                && refused[0].1.contains("a run takes 720 s")
                && refused[0]
                    .1
                    .contains("workload status-poll: operations 10 s apart"),
            "{}",
            refused[0].1
        );
    }

    #[test]
    fn a_control_persist_under_4_real_seconds_refuses_the_scale() {
        let persist = scenario(
            "description = \"d\"\nstrategies = [\"persist-60\"]\n[sim]\nduration_ms = 1_800_000\n[[host]]\nname = \"target\"\n[strategy.persist-60]\nbase = \"mux-exit\"\npersist_ms = 60_000\n[[workload]]\nname = \"w\"\nhost = \"target\"\nat_ms = 1_000\nduration_ms = 100\n",
        );
        let refusal = plan_docker(&persist, Some(1.0 / 60.0)).unwrap_err();
        assert!(
            refusal
                .reason
                .contains("strategy persist-60 ControlPersist 60 s at time scale 1/60 is 1.00 s")
                && refusal.reason.contains("at least 1/15"),
            "{refusal}"
        );
        assert_eq!(plan_docker(&persist, Some(1.0 / 15.0)), Ok(1.0 / 15.0));
        // auto: 1800 s wants 1/60; 1/20 leaves 3 s, 1/10 leaves 6 s.
        assert_eq!(plan_docker(&persist, None), Ok(0.1));
    }

    #[test]
    fn operations_closer_than_a_real_connection_refuse_the_scale() {
        let poll = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 600_000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"poll\"\nhost = \"target\"\nevery_ms = 10_000\njitter_ms = 2_000\nduration_ms = 100\n",
        );
        // 8 s apart at most compression 16: 1/10 keeps them 0.8 s apart, 1/20 0.4 s.
        assert_eq!(plan_docker(&poll, Some(0.1)), Ok(0.1));
        let refusal = plan_docker(&poll, Some(0.05)).unwrap_err();
        assert!(
            refusal
                .reason
                .contains("workload poll: operations 8 s apart become 0.400 s apart")
                && refusal.reason.contains("at least 1/16"),
            "{refusal}"
        );
        // 600 s wants 1/20 for ~30 s; the poll allows 1/10 (60 s), which auto accepts.
        assert_eq!(plan_docker(&poll, None), Ok(0.1));
        // A burst has no gap: it may be compressed as far as the rest allows.
        let burst = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 600_000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"flood\"\nhost = \"target\"\nat_ms = 1_000\nburst = 50\nduration_ms = 100\n",
        );
        assert_eq!(plan_docker(&burst, None), Ok(1.0 / 20.0));
    }

    #[test]
    fn faults_between_two_targets_are_refused_by_name() {
        let two = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 60_000\n[[host]]\nname = \"a\"\n[[host]]\nname = \"b\"\n[[workload]]\nname = \"w\"\nhost = \"a\"\nevery_ms = 10_000\nduration_ms = 1_000\n[[timeline]]\nat_ms = 1_000\nfault = \"partition\"\na = \"a\"\nb = \"b\"\n",
        );
        let refusal = plan_docker(&two, None).unwrap_err();
        assert!(
            refusal.reason.contains("`partition` between a and b"),
            "{refusal}"
        );
    }

    #[test]
    fn a_scaled_plan_keeps_order_and_scales_every_duration() {
        let s = scenario(
            "description = \"d\"\nstrategies = [\"fresh\"]\n[sim]\nduration_ms = 60_000\n[[host]]\nname = \"target\"\n[[workload]]\nname = \"w\"\nhost = \"target\"\nevery_ms = 10_000\nduration_ms = 6_000\ntimeout_ms = 12_000\n",
        );
        let plan = s.plan(3);
        let scaled = scaled_plan(&plan, 0.5);
        for (a, b) in plan.operations.iter().zip(&scaled.operations) {
            assert_eq!(b.at, a.at / 2);
            assert_eq!(b.timeout, a.timeout.map(|t| t / 2));
            assert_eq!(b.id, a.id);
        }
    }
}
