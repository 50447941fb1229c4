use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use sshrace_core::{
    Clock, ControlPlane, Fault, FixedClock, Ledger, Mark, StallLog, StalledConnection, TimedFault,
    Trace, Transport,
};
use sshrace_russh::{RusshTransport, stall};
use sshrace_sshd::Sshd;

use crate::clock::SimClock;
use crate::control::{self, ControlPlaneClient, Statuses};
use crate::dialer::{Blocked, SSH_PORT, SimDialer};
use crate::{SimError, WorldConfig, jitter};

/// Name of the host that runs the caller's client code.
pub const CLIENT_HOST: &str = "client";

/// What the client code gets: the transport, the control plane, the trace, the seed.
pub struct SimContext {
    /// Real SSH (russh) over the simulated network.
    pub transport: Arc<dyn Transport>,
    /// The simulated control plane.
    pub control: Arc<dyn ControlPlane>,
    /// The run's trace, for the client's own events.
    pub trace: Trace,
    /// The run's seed, for the client's own seeded randomness.
    pub seed: u64,
}

/// The result of one simulated run.
#[derive(Debug)]
pub struct SimOutcome<T> {
    /// What the client code returned, or `None` if the run hit its duration first.
    pub client: Option<T>,
    /// The servers' ground truth.
    pub ledger: Ledger,
    /// Every event of the run.
    pub trace: Trace,
    /// Simulated time the run took.
    pub elapsed: Duration,
    /// Simulation steps taken.
    pub steps: u64,
    /// What the timeline's stalled clients saw, in the order they started.
    pub stalled: Vec<StalledConnection>,
}

/// Builds and runs simulated worlds.
#[derive(Debug)]
pub struct World;

/// A fixed epoch, so nothing in a run reads the wall clock.
const EPOCH_SECS: u64 = 1_700_000_000;

