//! Routing: the requests in flight, each waiting for its id, and what the program's stdout
//! lines do to them (a reply, a job's events and `done`, or a violation).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use sshrace_core::{Cause, ExecResult, FailureClass, Mark, Trace, TransportError};
use sshrace_strategy::{EventSink, JobReport};
use tokio::sync::{mpsc, oneshot, watch};

use crate::diagnostics::{Violation, ViolationKind};
use crate::error::{cause_named, driver_error, reported_error};
use crate::program::Options;
use crate::protocol::{FromProgram, ToProgram};

/// The host name the driver's trace events carry.
pub(crate) const TRACE_HOST: &str = "driver";
/// The track its violations are drawn on.
const TRACE_TRACK: &str = "driver";
/// Violations kept word for word (in the trace and the diagnostics); the rest are counted.
const KEPT_VIOLATIONS: usize = 100;
/// How much of an offending line a violation quotes.
const QUOTED: usize = 200;

pub(crate) enum Waiter {
    Command {
        host: String,
        reply: oneshot::Sender<Result<ExecResult, TransportError>>,
    },
    Job {
        events: EventSink,
        done: bool,
        reply: oneshot::Sender<JobReport>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Finished {
    Answered,
    /// The caller stopped waiting (its deadline).
    Abandoned,
}

#[derive(Default)]
pub(crate) struct State {
    pending: HashMap<u64, Waiter>,
    finished: HashMap<u64, Finished>,
    /// Why new requests fail at once (the program is gone or shutting down).
    pub(crate) refuse: Option<String>,
    pub(crate) violations: Vec<Violation>,
    pub(crate) violation_count: usize,
    pub(crate) late_messages: usize,
}

pub(crate) enum Outgoing {
    Line(String),
    Close,
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) outgoing: mpsc::UnboundedSender<Outgoing>,
    pub(crate) trace: Trace,
    pub(crate) options: Options,
    pub(crate) stderr_tail: Mutex<VecDeque<String>>,
    /// `shutdown` was sent.
    pub(crate) shutting_down: AtomicBool,
    /// The program's stderr reached its end (so its last words are in `stderr_tail`).
    pub(crate) stderr_closed: watch::Sender<bool>,
}

fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.chars().count() > QUOTED {
        let cut: String = text.chars().take(QUOTED).collect();
        format!("{cut}...")
    } else {
        text.to_owned()
    }
}

impl Shared {
    pub(crate) fn send(&self, message: &ToProgram) {
        let _ = self.outgoing.send(Outgoing::Line(message.line()));
    }

    pub(crate) fn violation(&self, state: &mut State, kind: ViolationKind, detail: String) {
        state.violation_count += 1;
        tracing::warn!(%kind, "driver protocol violation: {detail}");
        if state.violations.len() < KEPT_VIOLATIONS {
            self.trace.record_marked(
                TRACE_HOST,
                format!("protocol violation ({kind}): {detail}"),
                vec![Mark::instant(TRACE_TRACK)],
            );
            state.violations.push(Violation { kind, detail });
            if state.violations.len() == KEPT_VIOLATIONS {
                self.trace.record(
                    TRACE_HOST,
                    "further protocol violations are counted, not recorded",
                );
            }
        }
    }

