//! What the harness's stalled clients ([`Fault::StalledClients`](crate::Fault::StalledClients))
//! saw: the same record on every backend, so a calibration can compare them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a stalled client's connection went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "fate", rename_all = "kebab-case")]
pub enum StallFate {
    /// Still waiting for the banner when the run ended.
    Waiting,
    /// sshd sent its banner at `at`: the connection holds a MaxStartups slot.
    Banner {
        /// When the banner line arrived.
        at: Duration,
    },
    /// The connection closed before any banner (MaxStartups or PerSourcePenalties drop).
    ClosedBeforeBanner {
        /// When it closed.
        at: Duration,
    },
    /// TCP did not connect (refused, timed out).
    ConnectFailed {
        /// When the connect failed.
        at: Duration,
    },
}

/// One stalled client's connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StalledConnection {
    /// The target host.
    pub host: String,
    /// When the client started connecting (run time).
    pub opened_at: Duration,
    /// What it saw first.
    pub fate: StallFate,
    /// After a banner: when sshd closed the connection (LoginGraceTime), if it did before the
    /// run ended.
    pub closed_at: Option<Duration>,
}

impl StalledConnection {
    /// Whether sshd refused it before the banner.
    pub fn dropped(&self) -> bool {
        matches!(self.fate, StallFate::ClosedBeforeBanner { .. })
    }

    /// Seconds from opening to sshd closing it after the banner.
    pub fn held_for(&self) -> Option<Duration> {
        self.closed_at
            .map(|closed| closed.saturating_sub(self.opened_at))
    }
}

/// The stalled connections of one run, in the order their clients were started; shared by the
/// tasks that update them.
#[derive(Debug, Clone, Default)]
pub struct StallLog {
    inner: Arc<Mutex<Vec<StalledConnection>>>,
}

impl StallLog {
    /// Register a connection being opened; returns its index.
    pub fn open(&self, host: &str, at: Duration) -> usize {
        let mut all = self.inner.lock().expect("stall log lock");
        all.push(StalledConnection {
            host: host.to_owned(),
            opened_at: at,
            fate: StallFate::Waiting,
            closed_at: None,
        });
        all.len() - 1
    }

    /// Set what connection `index` saw first.
    pub fn set_fate(&self, index: usize, fate: StallFate) {
        self.inner.lock().expect("stall log lock")[index].fate = fate;
    }

    /// Record that sshd closed connection `index` at `at`.
    pub fn closed(&self, index: usize, at: Duration) {
        self.inner.lock().expect("stall log lock")[index].closed_at = Some(at);
    }

    /// Every connection so far.
    pub fn snapshot(&self) -> Vec<StalledConnection> {
        self.inner.lock().expect("stall log lock").clone()
    }
}