impl World {
    /// Run `client` on the client host of the world `config` describes, applying its faults at
    /// their instants, until the client returns or `config.duration` passes.
    ///
    /// Fails before anything runs if a fault names an unknown host.
    pub fn run<F, Fut, T>(config: &WorldConfig, client: F) -> Result<SimOutcome<T>, SimError>
    where
        F: FnOnce(SimContext) -> Fut + 'static,
        Fut: Future<Output = T> + 'static,
        T: 'static,
    {
        let hosts = host_names(config);
        let mut faults = config.faults.clone();
        faults.sort_by_key(|f| f.at);
        for timed in &faults {
            check_hosts(timed, &hosts)?;
        }

        let between_steps = Arc::new(FixedClock::default());
        let clock: Arc<dyn Clock> = Arc::new(SimClock {
            between_steps: between_steps.clone(),
        });
        let trace = Trace::new(clock);
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let statuses: Statuses = Arc::default();
        let nat_idle = Arc::new(Mutex::new(None));
        let blocked: Blocked = Arc::default();
        let stalls = StallLog::default();
        let (stall_requests, mut stall_queue) =
            tokio::sync::mpsc::unbounded_channel::<(String, u32)>();

        let mut sim = turmoil::Builder::new()
            .rng_seed(config.seed)
            .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
            .tick_duration(config.tick)
            .simulation_duration(config.duration + config.tick * 2)
            .min_message_latency(config.latency)
            .max_message_latency(config.latency)
            .tcp_capacity(1 << 16)
            .build();

        for (index, target) in config.targets.iter().enumerate() {
            add_target(&mut sim, config.seed, index as u64, target, &ledger, &trace);
        }
        let control_statuses = statuses.clone();
        sim.host(control::HOST, move || {
            control::serve(control_statuses.clone())
        });
        // The control host's software only accepts (its connections' tasks are spawned): steps
        // that deliver nothing to it while it serves no request skip its runtime (most steps;
        // the same trace, at a third less stepping).
        sim.set_reactive(control::HOST);

        let result = Rc::new(RefCell::new(None));
        let context = SimContext {
            transport: Arc::new(RusshTransport::new(
                SimDialer {
                    nat_idle: nat_idle.clone(),
                    blocked: blocked.clone(),
                    trace: trace.clone(),
                },
                CLIENT_HOST,
                trace.clone(),
            )),
            control: Arc::new(ControlPlaneClient),
            trace: trace.clone(),
            seed: config.seed,
        };
        let client_result = result.clone();
        // Stalled clients run on the client host, so sshd sees them from the client's address
        // (as every client is seen behind docker-proxy on containers).
        let stall_dialer = SimDialer {
            nat_idle: nat_idle.clone(),
            blocked: blocked.clone(),
            trace: trace.clone(),
        };
        let stall_log = stalls.clone();
        let stall_trace = trace.clone();
        sim.client(CLIENT_HOST, async move {
            tokio::spawn(async move {
                let mut number = 0u32;
                while let Some((host, count)) = stall_queue.recv().await {
                    for _ in 0..count {
                        let (dialer, host, log, trace) = (
                            stall_dialer.clone(),
                            host.clone(),
                            stall_log.clone(),
                            stall_trace.clone(),
                        );
                        tokio::spawn(async move {
                            stall(&dialer, &host, number, &log, &trace).await;
                        });
                        number += 1;
                    }
                }
            });
            let value = client(context).await;
            *client_result.borrow_mut() = Some(value);
            Ok(())
        });

        let mut links = Links::new(config);
        let mut next_fault = 0;
        let mut steps = 0u64;
        let mut current_step = config.tick;
        loop {
            let now = sim.elapsed();
            between_steps.set(now);
            while let Some(timed) = faults.get(next_fault).filter(|f| f.at <= now) {
                let mut effects = Effects {
                    hosts: &hosts,
                    trace: &trace,
                    ledger: &ledger,
                    statuses: &statuses,
                    nat_idle: &nat_idle,
                    blocked: &blocked,
                    links: &mut links,
                    stall_requests: &stall_requests,
                };
                apply(&mut sim, &timed.fault, &mut effects, now);
                next_fault += 1;
            }
            links.update(&sim, config, now);
            if now >= config.duration {
                break;
            }
            let step = step_size(
                config,
                &sim,
                now,
                faults.get(next_fault).map(|f| f.at),
                &links,
            );
            if step != current_step {
                sim.set_tick_duration(step);
                current_step = step;
            }
            steps += 1;
            match sim.step() {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => {
                    return Err(SimError::Host {
                        at_ms: now.as_millis(),
                        message: error.to_string(),
                    });
                }
            }
        }
        between_steps.set(sim.elapsed());
        let ledger = ledger.lock().expect("ledger lock").clone();
        let client = result.borrow_mut().take();
        Ok(SimOutcome {
            client,
            ledger,
            trace,
            elapsed: sim.elapsed(),
            steps,
            stalled: stalls.snapshot(),
        })
    }
}

/// The next step: `tick` while anything is in flight, otherwise `idle_tick`, never past the next
/// fault, jitter redraw, retransmission through a healed blackhole or the end, and always a
/// whole number of ticks (so instants stay on the tick grid whatever the step history).
fn step_size(
    config: &WorldConfig,
    sim: &turmoil::Sim<'_>,
    now: Duration,
    next_fault: Option<Duration>,
    links: &Links,
) -> Duration {
    let Some(idle) = config.idle_tick.filter(|idle| *idle > config.tick) else {
        return config.tick;
    };
    if sim.has_messages_in_flight() {
        return config.tick;
    }
    let mut horizon = idle.min(config.duration.saturating_sub(now));
    if let Some(at) = next_fault {
        horizon = horizon.min(at.saturating_sub(now));
    }
    if links.jittered() {
        horizon = horizon.min(links.next_draw.saturating_sub(now));
    }
    if let Some(retransmit) = sim.next_retransmit_in() {
        horizon = horizon.min(retransmit);
    }
    let ticks = (horizon.as_nanos() / config.tick.as_nanos()).max(1) as u32;
    config.tick * ticks
}

