//! What happens to the world during a run: faults and client-side events, and when.

use std::time::Duration;

use sshrace_core::Fault;

/// One `[[timeline]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// When it happens.
    pub at: At,
    /// What happens.
    pub action: Action,
}

/// When a timeline entry happens. Both bounds are at most `sim.duration_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// At this instant (`at_ms`).
    Fixed(Duration),
    /// At an instant drawn uniformly per seed from `[lo, hi]`, whole milliseconds
    /// (`at_range_ms = [lo, hi]`).
    Range(Duration, Duration),
}

/// What a timeline entry does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Something happens to the network, a host or the control plane.
    Fault(Fault),
    /// The strategy is asked to refresh its connections to `host` now (`fault = "refresh"`).
    Refresh {
        /// The `[[host]]`.
        host: String,
    },
    /// The strategy's multiplexing master to `host` exits hard now (`fault = "mux-exit"`, like
    /// `ssh -O exit`).
    MuxExit {
        /// The `[[host]]`.
        host: String,
    },
    /// The strategy's multiplexing master to `host` stops gracefully now: no new sessions, the
    /// running ones finish (`fault = "mux-stop"`, like `ssh -O stop`).
    MuxStop {
        /// The `[[host]]`.
        host: String,
    },
}

impl Action {
    /// The `fault = "..."` name of this action in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Fault(fault) => match fault {
                Fault::Partition { .. } => "partition",
                Fault::PartitionOneWay { .. } => "partition-one-way",
                Fault::Heal { .. } => "heal",
                Fault::Crash { .. } => "crash",
                Fault::Restart { .. } => "restart",
                Fault::Pause { .. } => "pause",
                Fault::Resume { .. } => "resume",
                Fault::NatIdleTimeout { .. } => "nat-idle-timeout",
                Fault::Latency { .. } => "latency",
                Fault::ControlPlane { .. } => "control-plane",
                Fault::StalledClients { .. } => "stalled-clients",
            },
            Action::Refresh { .. } => "refresh",
            Action::MuxExit { .. } => "mux-exit",
            Action::MuxStop { .. } => "mux-stop",
        }
    }
}
