use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where "now" comes from: simulated time in the simulation, elapsed wall time for real runs.
///
/// Every timestamp in a [`crate::Ledger`] and a [`crate::Trace`] is a `Clock` reading, measured
/// from the start of the run.
pub trait Clock: Send + Sync {
    /// Time since the run started.
    fn now(&self) -> Duration;
}

/// A clock that reads whatever was last stored in it. The simulation loop stores the current
/// simulated time before it applies a fault; tests use it to drive time by hand.
#[derive(Debug, Default)]
pub struct FixedClock {
    nanos: AtomicU64,
}

impl FixedClock {
    /// Set the time this clock reports.
    pub fn set(&self, now: Duration) {
        self.nanos.store(now.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}
