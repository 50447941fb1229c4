//! A running user program: spawn, route replies to waiting operations, shut down.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sshrace_core::{Cause, ExecResult, FailureClass, Mark, Trace, TransportError, WorkspaceStatus};
use sshrace_strategy::{EventSink, JobReport, MasterCommand};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::lines::{Line, read_line};
use crate::protocol::{
    FromProgram, HelloTarget, JobRequest, OpRequest, PROTOCOL_VERSION, TargetInfo, ToProgram,
};

/// The host name the driver's trace events carry.
const TRACE_HOST: &str = "driver";
/// The track its violations are drawn on.
const TRACE_TRACK: &str = "driver";
/// Violations kept word for word (in the trace and the diagnostics); the rest are counted.
const KEPT_VIOLATIONS: usize = 100;
/// How much of an offending line a violation quotes.
const QUOTED: usize = 200;
/// How long, once the program closed stdout or was killed, to wait for its exit status and the
/// end of its pipes (a loaded machine may take a while to reap it; a process outside its group
/// may hold a pipe open for ever).
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// How a program is run: the bounds it runs within, and the run's time scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Longest line read from the program's stdout or stderr; a longer one is skipped (on
    /// stdout, a violation).
    pub max_line: usize,
    /// Requests in flight at once; one more fails at once.
    pub max_outstanding: usize,
    /// How long `shutdown` waits for the program to exit by itself before it kills it.
    pub shutdown_wait: Duration,
    /// Lines of stderr kept for diagnostics.
    pub stderr_lines: usize,
    /// Real seconds per scenario second (`1/60` on a container run compressed 60 times), sent
    /// in `hello`: a program with durations of its own (a max age, a keepalive) scales them.
    pub time_scale: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_line: 64 * 1024,
            max_outstanding: 4096,
            shutdown_wait: Duration::from_secs(2),
            stderr_lines: 40,
            time_scale: 1.0,
        }
    }
}

/// Why a program could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// `sh -c COMMAND` could not be spawned.
    #[error("could not start the driver program `{command}`: {source}")]
    Spawn {
        /// The program's command line.
        command: String,
        /// What spawning reported.
        #[source]
        source: std::io::Error,
    },
}

/// What kind of protocol violation a program committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A line that is not a protocol message (not JSON, no `type`, no `id`, a wrong field).
    Malformed,
    /// A line over [`Options::max_line`], skipped.
    LineTooLong,
    /// A message for an id sshrace never sent.
    UnknownId,
    /// A second reply (or `done`, or an event after the reply) for an id already answered.
    Duplicate,
    /// A message of the other form: an event or `done` for a command, a job's reply
    /// (`success`) to a command, a command's reply to a job.
    WrongForm,
}

impl ViolationKind {
    /// A stable name for reports (`unknown-id`).
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::Malformed => "malformed",
            ViolationKind::LineTooLong => "line-too-long",
            ViolationKind::UnknownId => "unknown-id",
            ViolationKind::Duplicate => "duplicate",
            ViolationKind::WrongForm => "wrong-form",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One protocol violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What kind.
    pub kind: ViolationKind,
    /// What happened, quoting the line (shortened).
    pub detail: String,
}

/// What a program left behind, for the run's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramDiagnostics {
    /// The first violations, word for word.
    pub violations: Vec<Violation>,
    /// Every violation, counted (`violations` keeps the first 100).
    pub violation_count: usize,
    /// Replies and events that came after sshrace stopped waiting for their operation (its
    /// deadline passed): not violations, but nobody read them.
    pub late_messages: usize,
    /// How the program ended (`exit status: 0`, `signal: 9 (SIGKILL)`), if it did.
    pub exit: Option<String>,
    /// Whether it was still running after the shutdown wait and was killed.
    pub killed: bool,
    /// The last lines of its stderr.
    pub stderr_tail: String,
}

impl ProgramDiagnostics {
    /// The number of violations of `kind` among the kept ones.
    pub fn count(&self, kind: ViolationKind) -> usize {
        self.violations.iter().filter(|v| v.kind == kind).count()
    }
}

