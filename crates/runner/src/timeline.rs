//! A run's trace as swimlanes for a picture: the same events `replay` prints, grouped into
//! lanes (the client, each target, the control plane, the faults), with bars for spans
//! (connections, masters, sessions, commands, operations) and markers for instants (faults,
//! refusals and drops, exits, DONE, lost events), the failed operation highlighted.
//!
//! Invariant: a function of the events (and the failed operation) alone, like
//! [`ChromeTrace`](crate::ChromeTrace): the picture and the replayed text never disagree.

use std::collections::BTreeMap;
use std::time::Duration;

use sshrace_core::{Mark, TraceEvent};

use crate::RunResult;

/// Rows a lane packs its bars into before the rest share its last row.
pub const MAX_ROWS: usize = 24;

/// A run drawn as lanes.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Time of the last event.
    pub end: Duration,
    /// Lanes, top to bottom: client, targets (in order of first event), control plane, faults.
    pub lanes: Vec<Lane>,
    /// The operation the timeline is about, if one failed.
    pub failed: Option<FailedOp>,
}

/// The failed operation a timeline highlights.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedOp {
    /// Planned operation id (`op N` in the trace).
    pub id: u64,
    /// Its workload item.
    pub workload: String,
    /// Its outcome key (`transport:closed-locally`, `silent-failure`, ...).
    pub outcome: String,
    /// When it started.
    pub started: Duration,
    /// When it resolved, if it did.
    pub finished: Option<Duration>,
}

/// What a lane stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LaneKind {
    /// The client host: operations, its connections and masters, jobs.
    Client,
    /// A target host's sshd: connections, sessions, commands.
    Target,
    /// The control plane: status changes and the gate's decisions.
    Control,
    /// Faults and timeline actions (refreshes, `ssh -O exit`), NAT drops.
    Faults,
}

/// One lane: bars packed into rows, and markers.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// `client`, a target's name, `control plane` or `faults`.
    pub name: String,
    /// What it stands for.
    pub kind: LaneKind,
    /// Rows of bars; a bar's children (a connection's sessions, a session's command) are in
    /// its row, drawn inside it.
    pub rows: Vec<Vec<Bar>>,
    /// Bars that did not fit in [`MAX_ROWS`] rows (they are in the last row too).
    pub overflow: usize,
    /// Instants, in time order.
    pub markers: Vec<Marker>,
}

/// What a bar is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    /// A client operation (`op N workload`).
    Operation,
    /// A client connection (`cN to host`) or a server connection (`connection #N`).
    Connection,
    /// A client connection used as a ControlMaster.
    Master,
    /// A session on a server connection.
    Session,
    /// A command in a session.
    Command,
}

/// A span: from its begin event to its end event (or the end of the run).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Its label (`c3 to target`, `session 0.2`, `op 7 deploy`).
    pub label: String,
    /// What it is.
    pub kind: BarKind,
    /// Nesting depth: 0 a top-level span, 1 inside it, 2 inside that.
    pub depth: u8,
    /// Start.
    pub begin: Duration,
    /// End (the last event when it never ended).
    pub end: Duration,
    /// Whether it was still open when the run ended.
    pub unfinished: bool,
    /// The trace lines that began and ended it.
    pub begin_what: String,
    /// The trace line that ended it, if any.
    pub end_what: Option<String>,
    /// Whether this is the failed operation (or its command on the server).
    pub failed: bool,
}

/// What a marker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    /// A fault or timeline action, drawn across every lane.
    Fault,
    /// A refused session, a dropped or timed-out connection.
    Refusal,
    /// A command's exit status (`exit 0`) or a master told to exit or stop.
    Exit,
    /// A job's DONE marker.
    Done,
    /// A job event emitted after DONE (lost).
    Lost,
    /// The failed operation's end (or, when it never ended, its start).
    Failed,
    /// Anything else marked: sshd listening, gate decisions, job events.
    Note,
}

/// An instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// When.
    pub at: Duration,
    /// What it is.
    pub kind: MarkerKind,
    /// The trace line.
    pub what: String,
}

impl MarkerKind {
    /// A one-character symbol, so no marker is told apart by colour alone.
    pub fn symbol(self) -> &'static str {
        match self {
            MarkerKind::Fault => "!",
            MarkerKind::Refusal => "x",
            MarkerKind::Exit => "|",
            MarkerKind::Done => "D",
            MarkerKind::Lost => "L",
            MarkerKind::Failed => "F",
            MarkerKind::Note => "*",
        }
    }
}

/// An open span while the events are read.
struct Open {
    lane: usize,
    bar: Bar,
    parent: Option<String>,
}