    /// Register a request and send it; the guard abandons it if dropped before the reply.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: u64,
        waiter: Waiter,
        message: ToProgram,
    ) -> Result<Abandon, TransportError> {
        let mut state = self.state.lock().expect("driver state lock");
        if let Some(reason) = &state.refuse {
            return Err(driver_error(reason.clone()));
        }
        if state.pending.contains_key(&id) {
            return Err(driver_error(format!(
                "driver: request id {id} is already in flight"
            )));
        }
        if state.pending.len() >= self.options.max_outstanding {
            return Err(driver_error(format!(
                "driver: {} requests already in flight (the bound)",
                self.options.max_outstanding
            )));
        }
        state.finished.remove(&id);
        state.pending.insert(id, waiter);
        self.send(&message);
        Ok(Abandon {
            shared: self.clone(),
            id,
        })
    }

    /// Fail every request in flight with `reason`, and every later one.
    pub(crate) fn fail_all(&self, reason: &str) {
        let pending: Vec<(u64, Waiter)> = {
            let mut state = self.state.lock().expect("driver state lock");
            state.refuse.get_or_insert_with(|| reason.to_owned());
            let pending: Vec<(u64, Waiter)> = state.pending.drain().collect();
            for (id, _) in &pending {
                state.finished.insert(*id, Finished::Answered);
            }
            pending
        };
        if !pending.is_empty() {
            self.trace.record_marked(
                TRACE_HOST,
                format!("{} requests fail: {reason}", pending.len()),
                vec![Mark::instant(TRACE_TRACK)],
            );
        }
        for (_, waiter) in pending {
            match waiter {
                Waiter::Command { reply, .. } => {
                    let _ = reply.send(Err(driver_error(reason)));
                }
                Waiter::Job { reply, .. } => {
                    let _ = reply.send(JobReport {
                        success: false,
                        failure: Some(FailureClass::Transport(Cause::ClosedLocally)),
                    });
                }
            }
        }
    }

    /// One line of the program's stdout.
    pub(crate) fn handle_line(&self, bytes: &[u8]) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let mut state = self.state.lock().expect("driver state lock");
        let message: FromProgram = match serde_json::from_slice(bytes) {
            Ok(message) => message,
            Err(error) => {
                let detail = format!("not a protocol message ({error}): {}", quote(bytes));
                self.violation(&mut state, ViolationKind::Malformed, detail);
                return;
            }
        };
        if let Some(cause) = &message.cause
            && cause_named(cause).is_none()
        {
            let detail = format!(
                "unknown cause {cause:?}, the error text decides: {}",
                quote(bytes)
            );
            self.violation(&mut state, ViolationKind::Malformed, detail);
        }
        if !matches!(message.kind.as_str(), "reply" | "event" | "done") {
            let detail = format!("unknown message type {:?}: {}", message.kind, quote(bytes));
            self.violation(&mut state, ViolationKind::Malformed, detail);
            return;
        }
        let Some(id) = message.id else {
            let detail = format!("a {} without an id: {}", message.kind, quote(bytes));
            self.violation(&mut state, ViolationKind::Malformed, detail);
            return;
        };
        let Some(waiter) = state.pending.remove(&id) else {
            match state.finished.get(&id) {
                Some(Finished::Abandoned) => {
                    state.late_messages += 1;
                    self.trace.record(
                        TRACE_HOST,
                        format!(
                            "{} for {id} after its deadline, ignored: {}",
                            message.kind,
                            quote(bytes)
                        ),
                    );
                }
                Some(Finished::Answered) => {
                    let detail = format!(
                        "a {} for {id}, which was already answered: {}",
                        message.kind,
                        quote(bytes)
                    );
                    self.violation(&mut state, ViolationKind::Duplicate, detail);
                }
                None => {
                    let detail = format!(
                        "a {} for id {id}, which sshrace never sent: {}",
                        message.kind,
                        quote(bytes)
                    );
                    self.violation(&mut state, ViolationKind::UnknownId, detail);
                }
            }
            return;
        };
        match waiter {
            Waiter::Command { host, reply } => {
                if message.kind != "reply" {
                    let detail = format!(
                        "a {} for {id}, a command (not a job): {}",
                        message.kind,
                        quote(bytes)
                    );
                    self.violation(&mut state, ViolationKind::WrongForm, detail);
                    state.pending.insert(id, Waiter::Command { host, reply });
                    return;
                }
                let result = match command_result(&message, &host) {
                    Ok(result) => result,
                    Err((kind, what)) => {
                        let detail = format!("reply to command {id} {what}: {}", quote(bytes));
                        self.violation(&mut state, kind, detail.clone());
                        Err(driver_error(format!("driver: {detail}")))
                    }
                };
                state.finished.insert(id, Finished::Answered);
                drop(state);
                let _ = reply.send(result);
            }
            Waiter::Job {
                events,
                done,
                reply,
            } => match message.kind.as_str() {
                "event" => {
                    match &message.text {
                        Some(text) => events.emit(text.clone()),
                        None => {
                            let detail =
                                format!("an event for {id} without text: {}", quote(bytes));
                            self.violation(&mut state, ViolationKind::Malformed, detail);
                        }
                    }
                    state.pending.insert(
                        id,
                        Waiter::Job {
                            events,
                            done,
                            reply,
                        },
                    );
                }
                "done" => {
                    if done {
                        let detail = format!("a second done for job {id}");
                        self.violation(&mut state, ViolationKind::Duplicate, detail);
                    } else {
                        events.done();
                    }
                    state.pending.insert(
                        id,
                        Waiter::Job {
                            events,
                            done: true,
                            reply,
                        },
                    );
                }
                _ => {
                    let report = match job_report(&message) {
                        Ok(report) => report,
                        Err((kind, what)) => {
                            let detail = format!("reply to job {id} {what}: {}", quote(bytes));
                            self.violation(&mut state, kind, detail);
                            JobReport {
                                success: false,
                                failure: Some(FailureClass::Transport(Cause::ClosedLocally)),
                            }
                        }
                    };
                    state.finished.insert(id, Finished::Answered);
                    drop(state);
                    let _ = reply.send(report);
                }
            },
        }
    }
}

