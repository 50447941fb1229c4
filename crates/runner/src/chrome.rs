//! A run's trace as Chrome trace-event JSON, for Perfetto (<https://ui.perfetto.dev>) and
//! `chrome://tracing`.
//!
//! Each host is a process; each track of a host (a server connection with its sessions and
//! commands, the client's connections, its operations, `events`) is one or more threads. Spans
//! ([`Mark::Begin`] to [`Mark::End`]) become complete events (`"ph": "X"`); a span is drawn
//! inside its parent when it fits there, and spans of a track that overlap without nesting get
//! extra rows (`connection #3 (2)`). Faults and timeline actions ([`Mark::Global`]) are global
//! instants (`"ph": "i"`, `"s": "g"`), drawn across every track; every other event is an instant
//! on its track, or on its host's `events` track when it has no mark. A span still open when the
//! run ended ends at the last event, with `"unfinished": true` in its args.
//!
//! Invariant: the output is a function of the events alone (no wall time, no map iteration
//! order), so replaying a seed gives the same file byte for byte.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sshrace_core::{Mark, TraceEvent};

/// The track plain events (no [`Mark`]) of a host are drawn on.
const EVENTS_TRACK: &str = "events";

/// The track global instants are listed under in their host.
const TIMELINE_TRACK: &str = "timeline";

/// A Chrome trace-event document: `{"traceEvents": [...], "displayTimeUnit": "ms",
/// "otherData": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChromeTrace {
    /// Metadata (`M`), complete (`X`) and instant (`i`) events.
    #[serde(rename = "traceEvents")]
    pub trace_events: Vec<ChromeEvent>,
    /// Always `ms`: how viewers show times (the events' own unit is microseconds).
    #[serde(rename = "displayTimeUnit")]
    pub display_time_unit: &'static str,
    /// Free-form facts about the run (scenario, strategy, seed, trace hash).
    #[serde(rename = "otherData")]
    pub other_data: BTreeMap<String, String>,
}

/// One trace event. Field names and meanings are the trace-event format's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChromeEvent {
    /// What the viewer labels it with.
    pub name: String,
    /// Category: `span`, `event`, `fault` or `__metadata`.
    pub cat: &'static str,
    /// Phase: `X` complete, `i` instant, `M` metadata.
    pub ph: &'static str,
    /// Start, microseconds of simulated time.
    pub ts: u64,
    /// Length of an `X` event, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dur: Option<u64>,
    /// Process: one per host, numbered from 1 in order of first appearance.
    pub pid: u32,
    /// Thread: one per row of a track, numbered from 1 per host in order of first use.
    pub tid: u32,
    /// Scope of an instant: `t` its thread, `g` global.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<&'static str>,
    /// Details: the trace lines that began and ended a span, a metadata event's name.
    pub args: BTreeMap<String, serde_json::Value>,
}

/// A span once its end is known.
struct Span {
    host: String,
    id: String,
    name: String,
    track: String,
    parent: Option<String>,
    begin: Duration,
    end: Option<Duration>,
    begin_what: String,
    end_what: Option<String>,
}

/// Rows of one track of one host: each a stack of the spans open on it (end, id).
#[derive(Default)]
struct Track {
    rows: Vec<(u32, Vec<(Duration, String)>)>,
}

/// Assigns pids, tids and rows, in order of first use.
#[derive(Default)]
struct Layout {
    pids: BTreeMap<String, u32>,
    next_tid: BTreeMap<String, u32>,
    tracks: BTreeMap<(String, String), Track>,
    metadata: Vec<ChromeEvent>,
}

impl Layout {
    fn pid(&mut self, host: &str) -> u32 {
        if let Some(pid) = self.pids.get(host) {
            return *pid;
        }
        let pid = self.pids.len() as u32 + 1;
        self.pids.insert(host.to_owned(), pid);
        self.metadata
            .push(metadata("process_name", pid, 0, "name", host.into()));
        self.metadata.push(metadata(
            "process_sort_index",
            pid,
            0,
            "sort_index",
            pid.into(),
        ));
        pid
    }

    fn new_row(&mut self, host: &str, track: &str) -> u32 {
        let pid = self.pid(host);
        let next = self.next_tid.entry(host.to_owned()).or_insert(1);
        let tid = *next;
        *next += 1;
        let rows = &mut self
            .tracks
            .entry((host.to_owned(), track.to_owned()))
            .or_default()
            .rows;
        let name = match rows.len() {
            0 => track.to_owned(),
            n => format!("{track} ({})", n + 1),
        };
        rows.push((tid, Vec::new()));
        self.metadata
            .push(metadata("thread_name", pid, tid, "name", name.into()));
        self.metadata.push(metadata(
            "thread_sort_index",
            pid,
            tid,
            "sort_index",
            tid.into(),
        ));
        tid
    }