enum Waiter {
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
struct State {
    pending: HashMap<u64, Waiter>,
    finished: HashMap<u64, Finished>,
    /// Why new requests fail at once (the program is gone or shutting down).
    refuse: Option<String>,
    violations: Vec<Violation>,
    violation_count: usize,
    late_messages: usize,
}

enum Outgoing {
    Line(String),
    Close,
}

struct Shared {
    state: Mutex<State>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    trace: Trace,
    options: Options,
    stderr_tail: Mutex<VecDeque<String>>,
    /// `shutdown` was sent.
    shutting_down: AtomicBool,
    /// The program's stderr reached its end (so its last words are in `stderr_tail`).
    stderr_closed: watch::Sender<bool>,
}

/// A driver-side failure (the program died, answered nonsense, too many requests): the
/// client side of the operation is gone, so [`Cause::ClosedLocally`].
fn driver_error(message: impl Into<String>) -> TransportError {
    TransportError::new(Cause::ClosedLocally, message)
}

/// The [`Cause`] named `name` (`channel-refused`), as [`Cause::name`] spells it.
pub fn cause_named(name: &str) -> Option<Cause> {
    Cause::ALL.into_iter().find(|cause| cause.name() == name)
}

/// An error the program reported, with the cause it named if any (`cause`, a [`Cause::name`]):
/// without one, `ssh`'s own words are classified as the OpenSSH transport classifies them, and
/// anything else is a lost connection that keeps the text (as the OpenSSH transport does with
/// exit-255 text no rule knows). An unknown cause name counts as none.
pub fn reported_error(text: &str, cause: Option<&str>, host: &str) -> TransportError {
    match cause.and_then(cause_named) {
        Some(cause) => TransportError::new(cause, text.trim()),
        None => classify_error(text, host),
    }
}

/// An error the program reported without a cause: `ssh`'s own words are classified as the
/// OpenSSH transport classifies them; anything else is a lost connection that keeps the text
/// (as the OpenSSH transport does with exit-255 text no rule knows).
pub fn classify_error(text: &str, host: &str) -> TransportError {
    sshrace_openssh::classify(text, host).unwrap_or_else(|| {
        let text = text.trim();
        TransportError::new(
            Cause::ConnectionLost,
            if text.is_empty() {
                format!("the driver reported an empty error for {host}")
            } else {
                format!("the driver reported for {host}: {text}")
            },
        )
    })
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
    fn send(&self, message: &ToProgram) {
        let _ = self.outgoing.send(Outgoing::Line(message.line()));
    }

    fn violation(&self, state: &mut State, kind: ViolationKind, detail: String) {
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
    fn register(
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
    fn fail_all(&self, reason: &str) {
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
    fn handle_line(&self, bytes: &[u8]) {
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
struct Abandon {
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

/// A running user program speaking the driver protocol.
///
/// Its methods take `&self` and may be called from many tasks at once; replies are routed to
/// their callers by id. Every way a program can misbehave ends an operation: a dead program
/// fails what is in flight at once, a wrong reply fails its operation, and a silent one leaves
/// the operation to its caller's deadline. Dropping a `Program` kills its process group.
pub struct Program {
    shared: Arc<Shared>,
    name: String,
    pid: Option<u32>,
    exit: watch::Receiver<Option<String>>,
    tasks: Mutex<Tasks>,
    shut: AtomicBool,
    diagnostics: tokio::sync::Mutex<Option<ProgramDiagnostics>>,
}

#[derive(Default)]
struct Tasks {
    reader: Option<JoinHandle<()>>,
    others: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .finish()
    }
}

impl Program {
    /// Start `command` with `sh -c`, in its own process group, and send it `hello` with
    /// `targets`. `workdir` is the program's scratch folder (sent in `hello` and as
    /// `SSHRACE_WORKDIR`; the caller creates and removes it); the program runs in the current
    /// directory, so a relative command line works. Violations go to `trace`.
    pub async fn start(
        command: &str,
        workdir: &Path,
        targets: &[TargetInfo],
        trace: Trace,
    ) -> Result<Program, DriverError> {
        Self::start_with(command, workdir, targets, trace, Options::default()).await
    }

    /// [`Program::start`] with other [`Options`] (bounds, time scale).
    pub async fn start_with(
        command: &str,
        workdir: &Path,
        targets: &[TargetInfo],
        trace: Trace,
        options: Options,
    ) -> Result<Program, DriverError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("SSHRACE_DRIVER_PROTOCOL", PROTOCOL_VERSION.to_string())
            .env("SSHRACE_WORKDIR", workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| DriverError::Spawn {
                command: command.to_owned(),
                source,
            })?;
        let pid = child.id();
        if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
            LIVE.lock().expect("live programs lock").insert(pid);
        }
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            outgoing,
            trace: trace.clone(),
            options: options.clone(),
            stderr_tail: Mutex::default(),
            shutting_down: AtomicBool::new(false),
            stderr_closed: watch::Sender::new(false),
        });
        let name = display_name(command);
        trace.record(TRACE_HOST, format!("program {name} started"));
        shared.send(&ToProgram::Hello {
            protocol: PROTOCOL_VERSION,
            workdir: workdir.to_string_lossy().into_owned(),
            time_scale: options.time_scale,
            targets: targets.iter().map(HelloTarget::from).collect(),
        });
        let (exit_tx, exit) = watch::channel(None);
        let monitor = tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(status) => status.to_string(),
                Err(error) => format!("unknown status ({error})"),
            };
            let _ = exit_tx.send(Some(status));
        });
        let writer = tokio::spawn(write_stdin(stdin, outgoing_rx));
        let stderr_task = tokio::spawn(read_stderr(shared.clone(), stderr));
        let reader = tokio::spawn(read_stdout(shared.clone(), stdout, exit.clone()));
        Ok(Program {
            shared,
            name,
            pid,
            exit,
            tasks: Mutex::new(Tasks {
                reader: Some(reader),
                others: vec![monitor, writer, stderr_task],
            }),
            shut: AtomicBool::new(false),
            diagnostics: tokio::sync::Mutex::new(None),
        })
    }

    /// The name for the strategy column ([`display_name`] of the command).
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Run one command through the program and wait for its reply. `Err` when the program
    /// reported an error (classified as `ssh` stderr where it is), answered in a wrong shape,
    /// died, or refused the request at once (id in flight, too many in flight, shut down).
    /// A program that never answers leaves this waiting: the caller bounds it with the
    /// operation's deadline, and dropping the future sends `cancel`.
    pub async fn run(&self, request: OpRequest) -> Result<ExecResult, TransportError> {
        let (reply, answer) = oneshot::channel();
        let waiter = Waiter::Command {
            host: request.host.clone(),
            reply,
        };
        let _abandon = self
            .shared
            .register(request.id, waiter, ToProgram::run(&request))?;
        answer
            .await
            .unwrap_or_else(|_| Err(driver_error("driver: the request was dropped")))
    }

    /// Run a job through the program: its events go to `events` (those after its `done` are
    /// lost, as [`EventSink`] counts them), its reply becomes the report. A program that dies or
    /// answers in a wrong shape fails the job ([`Cause::ClosedLocally`]).
    pub async fn job(&self, request: JobRequest, events: &EventSink) -> JobReport {
        let (reply, answer) = oneshot::channel();
        let waiter = Waiter::Job {
            events: events.clone(),
            done: false,
            reply,
        };
        let failed = |cause| JobReport {
            success: false,
            failure: Some(FailureClass::Transport(cause)),
        };
        let _abandon = match self
            .shared
            .register(request.id, waiter, ToProgram::job(&request))
        {
            Ok(abandon) => abandon,
            Err(error) => return failed(error.cause),
        };
        answer
            .await
            .unwrap_or_else(|_| failed(Cause::ClosedLocally))
    }

    /// Tell the program of a control-plane change for `host`.
    pub async fn control(&self, host: &str, status: &WorkspaceStatus) {
        self.shared.send(&ToProgram::control(host, status));
    }

    /// Tell the program that the timeline refreshes `host` now (a moment its connections to it
    /// are recycled, as when a max age is reached).
    pub async fn refresh(&self, host: &str) {
        self.shared.send(&ToProgram::Refresh {
            host: host.to_owned(),
        });
    }

    /// Tell the program that another process sent `ssh -O exit` or `-O stop` to its master for
    /// `host`.
    pub async fn master(&self, host: &str, command: MasterCommand) {
        self.shared.send(&ToProgram::Master {
            host: host.to_owned(),
            command: match command {
                MasterCommand::Exit => "exit",
                MasterCommand::Stop => "stop",
            },
        });
    }

    /// Send `shutdown`, close its stdin, wait up to [`Options::shutdown_wait`] for it to exit,
    /// then kill its process group (whatever it left running) and fail what is still in
    /// flight. Returns the violations and the stderr tail; a second call returns the same.
    pub async fn shutdown(&self) -> ProgramDiagnostics {
        let mut kept = self.diagnostics.lock().await;
        if let Some(diagnostics) = &*kept {
            return diagnostics.clone();
        }
        self.shared
            .state
            .lock()
            .expect("driver state lock")
            .refuse
            .get_or_insert_with(|| "driver: the program was shut down".to_owned());
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        self.shared.send(&ToProgram::Shutdown);
        let _ = self.shared.outgoing.send(Outgoing::Close);
        let exited = wait_exit(&self.exit, self.shared.options.shutdown_wait).await;
        self.shut.store(true, Ordering::SeqCst);
        self.kill_group();
        let killed = exited.is_none();
        // One grace period for everything left: reaping, and the tasks reaching their ends.
        let deadline = tokio::time::Instant::now() + EXIT_GRACE;
        let exit = match exited {
            Some(status) => Some(status),
            None => wait_exit(&self.exit, EXIT_GRACE).await,
        };
        let (reader, others) = {
            let mut tasks = self.tasks.lock().expect("driver tasks lock");
            (tasks.reader.take(), std::mem::take(&mut tasks.others))
        };
        // The reader first (replies already written still count), then the writer, the stderr
        // reader and the exit monitor. A process outside the group (a daemonised ssh master)
        // may hold a pipe open: such a task is aborted at the deadline.
        for mut task in reader.into_iter().chain(others) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
        self.shared
            .fail_all("driver: the program was shut down before it replied");
        self.shared.trace.record(
            TRACE_HOST,
            format!(
                "program {} ended: {}{}",
                self.name,
                exit.as_deref().unwrap_or("no exit status"),
                if killed {
                    " (killed after the shutdown wait)"
                } else {
                    ""
                }
            ),
        );
        let state = self.shared.state.lock().expect("driver state lock");
        let stderr_tail = {
            let tail = self.shared.stderr_tail.lock().expect("stderr lock");
            tail.iter().map(|l| format!("{l}\n")).collect()
        };
        let diagnostics = ProgramDiagnostics {
            violations: state.violations.clone(),
            violation_count: state.violation_count,
            late_messages: state.late_messages,
            exit,
            killed,
            stderr_tail,
        };
        *kept = Some(diagnostics.clone());
        diagnostics
    }

    fn kill_group(&self) {
        if let Some(pid) = self.pid.and_then(|pid| i32::try_from(pid).ok()) {
            LIVE.lock().expect("live programs lock").remove(&pid);
            kill_group(pid);
        }
    }
}

