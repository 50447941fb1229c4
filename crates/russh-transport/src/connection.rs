use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use russh::client;
use sshrace_core::{Cause, Connection, Mark, Session, Trace, TransportError};
use tokio::sync::watch;

use crate::session::RusshSession;
use crate::transport::{ClientHandler, connection_span};

/// Why a connection ended, set once, observable by its sessions.
#[derive(Clone)]
pub(crate) struct Status {
    cause: Arc<watch::Sender<Option<Cause>>>,
}

impl Status {
    pub(crate) fn new() -> Self {
        Self {
            cause: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Record the end of the connection; the first cause wins. Returns whether this call set it.
    pub(crate) fn set(&self, cause: Cause) -> bool {
        self.cause.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(cause);
                true
            } else {
                false
            }
        })
    }

    pub(crate) fn get(&self) -> Option<Cause> {
        *self.cause.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<Cause>> {
        self.cause.subscribe()
    }

    /// The error an OpenSSH client prints when a session dies because of this end.
    pub(crate) fn error(&self, host: &str) -> TransportError {
        match self.get() {
            Some(Cause::KeepaliveTimeout) => TransportError::new(
                Cause::KeepaliveTimeout,
                format!("Timeout, server {host} not responding."),
            ),
            Some(Cause::ClosedLocally) => TransportError::new(
                Cause::ClosedLocally,
                format!("Shared connection to {host} closed."),
            ),
            _ => TransportError::new(
                Cause::ConnectionLost,
                format!("Connection to {host} closed by remote host."),
            ),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) host: String,
    pub(crate) client_host: String,
    pub(crate) handle: client::Handle<ClientHandler>,
    pub(crate) status: Status,
    pub(crate) draining: AtomicBool,
    pub(crate) open: AtomicUsize,
    pub(crate) trace: Trace,
    /// `ControlPersist`, if set.
    persist: Option<Duration>,
    /// Sessions requested so far: a persist timer that sees it change was cancelled.
    uses: AtomicU64,
    /// ControlPersist ran out and the master is exiting.
    exiting: AtomicBool,
    /// When it was established: the origin of its whole-second ControlPersist clock.
    started: tokio::time::Instant,
}

/// How long an OpenSSH master takes, once ControlPersist runs out, to close its control
/// socket's listener: a mux client arriving meanwhile (a session, or `ssh -O check`) has its
/// hello reset and exits 255 (`mux_client_hello_exchange: ... Broken pipe`); one arriving after
/// finds no listener and no socket. Measured on OpenSSH 9.2p1 with `strace -f -ttt` on a
/// `ControlPersist=2` master: the idle `poll` times out, 0.28 ms later `close` of the
/// listening socket, 0.7 ms later `unlink` of the socket (docs/docker-matrix.md). Real time on
/// every backend: compressing a scenario does not make OpenSSH exit faster. Shorter than any
/// scenario's tick, so the simulation resolves it as "the step the master decides to exit in".
const MASTER_EXIT: Duration = Duration::from_micros(300);

impl Inner {
    pub(crate) async fn close(&self, why: &str) {
        if self.status.set(Cause::ClosedLocally) {
            self.trace.record_marked(
                &self.client_host,
                format!("c{}: closed ({why})", self.id),
                vec![Mark::end(connection_span(self.id))],
            );
        }
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    /// A session on this connection ended; a draining connection closes with its last one, an
    /// idle master with ControlPersist starts counting down.
    pub(crate) fn session_finished(self: &Arc<Self>) {
        let left = self.open.fetch_sub(1, Ordering::SeqCst) - 1;
        if left == 0 && self.draining.load(Ordering::SeqCst) {
            let inner = self.clone();
            tokio::spawn(async move { inner.close("drained").await });
        } else if left == 0 {
            self.arm_persist();
        }
    }

    /// ControlPersist, as the OpenSSH master keeps it: `persist` after it became idle, unless a
    /// session was requested meanwhile, the master exits, refusing clients while it does.
    /// OpenSSH schedules the exit at `monotime() + ControlPersist` with `monotime()` in whole
    /// seconds, so it comes up to a second early: here the master's seconds count from when
    /// it was established.
    fn arm_persist(self: &Arc<Self>) {
        let Some(persist) = self.persist else {
            return;
        };
        let uses = self.uses.load(Ordering::SeqCst);
        let idle = tokio::time::Instant::now().duration_since(self.started);
        let exit_at = self.started + Duration::from_secs(idle.as_secs()) + persist;
        let inner = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(exit_at).await;
            if inner.uses.load(Ordering::SeqCst) != uses
                || inner.open.load(Ordering::SeqCst) > 0
                || inner.status.get().is_some()
            {
                return;
            }
            let why = format!("ControlPersist {}s idle", persist.as_secs());
            inner.trace.record(
                &inner.client_host,
                format!("c{}: {why}: master exits", inner.id),
            );
            inner.exiting.store(true, Ordering::SeqCst);
            tokio::time::sleep(MASTER_EXIT).await;
            inner.close(&why).await;
        });
    }
}

