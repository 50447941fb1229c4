//! A running user program: spawn, send requests and wait for their replies, shut down.

use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sshrace_core::{Cause, ExecResult, FailureClass, Trace, TransportError, WorkspaceStatus};
use sshrace_strategy::{EventSink, JobReport, MasterCommand};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::diagnostics::ProgramDiagnostics;
use crate::error::{DriverError, driver_error};
use crate::name::display_name;
use crate::pipes::{EXIT_GRACE, read_stderr, read_stdout, wait_exit, write_stdin};
use crate::protocol::{
    HelloTarget, JobRequest, OpRequest, PROTOCOL_VERSION, TargetInfo, ToProgram,
};
use crate::routing::{Outgoing, Shared, TRACE_HOST, Waiter};

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