/// The process groups of the programs this process started and has not killed yet.
static LIVE: std::sync::Mutex<std::collections::BTreeSet<i32>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn kill_group(pid: i32) {
    // SAFETY: kill(2) on the process group a program was started in (its own, by
    // `process_group(0)`); no memory is touched.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// Kill every program this process started and has not shut down yet, with whatever they
/// started in their process groups: for a command stopping on a signal, which exits without
/// running the programs' destructors. Returns how many there were.
pub fn kill_all() -> usize {
    let live = std::mem::take(&mut *LIVE.lock().expect("live programs lock"));
    for pid in &live {
        kill_group(*pid);
    }
    live.len()
}

impl Drop for Program {
    fn drop(&mut self) {
        if !self.shut.swap(true, Ordering::SeqCst) {
            self.kill_group();
        }
        if let Ok(mut tasks) = self.tasks.lock() {
            if let Some(reader) = tasks.reader.take() {
                reader.abort();
            }
            for task in tasks.others.drain(..) {
                task.abort();
            }
        }
    }
}

/// The strategy column's name for a command line: its words after any leading environment
/// assignments (`NAME=value`), each without its directories, at most 40 characters
/// (`python3 examples/drivers/python/fresh.py` is `python3 fresh.py`).
pub fn display_name(command: &str) -> String {
    let is_assignment = |word: &&str| {
        word.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        })
    };
    let name = command
        .split_whitespace()
        .skip_while(is_assignment)
        .map(|word| {
            word.rsplit('/')
                .find(|part| !part.is_empty())
                .unwrap_or(word)
        })
        .collect::<Vec<_>>()
        .join(" ");
    if name.chars().count() > 40 {
        let cut: String = name.chars().take(39).collect();
        format!("{cut}…")
    } else if name.is_empty() {
        "driver".to_owned()
    } else {
        name
    }
}

