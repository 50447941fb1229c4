use std::sync::Arc;
use std::time::Duration;

use sshrace_core::{Clock, FixedClock};

/// Simulated time: inside a host, turmoil's clock; between steps, the time the loop stored.
pub(crate) struct SimClock {
    pub(crate) between_steps: Arc<FixedClock>,
}

impl Clock for SimClock {
    fn now(&self) -> Duration {
        turmoil::sim_elapsed().unwrap_or_else(|| self.between_steps.now())
    }
}
