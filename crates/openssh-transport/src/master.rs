//! The ControlMaster's lifecycle: start it and wait for its control socket, own the process
//! (and, under `ControlPersist`, the backgrounded master), publish how it ended, and run
//! `ssh -O <operation>` on it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sshrace_core::{Cause, ConnectOptions, Mark, Trace, TransportError};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::sync::{oneshot, watch};

use crate::args::{ceil_secs, common_args, control_args, master_args};
use crate::classify::{classify, tail, unknown};
use crate::program::SshProgram;
use crate::transport::ClientState;
use crate::{CLIENT_HOST, connection_span};

/// How a master process ended.
#[derive(Debug, Clone)]
pub(crate) struct MasterEnd {
    /// Why, as a session on it would report it.
    pub(crate) error: TransportError,
}

/// One ControlMaster process and what is known about it.
pub(crate) struct Master {
    pub(crate) id: u64,
    pub(crate) host: String,
    pub(crate) addr: SocketAddr,
    pub(crate) socket: PathBuf,
    pub(crate) args: Vec<String>,
    /// The `ssh` program (the transport's).
    pub(crate) program: Arc<SshProgram>,
    pub(crate) trace: Trace,
    /// Set when the master process has exited.
    pub(crate) end: watch::Sender<Option<MasterEnd>>,
    /// `close` was called (`-O exit`).
    pub(crate) closed_locally: AtomicBool,
    /// `drain` was called (`-O stop`).
    pub(crate) draining: AtomicBool,
    /// Session processes running on it.
    pub(crate) open: AtomicUsize,
    /// Its control socket appeared: connected and authenticated.
    pub(crate) ready: AtomicBool,
    /// Dropping (or sending on) this kills the master process.
    pub(crate) kill: Mutex<Option<oneshot::Sender<()>>>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// `ControlPersist`: OpenSSH then backgrounds the master after authentication (the `ssh`
    /// we started exits 0, the master's stderr goes to /dev/null) and the master exits by
    /// itself once idle that long. Its log goes to `log` (`ssh -E`) instead.
    pub(crate) persist: Option<Duration>,
    pub(crate) log: PathBuf,
    /// The backgrounded master's pid (from `ssh -O check`): unknown yet, none, or the pid.
    pub(crate) daemon: watch::Sender<Option<Option<i32>>>,
}

pub(crate) async fn start_master(
    shared: &ClientState,
    id: u64,
    host: &str,
    options: &ConnectOptions,
) -> Result<Arc<Master>, TransportError> {
    let addr = shared.book.get(host).ok_or_else(|| {
        TransportError::new(
            Cause::ConnectionRefused,
            format!("ssh: Could not resolve hostname {host}: Name or service not known"),
        )
    })?;
    let socket = shared.workdir.join(format!("c{id}.sock"));
    let _ = std::fs::remove_file(&socket);
    let args = common_args(&shared.key_file, addr, options);
    let log = shared.workdir.join(format!("c{id}.log"));
    if options.control_persist.is_some() {
        let _ = std::fs::remove_file(&log);
    }
    let mut command = shared.program.command();
    command
        .args(&args)
        .args(master_args(&socket, options.control_persist, &log, addr))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|error| {
        TransportError::new(
            Cause::ConnectionLost,
            format!("ssh: could not start the OpenSSH client: {error}"),
        )
    })?;
    let stderr_pipe = child.stderr.take().expect("stderr piped");
    let stderr = Arc::new(Mutex::new(String::new()));
    let (kill_tx, kill_rx) = oneshot::channel();
    let master = Arc::new(Master {
        id,
        host: host.to_owned(),
        addr,
        socket: socket.clone(),
        args,
        program: shared.program.clone(),
        trace: shared.trace.clone(),
        end: watch::Sender::new(None),
        closed_locally: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        open: AtomicUsize::new(0),
        ready: AtomicBool::new(false),
        kill: Mutex::new(Some(kill_tx)),
        shutdown: shared.shutdown.subscribe(),
        persist: options.control_persist,
        log,
        daemon: watch::Sender::new(None),
    });
    tokio::spawn(watch_master(
        master.clone(),
        child,
        stderr_pipe,
        stderr.clone(),
        kill_rx,
    ));
    // Ready when the control socket appears (OpenSSH creates it after authentication), failed
    // when the process exits first.
    let mut end = master.end.subscribe();
    loop {
        if socket.exists() {
            if master.persist.is_some() {
                // "Master running (pid=N)": the backgrounded master, to kill at the end.
                let (_, text) = master.control("check").await;
                let pid = text
                    .split_once("pid=")
                    .and_then(|(_, rest)| rest.split(')').next()?.trim().parse().ok());
                master.daemon.send_replace(Some(pid));
            }
            master.ready.store(true, Ordering::SeqCst);
            return Ok(master);
        }
        if let Some(ended) = end.borrow().clone() {
            return Err(ended.error);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = end.changed() => {}
        }
    }
}