async fn wait_exit(exit: &watch::Receiver<Option<String>>, bound: Duration) -> Option<String> {
    let mut exit = exit.clone();
    match tokio::time::timeout(bound, exit.wait_for(Option::is_some)).await {
        Ok(Ok(status)) => status.clone(),
        _ => None,
    }
}

async fn write_stdin(mut stdin: ChildStdin, mut outgoing: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(Outgoing::Line(line)) = outgoing.recv().await {
        if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
    // Dropping stdin closes it: end of input for the program.
}

async fn read_stdout(
    shared: Arc<Shared>,
    stdout: ChildStdout,
    exit: watch::Receiver<Option<String>>,
) {
    let max = shared.options.max_line;
    let mut reader = BufReader::new(stdout);
    loop {
        match read_line(&mut reader, max).await {
            Ok(Some(Line::Text(bytes))) => shared.handle_line(&bytes),
            Ok(Some(Line::TooLong(length))) => {
                let mut state = shared.state.lock().expect("driver state lock");
                let detail =
                    format!("a line of {length} bytes, over the {max}-byte bound, skipped");
                shared.violation(&mut state, ViolationKind::LineTooLong, detail);
            }
            Ok(None) => break,
            Err(error) => {
                tracing::warn!("reading the driver program's stdout: {error}");
                break;
            }
        }
    }
    let deadline = tokio::time::Instant::now() + EXIT_GRACE;
    let status = wait_exit(&exit, EXIT_GRACE).await;
    // Its last words explain the exit: read them first (bounded: a child of the program may
    // hold stderr open).
    let mut stderr_closed = shared.stderr_closed.subscribe();
    let _ = tokio::time::timeout_at(deadline, stderr_closed.wait_for(|closed| *closed)).await;
    let last_words = shared
        .stderr_tail
        .lock()
        .expect("stderr lock")
        .back()
        .map(|line| format!("; its stderr ends: {line}"))
        .unwrap_or_default();
    let reason = match status {
        _ if shared.shutting_down.load(Ordering::SeqCst) => format!(
            "driver: the program was shut down before it replied ({})",
            status.as_deref().unwrap_or("still running")
        ),
        Some(status) => {
            format!("driver: the program exited ({status}) before it replied{last_words}")
        }
        None => format!("driver: the program closed its stdout before it replied{last_words}"),
    };
    shared.fail_all(&reason);
}

async fn read_stderr(shared: Arc<Shared>, stderr: ChildStderr) {
    let mut reader = BufReader::new(stderr);
    loop {
        let text = match read_line(&mut reader, shared.options.max_line).await {
            Ok(Some(Line::Text(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(Some(Line::TooLong(length))) => format!("[a line of {length} bytes]"),
            Ok(None) | Err(_) => break,
        };
        tracing::debug!(target: "sshrace_driver::stderr", "{text}");
        let mut tail = shared.stderr_tail.lock().expect("stderr lock");
        if tail.len() >= shared.options.stderr_lines.max(1) {
            tail.pop_front();
        }
        tail.push_back(text);
    }
    shared.stderr_closed.send_replace(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_drop_directories_and_stay_short() {
        assert_eq!(display_name("examples/drivers/mux-age.sh"), "mux-age.sh");
        assert_eq!(
            display_name("python3 examples/drivers/python/fresh.py"),
            "python3 fresh.py"
        );
        assert_eq!(
            display_name("MUX_RECYCLE=stop examples/drivers/mux-age.sh stop"),
            "mux-age.sh stop"
        );
        assert_eq!(display_name("python3 run.py --x=/a/b"), "python3 run.py b");
        assert_eq!(display_name("  "), "driver");
        assert_eq!(display_name(&"x".repeat(50)).chars().count(), 40);
    }

    #[test]
    fn errors_in_ssh_words_keep_their_cause() {
        let lost = classify_error("Connection to 127.0.0.1 closed by remote host.\r\n", "t");
        assert_eq!(lost.cause, Cause::ConnectionLost);
        let refused = classify_error("channel 0: open failed: connect failed: open failed", "t");
        assert_eq!(refused.cause, Cause::ChannelRefused);
        let banner = classify_error(
            "kex_exchange_identification: Connection closed by remote host",
            "t",
        );
        assert_eq!(banner.cause, Cause::ClosedBeforeBanner);
        let named = reported_error(
            "ChannelOpenError: SSH connection closed",
            Some("connection-closed"),
            "t",
        );
        assert_eq!(named.cause, Cause::ConnectionClosed);
        assert_eq!(named.message, "ChannelOpenError: SSH connection closed");
        let unnamed = reported_error("open failed", Some("no-such-cause"), "t");
        assert_eq!(unnamed.cause, Cause::ChannelRefused);
        let other = classify_error("ValueError: something odd", "t");
        assert_eq!(other.cause, Cause::ConnectionLost);
        assert!(other.message.contains("something odd"), "{}", other.message);
    }
}