fn host_names(config: &WorldConfig) -> Vec<String> {
    let mut hosts: Vec<String> = config.targets.iter().map(|t| t.name.clone()).collect();
    hosts.push(CLIENT_HOST.to_owned());
    hosts.push(control::HOST.to_owned());
    hosts
}

fn check_hosts(timed: &TimedFault, hosts: &[String]) -> Result<(), SimError> {
    let named: Vec<&String> = match &timed.fault {
        Fault::Partition { a, b } | Fault::Heal { a, b } | Fault::Latency { a, b, .. } => {
            vec![a, b]
        }
        Fault::PartitionOneWay { from, to } => vec![from, to],
        Fault::Crash { host }
        | Fault::Restart { host }
        | Fault::Pause { host }
        | Fault::Resume { host }
        | Fault::ControlPlane { host, .. }
        | Fault::StalledClients { host, .. } => vec![host],
        Fault::NatIdleTimeout { .. } => vec![],
    };
    match named.into_iter().find(|h| !hosts.contains(h)) {
        Some(host) => Err(SimError::UnknownHost {
            at_ms: timed.at.as_millis(),
            host: host.clone(),
            known: hosts.join(", "),
        }),
        None => Ok(()),
    }
}

fn add_target(
    sim: &mut turmoil::Sim<'_>,
    seed: u64,
    index: u64,
    target: &crate::TargetConfig,
    ledger: &Arc<Mutex<Ledger>>,
    trace: &Trace,
) {
    let boots = Rc::new(Cell::new(0u64));
    let name = target.name.clone();
    let sshd_config = target.sshd.clone();
    let ledger = ledger.clone();
    let trace = trace.clone();
    sim.host(target.name.as_str(), move || {
        let boot = boots.get();
        boots.set(boot + 1);
        // Each boot of each target draws its early drops from its own stream of the seed.
        let sshd_seed = seed ^ (index + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (boot << 48);
        let sshd = Sshd::new(
            &name,
            sshd_config.clone(),
            sshd_seed,
            ledger.clone(),
            trace.clone(),
        );
        let trace = trace.clone();
        let name = name.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind(("0.0.0.0", SSH_PORT)).await?;
            trace.record_marked(
                &name,
                format!("sshd listening (boot {boot})"),
                vec![Mark::instant("sshd")],
            );
            loop {
                // Every client runs on the one client host, so every connection has its address:
                // the NAT / docker-proxy case, where PerSourcePenalties punishes all for one.
                let (stream, peer) = listener.accept().await?;
                let sshd = sshd.clone();
                tokio::spawn(async move { sshd.serve_from(stream, peer.ip()).await });
            }
        }
    });
}

/// Link latencies: base and jitter per link, redrawn each jitter interval.
struct Links {
    latency: BTreeMap<(String, String), (Duration, Duration)>,
    next_draw: Duration,
    interval: u64,
}

impl Links {
    fn new(config: &WorldConfig) -> Self {
        let mut latency = BTreeMap::new();
        let mut others: Vec<String> = config.targets.iter().map(|t| t.name.clone()).collect();
        others.push(control::HOST.to_owned());
        for other in others {
            latency.insert(
                (CLIENT_HOST.to_owned(), other),
                (config.latency, config.jitter),
            );
        }
        Self {
            latency,
            next_draw: Duration::ZERO,
            interval: 0,
        }
    }

    fn set(&mut self, sim: &turmoil::Sim<'_>, a: &str, b: &str, base: Duration, jitter: Duration) {
        let key = if a <= b {
            (a.to_owned(), b.to_owned())
        } else {
            (b.to_owned(), a.to_owned())
        };
        self.latency.insert(key, (base, jitter));
        sim.set_link_latency(a, b, base);
    }