/// Own the master process: collect its stderr, kill it when told (or at shutdown), and
/// publish how it ended.
async fn watch_master(
    master: Arc<Master>,
    mut child: Child,
    stderr_pipe: impl AsyncRead + Unpin + Send + 'static,
    stderr: Arc<Mutex<String>>,
    kill: oneshot::Receiver<()>,
) {
    let reader = tokio::spawn(collect(stderr_pipe, stderr.clone()));
    let mut shutdown = master.shutdown.clone();
    let mut kill = kill;
    let mut status: Option<ExitStatus> = tokio::select! {
        status = child.wait() => status.ok(),
        _ = &mut kill => {
            let _ = child.kill().await;
            None
        }
        _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
            let _ = child.kill().await;
            None
        }
    };
    let mut persisted_idle = false;
    if master.persist.is_some() && status.is_some_and(|s| s.success()) {
        // ControlPersist: the `ssh` we started left after authentication and the master lives
        // on in the background (its pid comes from `ssh -O check`) until it exits.
        let mut daemon = master.daemon.subscribe();
        let killed = tokio::select! {
            _ = async {
                let pid = daemon.wait_for(|d| d.is_some()).await.ok().and_then(|d| (*d).flatten());
                if let Some(pid) = pid {
                    process_gone(pid).await;
                }
            } => false,
            _ = &mut kill => true,
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => true,
        };
        let pid = (*master.daemon.borrow()).flatten();
        if killed && let Some(pid) = pid {
            // SAFETY: kill(2) on the pid `ssh -O check` reported for this run's own master.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            process_gone(pid).await;
        }
        status = None;
        persisted_idle = !killed && master.open.load(Ordering::SeqCst) == 0;
    }
    // The stderr pipe closes with the process (unless a grandchild holds it: bounded wait).
    let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
    let mut text = stderr.lock().expect("stderr lock").clone();
    if master.persist.is_some() {
        text.push_str(&std::fs::read_to_string(&master.log).unwrap_or_default());
    }
    let was_ready = master.ready.load(Ordering::SeqCst);
    let host = &master.host;
    let persist_note = master
        .persist
        .map(|p| format!("ControlPersist {}s idle", ceil_secs(p)));
    let error =
        if master.closed_locally.load(Ordering::SeqCst) || master.draining.load(Ordering::SeqCst) {
            TransportError::new(
                Cause::ClosedLocally,
                format!("ClientState connection to {host} closed."),
            )
        } else if persisted_idle && classify(&text, host).is_none() {
            // An idle master that exits quietly: ControlPersist ran out.
            TransportError::new(
                Cause::ClosedLocally,
                format!(
                    "Control master to {host} exited: {}",
                    persist_note.clone().unwrap_or_default()
                ),
            )
        } else {
            match classify(&text, host) {
                Some(error) => error,
                None if !was_ready && status.is_some_and(|s| s.code() == Some(255)) => {
                    unknown(&text, host)
                }
                None => TransportError::new(
                    Cause::ConnectionLost,
                    match status {
                        Some(status) => format!(
                            "Connection to {host} closed: master exited ({status}){}",
                            tail(&text)
                        ),
                        None => format!("Connection to {host} closed: master killed"),
                    },
                ),
            }
        };
    let _ = std::fs::remove_file(&master.socket);
    if was_ready {
        let what = if master.closed_locally.load(Ordering::SeqCst) {
            None // traced by close()
        } else if master.draining.load(Ordering::SeqCst) {
            Some(format!("c{}: closed (drained)", master.id))
        } else if error.cause == Cause::ClosedLocally {
            Some(format!(
                "c{}: closed ({})",
                master.id,
                persist_note.unwrap_or_default()
            ))
        } else {
            Some(format!("c{}: lost: {}", master.id, error.message))
        };
        if let Some(what) = what {
            master.trace.record_marked(
                CLIENT_HOST,
                what,
                vec![Mark::end(connection_span(master.id))],
            );
        }
    }
    master.end.send_replace(Some(MasterEnd { error }));
}

/// Wait until process `pid` (not our child: a backgrounded master) has exited: gone, or a
/// zombie its new parent has not reaped yet.
async fn process_gone(pid: i32) {
    let stat = format!("/proc/{pid}/stat");
    loop {
        match std::fs::read_to_string(&stat) {
            Err(_) => return,
            // "pid (comm) S ...": the state follows the last ')'.
            Ok(text)
                if text
                    .rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with(['Z', 'X'])) =>
            {
                return;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Append everything read from `pipe` to `into`.
async fn collect(mut pipe: impl AsyncRead + Unpin, into: Arc<Mutex<String>>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        into.lock()
            .expect("stderr lock")
            .push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

impl Master {
    pub(crate) fn ended(&self) -> Option<MasterEnd> {
        self.end.borrow().clone()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed_locally.load(Ordering::SeqCst) || self.ended().is_some()
    }

    pub(crate) fn kill(&self) {
        if let Some(kill) = self.kill.lock().expect("kill lock").take() {
            let _ = kill.send(());
        }
    }

    /// Run `ssh -S <socket> -O <operation>`: exit status and stderr.
    pub(crate) async fn control(&self, operation: &str) -> (Option<i32>, String) {
        let output = self
            .program
            .command()
            .args(&self.args)
            .args(control_args(&self.socket, operation, self.addr))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
        match output {
            Ok(output) => (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ),
            Err(error) => (None, error.to_string()),
        }
    }

    /// Wait until the master process has exited, at most `limit`.
    pub(crate) async fn wait_end(&self, limit: Duration) -> bool {
        let mut end = self.end.subscribe();
        tokio::time::timeout(limit, end.wait_for(|e| e.is_some()))
            .await
            .is_ok()
    }
}
