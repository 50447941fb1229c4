use std::fmt;
use std::time::Duration;

/// Something that happens to the network, a host or the control plane at a given instant of a
/// timeline. Each backend applies it its own way (the simulation through turmoil, containers
/// through Docker and iptables) or refuses it up front.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    /// Every segment between `a` and `b`, both ways, is dropped silently (no RST): established
    /// connections become half-open and stall until a keepalive or timeout notices.
    Partition {
        /// One side.
        a: String,
        /// The other side.
        b: String,
    },
    /// Segments from `from` to `to` are dropped silently; the other direction still flows.
    PartitionOneWay {
        /// Sender whose segments are lost.
        from: String,
        /// Receiver that no longer hears `from`.
        to: String,
    },
    /// Undo partitions between `a` and `b`, both directions.
    Heal {
        /// One side.
        a: String,
        /// The other side.
        b: String,
    },
    /// The host dies (power loss, `docker kill`): its processes are gone, peers see their
    /// connections end, new connections are refused.
    Crash {
        /// The host.
        host: String,
    },
    /// A crashed host boots again with a fresh sshd.
    Restart {
        /// The host.
        host: String,
    },
    /// sshd stops answering (SIGSTOP, `docker pause`): nothing is accepted or answered, but
    /// nothing is closed either; traffic waits.
    Pause {
        /// The host.
        host: String,
    },
    /// Undo [`Fault::Pause`]: waiting traffic is processed.
    Resume {
        /// The host.
        host: String,
    },
    /// From now on a NAT between clients and targets silently forgets any flow idle for longer
    /// than `idle` (`None`: no NAT). A forgotten flow is half-open in both directions.
    NatIdleTimeout {
        /// Idle time after which a flow is dropped.
        idle: Option<Duration>,
    },
    /// Set the one-way latency between `a` and `b` to `base` plus up to `jitter`, drawn per
    /// interval from the seed (so the same seed gives the same latencies).
    Latency {
        /// One side.
        a: String,
        /// The other side.
        b: String,
        /// Minimum one-way latency.
        base: Duration,
        /// Extra latency, uniformly up to this.
        jitter: Duration,
    },
    /// `count` clients open a TCP connection to `host`'s sshd at once, read its banner and then
    /// send nothing, as stuck clients or a port scanner do. Each holds an unauthenticated
    /// MaxStartups slot until sshd's LoginGraceTime closes it (or the run ends). The harness
    /// records what each saw (banner, or closed before it) in the run's stalled-connection list.
    /// They come from the client's address, as every client does behind docker-proxy.
    StalledClients {
        /// The target host.
        host: String,
        /// How many connections.
        count: u32,
    },
    /// The control plane starts reporting this workspace and agent status for `host`.
    ControlPlane {
        /// The workspace (target host) the status is about.
        host: String,
        /// Workspace build status: RUNNING, STOPPED, ...
        workspace: String,
        /// Agent status: CONNECTED, DISCONNECTED, ...
        agent: String,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { a, b } => write!(f, "partition {a} <-> {b}"),
            Fault::PartitionOneWay { from, to } => write!(f, "partition {from} -> {to}"),
            Fault::Heal { a, b } => write!(f, "heal {a} <-> {b}"),
            Fault::Crash { host } => write!(f, "crash {host}"),
            Fault::Restart { host } => write!(f, "restart {host}"),
            Fault::Pause { host } => write!(f, "pause {host}"),
            Fault::Resume { host } => write!(f, "resume {host}"),
            Fault::NatIdleTimeout { idle: Some(idle) } => {
                write!(f, "nat drops flows idle > {}s", idle.as_secs_f64())
            }
            Fault::NatIdleTimeout { idle: None } => write!(f, "nat removed"),
            Fault::Latency { a, b, base, jitter } => write!(
                f,
                "latency {a} <-> {b} = {}ms + up to {}ms",
                base.as_millis(),
                jitter.as_millis()
            ),
            Fault::StalledClients { host, count } => {
                write!(f, "{count} stalled clients connect to {host}")
            }
            Fault::ControlPlane {
                host,
                workspace,
                agent,
            } => write!(
                f,
                "control plane: {host} workspace {workspace}, agent {agent}"
            ),
        }
    }
}

/// A [`Fault`] at an instant of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimedFault {
    /// When it happens, from the start of the run.
    pub at: Duration,
    /// What happens.
    pub fault: Fault,
}