fn lane_of(event: &TraceEvent) -> (String, LaneKind) {
    let global = event.marks.iter().any(|m| matches!(m, Mark::Global));
    let gate = event
        .marks
        .iter()
        .any(|m| matches!(m, Mark::Instant { track } if track == "gate"));
    match event.host.as_str() {
        _ if gate => ("control plane".to_owned(), LaneKind::Control),
        "control" => ("control plane".to_owned(), LaneKind::Control),
        "fault" | "nemesis" if event.what.contains("control") => {
            ("control plane".to_owned(), LaneKind::Control)
        }
        "fault" | "nemesis" | "nat" => ("faults".to_owned(), LaneKind::Faults),
        _ if global => ("faults".to_owned(), LaneKind::Faults),
        "client" => ("client".to_owned(), LaneKind::Client),
        host => (host.to_owned(), LaneKind::Target),
    }
}

fn marker_kind(event: &TraceEvent) -> MarkerKind {
    let what = event.what.as_str();
    if event.marks.iter().any(|m| matches!(m, Mark::Global))
        || event.host == "fault"
        || event.host == "nemesis"
        || event.host == "nat"
    {
        MarkerKind::Fault
    } else if what.contains("lost after DONE") {
        MarkerKind::Lost
    } else if what.ends_with(": DONE") {
        MarkerKind::Done
    } else if what.contains("refused")
        || what.starts_with("drop ")
        || what.contains("dropped")
        || what.contains("LoginGraceTime exceeded")
        || what.contains("timed out")
        || what.contains("connect failed")
    {
        MarkerKind::Refusal
    } else if what.contains(": exit ") || what.contains("ssh -O ") {
        MarkerKind::Exit
    } else {
        MarkerKind::Note
    }
}

/// The client connection a `mux: master cN ...` line names.
fn master_connection(what: &str) -> Option<String> {
    let rest = what.strip_prefix("mux: master ")?;
    let id = rest.split_whitespace().next()?;
    Some(id.to_owned())
}

/// The op id of an op span id (`op 12`) or a server command name (`command of op 12`).
fn op_number(text: &str) -> Option<u64> {
    let rest = text
        .strip_prefix("command of op ")
        .or_else(|| text.strip_prefix("op "))?;
    rest.split_whitespace().next()?.parse().ok()
}

impl Timeline {
    /// The timeline of a run kept with its trace (`run_one(.., keep_trace: true)`), the
    /// first failed measured operation highlighted; `None` without a trace.
    pub fn from_run(run: &RunResult) -> Option<Timeline> {
        let trace = run.trace.as_ref()?;
        let failed = run
            .measured()
            .filter(|(_, outcome)| run.counts_as_failure(*outcome))
            .min_by_key(|(record, _)| (record.finished.unwrap_or(Duration::MAX), record.id))
            .map(|(record, outcome)| FailedOp {
                id: record.id,
                workload: record.workload.clone(),
                outcome: outcome.key(),
                started: record.started,
                finished: record.finished,
            });
        Some(Timeline::from_events(&trace.events(), failed))
    }