    fn jittered(&self) -> bool {
        self.latency.values().any(|(_, jitter)| !jitter.is_zero())
    }

    fn update(&mut self, sim: &turmoil::Sim<'_>, config: &WorldConfig, now: Duration) {
        if now < self.next_draw {
            return;
        }
        for ((a, b), (base, jitter)) in &self.latency {
            if !jitter.is_zero() {
                let latency = jitter::latency(config.seed, a, b, self.interval, *base, *jitter);
                sim.set_link_latency(a.as_str(), b.as_str(), latency);
            }
        }
        self.interval += 1;
        self.next_draw = now + config.jitter_interval;
    }
}

/// What a fault acts on, besides the turmoil sim itself.
struct Effects<'a> {
    hosts: &'a [String],
    trace: &'a Trace,
    ledger: &'a Arc<Mutex<Ledger>>,
    statuses: &'a Statuses,
    nat_idle: &'a Arc<Mutex<Option<Duration>>>,
    blocked: &'a Blocked,
    links: &'a mut Links,
    stall_requests: &'a tokio::sync::mpsc::UnboundedSender<(String, u32)>,
}

fn apply(sim: &mut turmoil::Sim<'_>, fault: &Fault, effects: &mut Effects<'_>, now: Duration) {
    let Effects {
        hosts,
        trace,
        ledger,
        statuses,
        nat_idle,
        blocked,
        links,
        stall_requests,
    } = effects;
    trace.record_marked("fault", fault.to_string(), vec![Mark::Global]);
    tracing::info!(at_ms = now.as_millis() as u64, %fault, "fault applied");
    match fault {
        Fault::Partition { a, b } => {
            let mut blocked = blocked.lock().expect("blocked lock");
            blocked.insert((a.clone(), b.clone()));
            blocked.insert((b.clone(), a.clone()));
            // A blackhole, as `iptables -j DROP` makes one: TCP retransmits what it loses, so
            // a connection that outlives the partition resumes at its next retransmission.
            sim.blackhole(a.as_str(), b.as_str());
        }
        Fault::PartitionOneWay { from, to } => {
            blocked
                .lock()
                .expect("blocked lock")
                .insert((from.clone(), to.clone()));
            sim.partition_oneway(from.as_str(), to.as_str());
        }
        Fault::Heal { a, b } => {
            let mut blocked = blocked.lock().expect("blocked lock");
            blocked.remove(&(a.clone(), b.clone()));
            blocked.remove(&(b.clone(), a.clone()));
            sim.end_blackhole(a.as_str(), b.as_str());
        }
        Fault::Crash { host } => {
            ledger.lock().expect("ledger lock").host_crashed(host, now);
            sim.crash(host.as_str());
        }
        Fault::Restart { host } => {
            ledger.lock().expect("ledger lock").host_crashed(host, now);
            sim.bounce(host.as_str());
        }
        Fault::Pause { host } => {
            for other in hosts.iter().filter(|h| *h != host) {
                sim.hold(host.as_str(), other.as_str());
            }
        }
        Fault::Resume { host } => {
            for other in hosts.iter().filter(|h| *h != host) {
                sim.release(host.as_str(), other.as_str());
            }
        }
        Fault::NatIdleTimeout { idle } => *nat_idle.lock().expect("nat lock") = *idle,
        Fault::Latency { a, b, base, jitter } => links.set(sim, a, b, *base, *jitter),
        Fault::StalledClients { host, count } => {
            // The client host's stall task may be gone when the client has returned.
            let _ = stall_requests.send((host.clone(), *count));
        }
        Fault::ControlPlane {
            host,
            workspace,
            agent,
        } => {
            statuses.lock().expect("status lock").insert(
                host.clone(),
                sshrace_core::WorkspaceStatus {
                    workspace: workspace.clone(),
                    agent: agent.clone(),
                },
            );
        }
    }
}