/// What a mux client (a session, or `ssh -O check`) gets from a master that is exiting.
fn broken_pipe() -> TransportError {
    TransportError::new(
        Cause::ConnectionClosed,
        "mux_client_hello_exchange: write packet: Broken pipe",
    )
}

/// A russh client connection.
pub(crate) struct RusshConnection {
    inner: Arc<Inner>,
}

impl RusshConnection {
    pub(crate) fn new(
        id: u64,
        host: &str,
        client_host: &str,
        handle: client::Handle<ClientHandler>,
        status: Status,
        trace: Trace,
        persist: Option<Duration>,
    ) -> Self {
        let inner = Arc::new(Inner {
            id,
            host: host.to_owned(),
            client_host: client_host.to_owned(),
            handle,
            status,
            draining: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            trace,
            persist,
            uses: AtomicU64::new(0),
            exiting: AtomicBool::new(false),
            started: tokio::time::Instant::now(),
        });
        inner.arm_persist();
        Self { inner }
    }

    fn closed_error(&self) -> TransportError {
        TransportError::new(
            Cause::ConnectionClosed,
            format!(
                "connection c{} to {} is closed: {}",
                self.inner.id,
                self.inner.host,
                self.inner.status.error(&self.inner.host).message
            ),
        )
    }
}

#[async_trait]
impl Connection for RusshConnection {
    fn id(&self) -> u64 {
        self.inner.id
    }

    fn host(&self) -> &str {
        &self.inner.host
    }

    async fn exec(&self, command: &str) -> Result<Box<dyn Session>, TransportError> {
        let inner = &self.inner;
        if self.is_closed() {
            return Err(self.closed_error());
        }
        if inner.draining.load(Ordering::SeqCst) {
            return Err(TransportError::new(
                Cause::ConnectionClosed,
                format!("connection c{} to {} is draining", inner.id, inner.host),
            ));
        }
        inner.uses.fetch_add(1, Ordering::SeqCst);
        if inner.exiting.load(Ordering::SeqCst) {
            return Err(broken_pipe());
        }
        let channel = inner
            .handle
            .channel_open_session()
            .await
            .map_err(|error| match error {
                russh::Error::ChannelOpenFailure(reason) => TransportError::new(
                    Cause::ChannelRefused,
                    format!(
                        "channel: open failed: {}: open failed (reason {})",
                        reason.description().to_lowercase(),
                        reason.code()
                    ),
                ),
                _ => inner.status.error(&inner.host),
            });
        let channel = match channel {
            Ok(channel) => channel,
            Err(error) => {
                // A refused session leaves the master as idle as it was.
                if inner.open.load(Ordering::SeqCst) == 0 {
                    inner.arm_persist();
                }
                return Err(error);
            }
        };
        inner.open.fetch_add(1, Ordering::SeqCst);
        let session = RusshSession::new(channel, inner.clone());
        session.start(command).await?;
        Ok(Box::new(session))
    }

    fn is_closed(&self) -> bool {
        self.inner.status.get().is_some() || self.inner.handle.is_closed()
    }

    /// `ssh -O check`: a mux client too, so while the master exits (ControlPersist ran out)
    /// its hello is reset like a session's, and the caller starts a new master.
    async fn check(&self) -> Result<(), TransportError> {
        if self.is_closed() {
            Err(self.closed_error())
        } else if self.inner.exiting.load(Ordering::SeqCst) {
            Err(broken_pipe())
        } else {
            Ok(())
        }
    }

    async fn close(&self) {
        self.inner.close("exit").await;
    }

    async fn drain(&self) {
        let inner = &self.inner;
        if !inner.draining.swap(true, Ordering::SeqCst) {
            inner.trace.record(
                &inner.client_host,
                format!(
                    "c{}: draining ({} sessions open)",
                    inner.id,
                    inner.open.load(Ordering::SeqCst)
                ),
            );
        }
        if inner.open.load(Ordering::SeqCst) == 0 {
            inner.close("drained").await;
        }
    }

    fn open_sessions(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }
}
