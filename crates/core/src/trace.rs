use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Clock, Mark};

/// One line of a run's timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TraceEvent {
    /// Time since the run started.
    pub at: Duration,
    /// Host (or component) the event happened on.
    pub host: String,
    /// What happened, in words (`session 3.1 refused: MaxSessions 10`).
    pub what: String,
    /// What the event is to a timeline viewer: spans it starts or ends, or an instant marker.
    /// Empty for plain log lines. Not part of [`Trace::render`] or [`Trace::hash`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Mark>,
}

/// The ordered event log of one run, shared by every component of it.
///
/// Invariant: append-only, in the order events happened (simulated time, then the order the
/// simulation ran them), and byte-identical for the same scenario, strategy and seed. Its
/// [`Trace::hash`] names a run.
#[derive(Clone)]
pub struct Trace {
    clock: Arc<dyn Clock>,
    events: Arc<Mutex<Vec<TraceEvent>>>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("events", &self.len())
            .finish()
    }
}

impl Trace {
    /// An empty trace stamped by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            events: Arc::default(),
        }
    }

    /// The clock events are stamped with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Append a plain event at the clock's current time.
    pub fn record(&self, host: &str, what: impl Into<String>) {
        self.record_marked(host, what, Vec::new());
    }

    /// Append an event at the clock's current time that starts or ends spans, or marks an
    /// instant, for timeline viewers ([`Mark`]).
    pub fn record_marked(&self, host: &str, what: impl Into<String>, marks: Vec<Mark>) {
        let at = self.clock.now();
        self.events.lock().expect("trace lock").push(TraceEvent {
            at,
            host: host.to_owned(),
            what: what.into(),
            marks,
        });
    }

    /// Number of events so far.
    pub fn len(&self) -> usize {
        self.events.lock().expect("trace lock").len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<TraceEvent> {
        self.events.lock().expect("trace lock").clone()
    }

    /// The timeline as text, one event a line: `    12.345s  target    what`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for event in self.events.lock().expect("trace lock").iter() {
            let _ = writeln!(
                out,
                "{:>10.3}s  {:<10} {}",
                event.at.as_secs_f64(),
                event.host,
                event.what
            );
        }
        out
    }

    /// SHA-256 of [`Trace::render`], as 16 hex digits: equal hashes mean identical runs.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.render().as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedClock;

    #[test]
    fn equal_events_hash_equal_and_order_matters() {
        let clock = Arc::new(FixedClock::default());
        let a = Trace::new(clock.clone());
        let b = Trace::new(clock.clone());
        a.record("x", "one");
        a.record("y", "two");
        b.record("x", "one");
        b.record("y", "two");
        assert_eq!(a.hash(), b.hash());
        let c = Trace::new(clock);
        c.record("y", "two");
        c.record("x", "one");
        assert_ne!(a.hash(), c.hash());
    }

    #[test]
    fn marks_change_neither_the_text_nor_the_hash() {
        let clock = Arc::new(FixedClock::default());
        let plain = Trace::new(clock.clone());
        let marked = Trace::new(clock);
        plain.record("target", "session 0.0: open");
        marked.record_marked(
            "target",
            "session 0.0: open",
            vec![Mark::begin_in("session 0.0", "session 0.0", "#0", "#0")],
        );
        assert_eq!(plain.render(), marked.render());
        assert_eq!(plain.hash(), marked.hash());
        assert_eq!(marked.events()[0].marks.len(), 1);
    }
}