    /// The first row of `track` (instants go there).
    fn first_row(&mut self, host: &str, track: &str) -> u32 {
        let key = (host.to_owned(), track.to_owned());
        match self.tracks.get(&key).and_then(|t| t.rows.first()) {
            Some((tid, _)) => *tid,
            None => self.new_row(host, track),
        }
    }

    /// The row `span` is drawn on: the one where its parent is the innermost open span and
    /// outlasts it, else the first with nothing open at its start, else a new row.
    fn place(&mut self, span: &Span, end: Duration) -> u32 {
        let key = (span.host.clone(), span.track.clone());
        let track = self.tracks.entry(key).or_default();
        for (_, stack) in &mut track.rows {
            while stack
                .last()
                .is_some_and(|(open_end, _)| *open_end <= span.begin)
            {
                stack.pop();
            }
        }
        let inside_parent = track.rows.iter().position(|(_, stack)| {
            stack.last().is_some_and(|(open_end, open_id)| {
                span.parent.as_deref() == Some(open_id.as_str()) && end <= *open_end
            })
        });
        let row = inside_parent.or_else(|| track.rows.iter().position(|(_, s)| s.is_empty()));
        let row = match row {
            Some(row) => row,
            None => {
                self.new_row(&span.host, &span.track);
                self.tracks[&(span.host.clone(), span.track.clone())]
                    .rows
                    .len()
                    - 1
            }
        };
        let track = self
            .tracks
            .get_mut(&(span.host.clone(), span.track.clone()))
            .expect("track exists");
        let (tid, stack) = &mut track.rows[row];
        stack.push((end, span.id.clone()));
        *tid
    }
}

fn metadata(name: &str, pid: u32, tid: u32, key: &str, value: serde_json::Value) -> ChromeEvent {
    ChromeEvent {
        name: name.to_owned(),
        cat: "__metadata",
        ph: "M",
        ts: 0,
        dur: None,
        pid,
        tid,
        s: None,
        args: BTreeMap::from([(key.to_owned(), value)]),
    }
}

fn micros(at: Duration) -> u64 {
    at.as_micros() as u64
}

/// Pair every [`Mark::Begin`] with its [`Mark::End`]: spans in order of their start, and for
/// each event the index of the span it began, if any.
fn spans(events: &[TraceEvent]) -> (Vec<Span>, BTreeMap<usize, Vec<usize>>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut open: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut begun: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, event) in events.iter().enumerate() {
        for mark in &event.marks {
            match mark {
                Mark::Begin {
                    id,
                    name,
                    track,
                    parent,
                } => {
                    let key = (event.host.clone(), id.clone());
                    if let Some(previous) = open.remove(&key) {
                        // An id begun twice: the first span ends where the second starts.
                        spans[previous].end = Some(event.at);
                    }
                    open.insert(key, spans.len());
                    begun.entry(index).or_default().push(spans.len());
                    spans.push(Span {
                        host: event.host.clone(),
                        id: id.clone(),
                        name: name.clone(),
                        track: track.clone(),
                        parent: parent.clone(),
                        begin: event.at,
                        end: None,
                        begin_what: event.what.clone(),
                        end_what: None,
                    });
                }
                Mark::End { id } => {
                    if let Some(span) = open.remove(&(event.host.clone(), id.clone())) {
                        spans[span].end = Some(event.at);
                        spans[span].end_what = Some(event.what.clone());
                    }
                }
                Mark::Instant { .. } | Mark::Global => {}
            }
        }
    }
    (spans, begun)
}

