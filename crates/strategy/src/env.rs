use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sshrace_core::{ControlPlane, Mark, Trace, Transport};

/// What a strategy gets when it is built for one run.
#[derive(Clone)]
pub struct Env {
    /// The only way to the network.
    pub transport: Arc<dyn Transport>,
    /// Where reachability gates ask for status.
    pub control: Arc<dyn ControlPlane>,
    /// The run's timeline: log strategy decisions here (`master created`, `reusing connection`).
    pub trace: Trace,
    /// The run's seed: derive any randomness (backoff jitter) from it, never from the OS.
    pub seed: u64,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").field("seed", &self.seed).finish()
    }
}

impl Env {
    /// A ChaCha8 generator for the stream named `purpose` of this run's seed.
    pub fn rng(&self, purpose: &str) -> ChaCha8Rng {
        let tag = purpose.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        ChaCha8Rng::seed_from_u64(self.seed ^ tag)
    }

    /// Record a strategy event on the client's track of the trace.
    pub fn record(&self, what: impl Into<String>) {
        self.trace.record("client", what);
    }

    /// Record a strategy event on the client's track, with marks for timeline viewers (a master
    /// started or retired, a gate's verdict).
    pub fn record_marked(&self, what: impl Into<String>, marks: Vec<Mark>) {
        self.trace.record_marked("client", what, marks);
    }
}