    /// Lay out `events` (one run's trace, in order), highlighting `failed`.
    pub fn from_events(events: &[TraceEvent], failed: Option<FailedOp>) -> Timeline {
        let end = events.iter().map(|e| e.at).max().unwrap_or_default();
        let failed_id = failed.as_ref().map(|f| f.id);
        let mut lanes: Vec<Lane> = Vec::new();
        let mut lane_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut open: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut bars: Vec<Open> = Vec::new();
        let mut masters: Vec<String> = Vec::new();
        // Lanes in a fixed order: client first, then targets as they appear, control, faults.
        let mut lane = |name: String, kind: LaneKind, lanes: &mut Vec<Lane>| -> usize {
            *lane_index.entry(name.clone()).or_insert_with(|| {
                lanes.push(Lane {
                    name,
                    kind,
                    rows: Vec::new(),
                    overflow: 0,
                    markers: Vec::new(),
                });
                lanes.len() - 1
            })
        };
        for event in events {
            let (name, kind) = lane_of(event);
            let here = lane(name, kind, &mut lanes);
            if let Some(id) = master_connection(&event.what)
                && !masters.contains(&id)
            {
                masters.push(id);
            }
            let mut spans = false;
            for mark in &event.marks {
                match mark {
                    Mark::Begin {
                        id,
                        name,
                        track,
                        parent,
                    } => {
                        spans = true;
                        let key = (event.host.clone(), id.clone());
                        if let Some(previous) = open.remove(&key) {
                            bars[previous].bar.end = event.at;
                            bars[previous].bar.unfinished = false;
                        }
                        let kind = if track == "operations" {
                            BarKind::Operation
                        } else if name.starts_with("session ") {
                            BarKind::Session
                        } else if name.starts_with("command") {
                            BarKind::Command
                        } else {
                            BarKind::Connection
                        };
                        let failed = failed_id.is_some()
                            && matches!(kind, BarKind::Operation | BarKind::Command)
                            && op_number(name) == failed_id;
                        open.insert(key, bars.len());
                        bars.push(Open {
                            lane: here,
                            parent: parent.clone(),
                            bar: Bar {
                                label: name.clone(),
                                kind,
                                depth: 0,
                                begin: event.at,
                                end,
                                unfinished: true,
                                begin_what: event.what.clone(),
                                end_what: None,
                                failed,
                            },
                        });
                    }
                    Mark::End { id } => {
                        spans = true;
                        if let Some(index) = open.remove(&(event.host.clone(), id.clone())) {
                            let bar = &mut bars[index].bar;
                            bar.end = event.at;
                            bar.unfinished = false;
                            bar.end_what = Some(event.what.clone());
                        }
                    }
                    Mark::Instant { .. } | Mark::Global => {}
                }
            }
            let instant = event
                .marks
                .iter()
                .any(|m| matches!(m, Mark::Instant { .. } | Mark::Global));
            // Plain lines and span ends are markers only where they matter: faults, NAT, DONE,
            // lost events, refusals, failed connects, commands' exits on a server (the rest is
            // in the replayed text).
            let kind = marker_kind(event);
            let matters = match kind {
                MarkerKind::Note => false,
                MarkerKind::Exit => !spans || lanes[here].kind == LaneKind::Target,
                _ => true,
            };
            if instant || matters {
                lanes[here].markers.push(Marker {
                    at: event.at,
                    kind,
                    what: event.what.clone(),
                });
            }
        }
        // Client connections that were masters.
        for open in &mut bars {
            if open.bar.kind == BarKind::Connection
                && lanes[open.lane].kind == LaneKind::Client
                && let Some(id) = open.bar.label.split_whitespace().next()
                && masters.iter().any(|m| m == id)
            {
                open.bar.kind = BarKind::Master;
            }
        }
        if let Some(failed) = &failed {
            let client = lane("client".to_owned(), LaneKind::Client, &mut lanes);
            lanes[client].markers.push(Marker {
                at: failed.finished.unwrap_or(failed.started),
                kind: MarkerKind::Failed,
                what: format!(
                    "op {} {} failed: {}",
                    failed.id, failed.workload, failed.outcome
                ),
            });
            lanes[client].markers.sort_by_key(|m| m.at);
        }
        pack(&mut lanes, bars);
        lanes.sort_by_key(|l| l.kind);
        Timeline { end, lanes, failed }
    }

    /// Every bar of every lane.
    pub fn bars(&self) -> impl Iterator<Item = &Bar> {
        self.lanes.iter().flat_map(|l| l.rows.iter().flatten())
    }
}

/// Put top-level bars into the first row of their lane free at their start (at most
/// [`MAX_ROWS`]); a child goes into its parent's row, one level deeper.
fn pack(lanes: &mut [Lane], bars: Vec<Open>) {
    // (lane, span id as the parent names it) -> (row, depth); ids are per host, and a lane
    // is one host, so the id alone is enough within a lane.
    let mut placed: BTreeMap<(usize, String), (usize, u8)> = BTreeMap::new();
    let mut row_ends: Vec<Vec<Duration>> = vec![Vec::new(); lanes.len()];
    let ids: Vec<Option<String>> = bars.iter().map(|o| span_id(&o.bar)).collect();
    for (open, id) in bars.into_iter().zip(ids) {
        let Open {
            lane,
            mut bar,
            parent,
        } = open;
        let inside = parent
            .as_ref()
            .and_then(|p| placed.get(&(lane, p.clone())).copied());
        let (row, depth) = match inside {
            Some((row, depth)) => (row, (depth + 1).min(2)),
            None => {
                let ends = &mut row_ends[lane];
                let row = match ends.iter().position(|free| *free <= bar.begin) {
                    Some(row) => row,
                    None if ends.len() < MAX_ROWS => {
                        ends.push(Duration::ZERO);
                        ends.len() - 1
                    }
                    None => {
                        lanes[lane].overflow += 1;
                        ends.len() - 1
                    }
                };
                ends[row] = ends[row].max(bar.end);
                (row, 0)
            }
        };
        bar.depth = depth;
        if let Some(id) = id {
            placed.insert((lane, id), (row, depth));
        }
        let rows = &mut lanes[lane].rows;
        while rows.len() <= row {
            rows.push(Vec::new());
        }
        rows[row].push(bar);
    }
}

