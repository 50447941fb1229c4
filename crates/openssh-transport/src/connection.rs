//! A ControlMaster as a [`Connection`], and a session as one `ssh -S <socket>` process.

use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use sshrace_core::{Cause, Connection, Mark, Session, SessionEvent, TransportError};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use crate::args::session_args;
use crate::classify::{StderrFilter, classify, unknown};
use crate::master::Master;
use crate::{CLIENT_HOST, connection_span};

/// How long a session that exited 255 without a message waits for its master's end to be
/// known, to take its cause from it.
const MASTER_END_GRACE: Duration = Duration::from_millis(500);

/// How long `close` waits for a master to exit after `-O exit` before killing it.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// A ControlMaster as a [`Connection`].
pub(crate) struct OpenSshConnection {
    pub(crate) master: Arc<Master>,
}

impl OpenSshConnection {
    fn closed_error(&self) -> TransportError {
        let master = &self.master;
        let why = match master.ended() {
            Some(end) => end.error.message,
            None => format!("ClientState connection to {} closed.", master.host),
        };
        TransportError::new(
            Cause::ConnectionClosed,
            format!(
                "connection c{} to {} is closed: {why}",
                master.id, master.host
            ),
        )
    }
}

#[async_trait]
impl Connection for OpenSshConnection {
    fn id(&self) -> u64 {
        self.master.id
    }

    fn host(&self) -> &str {
        &self.master.host
    }

    async fn exec(&self, command: &str) -> Result<Box<dyn Session>, TransportError> {
        let master = &self.master;
        if master.is_closed() {
            return Err(self.closed_error());
        }
        if master.draining.load(Ordering::SeqCst) {
            return Err(TransportError::new(
                Cause::ConnectionClosed,
                format!("connection c{} to {} is draining", master.id, master.host),
            ));
        }
        let mut child = master
            .program
            .command()
            .args(&master.args)
            .args(session_args(&master.socket, master.addr, command))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                TransportError::new(
                    Cause::ConnectionLost,
                    format!("ssh: could not start the OpenSSH client: {error}"),
                )
            })?;
        master.open.fetch_add(1, Ordering::SeqCst);
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let (status_tx, status_rx) = oneshot::channel();
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let mut shutdown = master.shutdown.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.ok(),
                _ = kill_rx => {
                    let _ = child.kill().await;
                    None
                }
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                    let _ = child.kill().await;
                    None
                }
            };
            let _ = status_tx.send(status);
        });
        Ok(Box::new(OpenSshSession {
            master: master.clone(),
            stdout: Some(stdout),
            stderr: Some(stderr),
            filter: StderrFilter::default(),
            status: Some(status_rx),
            _kill: kill_tx,
            finished: false,
        }))
    }

    fn is_closed(&self) -> bool {
        self.master.is_closed()
    }

    async fn check(&self) -> Result<(), TransportError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        match self.master.control("check").await {
            (Some(0), _) => Ok(()),
            (_, stderr) => Err(TransportError::new(
                Cause::ConnectionClosed,
                stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("ssh -O check failed")
                    .trim()
                    .to_owned(),
            )),
        }
    }

    async fn close(&self) {
        let master = &self.master;
        if master.closed_locally.swap(true, Ordering::SeqCst) {
            return;
        }
        if master.ended().is_none() {
            master.trace.record_marked(
                CLIENT_HOST,
                format!("c{}: closed (exit)", master.id),
                vec![Mark::end(connection_span(master.id))],
            );
            master.control("exit").await;
        }
        if !master.wait_end(EXIT_GRACE).await {
            master.kill();
            master.wait_end(EXIT_GRACE).await;
        }
    }

    async fn drain(&self) {
        let master = &self.master;
        if master.draining.swap(true, Ordering::SeqCst) || master.is_closed() {
            return;
        }
        master.trace.record(
            CLIENT_HOST,
            format!(
                "c{}: draining ({} sessions open)",
                master.id,
                master.open.load(Ordering::SeqCst)
            ),
        );
        master.control("stop").await;
    }

    fn open_sessions(&self) -> usize {
        self.master.open.load(Ordering::SeqCst)
    }
}

/// A remote command run by one `ssh` client process.
struct OpenSshSession {
    master: Arc<Master>,
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
    filter: StderrFilter,
    status: Option<oneshot::Receiver<Option<ExitStatus>>>,
    /// Dropping it kills the `ssh` process (an abandoned session).
    _kill: oneshot::Sender<()>,
    finished: bool,
}

impl OpenSshSession {
    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.master.open.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The error for an exit 255.
    async fn failure(&self) -> TransportError {
        let master = &self.master;
        if let Some(error) = classify(&self.filter.diagnostics, &master.host) {
            if error.cause == Cause::ConnectionLost && master.closed_locally.load(Ordering::SeqCst)
            {
                return TransportError::new(
                    Cause::ClosedLocally,
                    format!("ClientState connection to {} closed.", master.host),
                );
            }
            return error;
        }
        // Nothing printed: a mux session whose master went away. Its end says why.
        if master.closed_locally.load(Ordering::SeqCst) {
            return TransportError::new(
                Cause::ClosedLocally,
                format!("ClientState connection to {} closed.", master.host),
            );
        }
        if master.wait_end(MASTER_END_GRACE).await
            && let Some(end) = master.ended()
        {
            return end.error;
        }
        unknown(&self.filter.diagnostics, &master.host)
    }
}

#[async_trait]
impl Session for OpenSshSession {
    async fn next(&mut self) -> Option<Result<SessionEvent, TransportError>> {
        if self.finished {
            return None;
        }
        let mut out = [0u8; 16 * 1024];
        let mut err = [0u8; 16 * 1024];
        loop {
            if self.stdout.is_none() && self.stderr.is_none() {
                break;
            }
            tokio::select! {
                read = async { self.stdout.as_mut().expect("guarded").read(&mut out).await }, if self.stdout.is_some() => {
                    match read {
                        Ok(n) if n > 0 => return Some(Ok(SessionEvent::Stdout(n as u64))),
                        _ => self.stdout = None,
                    }
                }
                read = async { self.stderr.as_mut().expect("guarded").read(&mut err).await }, if self.stderr.is_some() => {
                    match read {
                        Ok(n) if n > 0 => {
                            let remote = self.filter.feed(&err[..n]);
                            if remote > 0 {
                                return Some(Ok(SessionEvent::Stderr(remote)));
                            }
                        }
                        _ => {
                            self.stderr = None;
                            let remote = self.filter.finish();
                            if remote > 0 {
                                return Some(Ok(SessionEvent::Stderr(remote)));
                            }
                        }
                    }
                }
            }
        }
        let status = match self.status.take() {
            Some(status) => status.await.ok().flatten(),
            None => None,
        };
        let event = match status.and_then(|s| s.code()) {
            Some(255) | None => Err(self.failure().await),
            Some(code) => Ok(SessionEvent::Exit(code as u32)),
        };
        self.finish();
        Some(event)
    }
}

impl Drop for OpenSshSession {
    fn drop(&mut self) {
        // An abandoned session: dropping `_kill` kills its ssh process.
        self.finish();
    }
}