impl ChromeTrace {
    /// Lay out `events` (one run's trace, in order) as a trace-event document.
    pub fn from_events(events: &[TraceEvent]) -> ChromeTrace {
        let last = events.iter().map(|e| e.at).max().unwrap_or_default();
        let (spans, begun) = spans(events);
        let mut layout = Layout::default();
        let mut out = Vec::new();
        for (index, event) in events.iter().enumerate() {
            let pid = layout.pid(&event.host);
            let instant = |tid: u32, cat: &'static str, scope: &'static str| ChromeEvent {
                name: event.what.clone(),
                cat,
                ph: "i",
                ts: micros(event.at),
                dur: None,
                pid,
                tid,
                s: Some(scope),
                args: BTreeMap::new(),
            };
            if event.marks.is_empty() {
                let tid = layout.first_row(&event.host, EVENTS_TRACK);
                out.push(instant(tid, "event", "t"));
            }
            for mark in &event.marks {
                match mark {
                    Mark::Instant { track } => {
                        let tid = layout.first_row(&event.host, track);
                        out.push(instant(tid, "event", "t"));
                    }
                    Mark::Global => {
                        let tid = layout.first_row(&event.host, TIMELINE_TRACK);
                        out.push(instant(tid, "fault", "g"));
                    }
                    Mark::Begin { .. } | Mark::End { .. } => {}
                }
            }
            for &span_index in begun.get(&index).into_iter().flatten() {
                let span = &spans[span_index];
                let end = span.end.unwrap_or(last);
                let tid = layout.place(span, end);
                let mut args =
                    BTreeMap::from([("begin".to_owned(), span.begin_what.clone().into())]);
                match &span.end_what {
                    Some(what) => {
                        args.insert("end".to_owned(), what.clone().into());
                    }
                    None if span.end.is_none() => {
                        args.insert("unfinished".to_owned(), true.into());
                    }
                    None => {}
                }
                out.push(ChromeEvent {
                    name: span.name.clone(),
                    cat: "span",
                    ph: "X",
                    ts: micros(span.begin),
                    dur: Some(micros(end) - micros(span.begin)),
                    pid,
                    tid,
                    s: None,
                    args,
                });
            }
        }
        let mut trace_events = std::mem::take(&mut layout.metadata);
        trace_events.extend(out);
        ChromeTrace {
            trace_events,
            display_time_unit: "ms",
            other_data: BTreeMap::new(),
        }
    }

    /// Add a fact about the run to `otherData`.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> ChromeTrace {
        self.other_data.insert(key.to_owned(), value.into());
        self
    }

    /// The document as compact JSON text, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string(self).expect("trace events serialise");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_ms: u64, host: &str, what: &str, marks: Vec<Mark>) -> TraceEvent {
        TraceEvent {
            at: Duration::from_millis(at_ms),
            host: host.to_owned(),
            what: what.to_owned(),
            marks,
        }
    }

    fn rows_of<'a>(trace: &'a ChromeTrace, ph: &str) -> Vec<&'a ChromeEvent> {
        trace.trace_events.iter().filter(|e| e.ph == ph).collect()
    }

    #[test]
    fn sessions_nest_in_their_connection_and_overlapping_ones_get_a_second_row() {
        let events = vec![
            event(
                0,
                "target",
                "accept",
                vec![Mark::begin("#0", "connection #0", "conn 0")],
            ),
            event(
                1,
                "target",
                "open 1",
                vec![Mark::begin_in("s1", "s1", "conn 0", "#0")],
            ),
            event(
                2,
                "target",
                "open 2",
                vec![Mark::begin_in("s2", "s2", "conn 0", "#0")],
            ),
            event(5, "target", "exit 1", vec![Mark::end("s1")]),
            event(6, "target", "exit 2", vec![Mark::end("s2")]),
            event(9, "target", "ended", vec![Mark::end("#0")]),
        ];
        let trace = ChromeTrace::from_events(&events);
        let spans = rows_of(&trace, "X");
        assert_eq!(spans.len(), 3);
        assert_eq!((spans[0].ts, spans[0].dur), (0, Some(9_000)));
        assert_eq!(spans[1].tid, spans[0].tid, "s1 nests in its connection");
        assert_ne!(
            spans[2].tid, spans[1].tid,
            "s2 overlaps s1 without nesting in it"
        );
        let names: Vec<&serde_json::Value> = trace
            .trace_events
            .iter()
            .filter(|e| e.name == "thread_name")
            .map(|e| &e.args["name"])
            .collect();
        assert_eq!(names, ["conn 0", "conn 0 (2)"]);
    }

    #[test]
    fn unrelated_spans_never_nest_and_unfinished_ones_end_at_the_last_event() {
        let events = vec![
            event(
                0,
                "client",
                "op 1 start",
                vec![Mark::begin("op 1", "op 1", "ops")],
            ),
            event(
                1,
                "client",
                "op 2 start",
                vec![Mark::begin("op 2", "op 2", "ops")],
            ),
            event(2, "client", "op 2 done", vec![Mark::end("op 2")]),
            event(3, "fault", "crash target", vec![Mark::Global]),
            event(4, "client", "note", vec![]),
        ];
        let trace = ChromeTrace::from_events(&events);
        let spans = rows_of(&trace, "X");
        assert_ne!(spans[0].tid, spans[1].tid);
        assert_eq!(spans[0].dur, Some(4_000));
        assert_eq!(spans[0].args["unfinished"], serde_json::Value::Bool(true));
        let instants = rows_of(&trace, "i");
        assert_eq!(instants[0].s, Some("g"));
        assert_eq!(instants[1].s, Some("t"));
        assert_eq!(instants[1].name, "note");
    }
}
