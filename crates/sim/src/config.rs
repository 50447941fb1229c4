use std::time::Duration;

use sshrace_core::TimedFault;
use sshrace_sshd::SshdConfig;

/// Everything a simulated run depends on. Two runs with equal configs produce byte-identical
/// traces and ledgers.
///
/// Defaults: tick 1 ms, no idle stepping, duration 1 h, latency 1 ms one way with no jitter, jitter redrawn every
/// 100 ms, no targets, no faults.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// Seeds turmoil, every sshd's random early drop and the latency jitter.
    pub seed: u64,
    /// Simulated time per step. Network delivery happens at step boundaries, so it bounds the
    /// latency resolution; larger ticks run idle stretches faster.
    pub tick: Duration,
    /// Step size while nothing is in flight on the network (`None`: always `tick`). Hosts'
    /// timers still fire at their exact instants inside a long step, but a message sent during
    /// one is delivered at its end: the first packet after an idle stretch may wait up to this
    /// long. Steps never cross a fault's instant.
    pub idle_tick: Option<Duration>,
    /// Simulated time after which the run stops, finished or not.
    pub duration: Duration,
    /// sshd hosts.
    pub targets: Vec<TargetConfig>,
    /// One-way latency of every link at the start.
    pub latency: Duration,
    /// Extra latency, uniformly up to this, redrawn every `jitter_interval` per link.
    pub jitter: Duration,
    /// How often jitter is redrawn.
    pub jitter_interval: Duration,
    /// Faults, applied at their instants (stable-sorted by time).
    pub faults: Vec<TimedFault>,
}

/// One simulated sshd host.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Host name (what strategies connect to).
    pub name: String,
    /// Its sshd settings.
    pub sshd: SshdConfig,
}

impl WorldConfig {
    /// A world with the defaults and this seed.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            tick: Duration::from_millis(1),
            idle_tick: None,
            duration: Duration::from_secs(3600),
            targets: Vec::new(),
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            jitter_interval: Duration::from_millis(100),
            faults: Vec::new(),
        }
    }

    /// Add a target with OpenSSH's default sshd settings.
    pub fn target(self, name: &str) -> Self {
        self.target_with(name, SshdConfig::default())
    }

    /// Add a target with these sshd settings.
    pub fn target_with(mut self, name: &str, sshd: SshdConfig) -> Self {
        self.targets.push(TargetConfig {
            name: name.to_owned(),
            sshd,
        });
        self
    }

    /// Add a fault at `at`.
    pub fn fault(mut self, at: Duration, fault: sshrace_core::Fault) -> Self {
        self.faults.push(TimedFault { at, fault });
        self
    }

    /// Set the step size.
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// Step by `idle_tick` across idle stretches.
    pub fn idle_tick(mut self, idle_tick: Duration) -> Self {
        self.idle_tick = Some(idle_tick);
        self
    }

    /// Set the run's time limit.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Set the base one-way latency and its jitter.
    pub fn latency(mut self, latency: Duration, jitter: Duration) -> Self {
        self.latency = latency;
        self.jitter = jitter;
        self
    }
}