type Shape<T> = Result<T, (ViolationKind, &'static str)>;

/// A command's reply: `error`, or `exit_status` with byte counts.
fn command_result(message: &FromProgram, host: &str) -> Shape<Result<ExecResult, TransportError>> {
    if let Some(error) = &message.error {
        return Ok(Err(reported_error(error, message.cause.as_deref(), host)));
    }
    match (message.exit_status, message.success) {
        (Some(exit_status), _) => Ok(Ok(ExecResult {
            exit_status,
            stdout_bytes: message.stdout_bytes.unwrap_or(0),
            stderr_bytes: message.stderr_bytes.unwrap_or(0),
        })),
        (None, Some(_)) => Err((
            ViolationKind::WrongForm,
            "is a job's reply (success, no exit_status or error)",
        )),
        (None, None) => Err((
            ViolationKind::Malformed,
            "has neither exit_status nor error",
        )),
    }
}

/// A job's reply: `success`, and when false, `error` or a non-zero `exit_status` says how.
fn job_report(message: &FromProgram) -> Shape<JobReport> {
    match message.success {
        Some(true) => Ok(JobReport {
            success: true,
            failure: None,
        }),
        Some(false) => {
            let failure = match (&message.error, message.exit_status) {
                (Some(error), _) => Some(FailureClass::Transport(
                    reported_error(error, message.cause.as_deref(), "a job host").cause,
                )),
                (None, Some(status)) if status != 0 => Some(FailureClass::RemoteExit(status)),
                _ => None,
            };
            Ok(JobReport {
                success: false,
                failure,
            })
        }
        None if message.exit_status.is_some() || message.error.is_some() => Err((
            ViolationKind::WrongForm,
            "is a command's reply (no success)",
        )),
        None => Err((ViolationKind::Malformed, "has no success")),
    }
}

/// Drops the request from the table if the caller stops waiting, and tells the program.
pub(crate) struct Abandon {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        let abandoned = {
            let mut state = self.shared.state.lock().expect("driver state lock");
            let abandoned = state.pending.remove(&self.id).is_some();
            if abandoned {
                state.finished.insert(self.id, Finished::Abandoned);
            }
            abandoned
        };
        if abandoned {
            self.shared.trace.record(
                TRACE_HOST,
                format!("no reply for {} before its deadline: cancel sent", self.id),
            );
            self.shared.send(&ToProgram::Cancel { id: self.id });
        }
    }
}