/// The id a span's children name it by: the server's `#N` and `session N.M`, from its label.
fn span_id(bar: &Bar) -> Option<String> {
    match bar.kind {
        BarKind::Connection => bar
            .label
            .strip_prefix("connection ")
            .map(str::to_owned)
            .or_else(|| Some(bar.label.clone())),
        BarKind::Session => Some(bar.label.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ms: u64, host: &str, what: &str, marks: Vec<Mark>) -> TraceEvent {
        TraceEvent {
            at: Duration::from_millis(ms),
            host: host.to_owned(),
            what: what.to_owned(),
            marks,
        }
    }

    fn sample() -> Vec<TraceEvent> {
        vec![
            event(
                0,
                "client",
                "op 1 deploy: start on target",
                vec![Mark::begin("op 1", "op 1 deploy", "operations")],
            ),
            event(
                1,
                "client",
                "c0: connect to target",
                vec![Mark::begin("c0", "c0 to target", "connections")],
            ),
            event(
                2,
                "target",
                "accept connection #0",
                vec![Mark::begin("#0", "connection #0", "connection #0")],
            ),
            event(
                3,
                "client",
                "mux: master c0 to target started (ssh -fNM)",
                vec![Mark::instant("masters")],
            ),
            event(
                4,
                "target",
                "session 0.0: open",
                vec![Mark::begin_in(
                    "session 0.0",
                    "session 0.0",
                    "connection #0",
                    "#0",
                )],
            ),
            event(
                5,
                "target",
                "session 0.0: exec sshrace-cmd op=1 ms=10",
                vec![Mark::begin_in(
                    "command 0.0",
                    "command of op 1",
                    "connection #0",
                    "session 0.0",
                )],
            ),
            event(
                6,
                "target",
                "session 0.1: refused, MaxSessions 10",
                vec![Mark::instant("connection #0")],
            ),
            event(7, "fault", "crash target", vec![Mark::Global]),
            event(
                8,
                "client",
                "op 1 deploy: exit 255",
                vec![Mark::end("op 1")],
            ),
            event(9, "client", "job 0: DONE", vec![Mark::instant("jobs")]),
            event(10, "client", "a plain line", vec![]),
        ]
    }

    fn failed() -> FailedOp {
        FailedOp {
            id: 1,
            workload: "deploy".to_owned(),
            outcome: "transport:connection-lost".to_owned(),
            started: Duration::ZERO,
            finished: Some(Duration::from_millis(8)),
        }
    }

    #[test]
    fn lanes_are_client_targets_then_faults() {
        let timeline = Timeline::from_events(&sample(), Some(failed()));
        let names: Vec<&str> = timeline.lanes.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["client", "target", "faults"]);
        assert_eq!(timeline.end, Duration::from_millis(10));
    }

    #[test]
    fn bars_nest_and_the_failed_op_and_its_command_are_highlighted() {
        let timeline = Timeline::from_events(&sample(), Some(failed()));
        let target = &timeline.lanes[1];
        assert_eq!(target.rows.len(), 1);
        let depths: Vec<(BarKind, u8)> = target.rows[0].iter().map(|b| (b.kind, b.depth)).collect();
        assert_eq!(
            depths,
            [
                (BarKind::Connection, 0),
                (BarKind::Session, 1),
                (BarKind::Command, 2)
            ]
        );
        assert!(target.rows[0][2].failed);
        assert!(target.rows[0][0].unfinished);
        let client = &timeline.lanes[0];
        let op = client
            .rows
            .iter()
            .flatten()
            .find(|b| b.kind == BarKind::Operation)
            .unwrap();
        assert!(op.failed);
        assert_eq!(op.end, Duration::from_millis(8));
        assert!(
            client
                .rows
                .iter()
                .flatten()
                .any(|b| b.kind == BarKind::Master)
        );
    }

    #[test]
    fn markers_say_what_they_are() {
        let timeline = Timeline::from_events(&sample(), Some(failed()));
        let kinds = |lane: usize| -> Vec<MarkerKind> {
            timeline.lanes[lane]
                .markers
                .iter()
                .map(|m| m.kind)
                .collect()
        };
        assert_eq!(
            kinds(0),
            [MarkerKind::Note, MarkerKind::Failed, MarkerKind::Done]
        );
        assert_eq!(kinds(1), [MarkerKind::Refusal]);
        assert_eq!(kinds(2), [MarkerKind::Fault]);
    }

    #[test]
    fn overlapping_top_level_bars_take_new_rows_up_to_the_limit() {
        // Never ended: each lasts to the last event, at 1 s.
        let mut events: Vec<TraceEvent> = (0..MAX_ROWS as u64 + 3)
            .map(|n| {
                event(
                    n,
                    "client",
                    "connect",
                    vec![Mark::begin(
                        format!("c{n}"),
                        format!("c{n} to t"),
                        "connections",
                    )],
                )
            })
            .collect();
        events.push(event(1000, "client", "the end", vec![]));
        let timeline = Timeline::from_events(&events, None);
        assert_eq!(timeline.lanes[0].rows.len(), MAX_ROWS);
        assert_eq!(timeline.lanes[0].overflow, 3);
    }
}
