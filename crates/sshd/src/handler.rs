use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure};
use sshrace_core::{CommandSpec, ConnectionEnd, Mark, SessionEnd};

use crate::command;
use crate::server::ServerState;

/// What the server knows about one connection; shared between the russh handler and the
/// task that serves the connection.
pub(crate) struct ConnectionState {
    pub(crate) id: u64,
    pub(crate) authenticated: bool,
    /// An authentication attempt failed on it (OpenSSH's `auth_attempted`, which makes the
    /// session process exit with `EXIT_AUTH_ATTEMPTED` and earns the `authfail` penalty).
    pub(crate) auth_attempted: bool,
    /// The address it came from (what PerSourcePenalties charges).
    pub(crate) source: std::net::IpAddr,
    /// An end decided by the server itself (LoginGraceTime, failed auth).
    pub(crate) end: Option<ConnectionEnd>,
    pub(crate) channels: BTreeMap<ChannelId, ChannelEntry>,
    next_channel_number: u32,
}

pub(crate) struct ChannelEntry {
    pub(crate) number: u32,
    pub(crate) ledger_index: usize,
    pub(crate) task: Option<tokio::task::JoinHandle<()>>,
}

impl ConnectionState {
    pub(crate) fn new(id: u64, source: std::net::IpAddr) -> Self {
        Self {
            id,
            authenticated: false,
            auth_attempted: false,
            source,
            end: None,
            channels: BTreeMap::new(),
            next_channel_number: 0,
        }
    }
}

pub(crate) struct ConnectionHandler {
    shared: Arc<ServerState>,
    connection: Arc<Mutex<ConnectionState>>,
}

impl ConnectionHandler {
    pub(crate) fn new(shared: Arc<ServerState>, connection: Arc<Mutex<ConnectionState>>) -> Self {
        Self { shared, connection }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ConnectionState> {
        self.connection.lock().expect("connection lock")
    }

    fn record(&self, what: String, marks: Vec<Mark>) {
        self.shared
            .trace
            .record_marked(&self.shared.host, what, marks);
    }
}

impl russh::server::Handler for ConnectionHandler {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        user: &str,
        _key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        // The handshake's CPU cost, on a bounded number of workers, so floods queue.
        {
            let _worker = self
                .shared
                .handshake_workers
                .acquire()
                .await
                .expect("semaphore never closed");
            tokio::time::sleep(self.shared.config.handshake_cost).await;
        }
        if self
            .shared
            .config
            .revoked_identities
            .iter()
            .any(|r| r == user)
        {
            let id = {
                let mut state = self.state();
                state.auth_attempted = true;
                state.id
            };
            self.record(
                format!("connection #{id}: publickey for {user} rejected (revoked)"),
                vec![Mark::instant(connection_track(id))],
            );
            return Ok(Auth::reject());
        }
        Ok(Auth::Accept)
    }

    async fn auth_succeeded(&mut self, _session: &mut Session) -> Result<(), Self::Error> {
        let now = self.shared.trace.clock().now();
        let id = {
            let mut state = self.state();
            state.authenticated = true;
            state.id
        };
        self.shared.unauthenticated.fetch_sub(1, Ordering::SeqCst);
        self.shared.ledger().connection_authenticated(id, now);
        self.record(
            format!("connection #{id} authenticated"),
            vec![Mark::instant(connection_track(id))],
        );
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let now = self.shared.trace.clock().now();
        let (id, number, open) = {
            let mut state = self.state();
            let number = state.next_channel_number;
            state.next_channel_number += 1;
            (state.id, number, state.channels.len() as u32)
        };
        let max_sessions = self.shared.config.max_sessions;
        let index = self
            .shared
            .ledger()
            .session_opened(&self.shared.host, id, number, now);
        if open >= max_sessions {
            self.shared
                .ledger()
                .session_ended(index, now, SessionEnd::Refused);
            self.record(
                format!(
                    "session {id}.{number}: refused, MaxSessions {max_sessions} (reason 2, open failed)"
                ),
                vec![Mark::instant(connection_track(id))],
            );
            reply
                .reject(ChannelOpenFailure::Other {
                    code: 2,
                    reason: "open failed".to_owned(),
                })
                .await;
            return Ok(());
        }
        {
            let mut state = self.state();
            state.channels.insert(
                channel.id(),
                ChannelEntry {
                    number,
                    ledger_index: index,
                    task: None,
                },
            );
            let count = state.channels.len() as u32;
            self.shared
                .ledger()
                .note_sessions_on_connection(&self.shared.host, count);
        }
        self.record(
            format!("session {id}.{number}: open"),
            vec![Mark::begin_in(
                session_span(id, number),
                format!("session {id}.{number}"),
                connection_track(id),
                connection_span(id),
            )],
        );
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let line = String::from_utf8_lossy(data).into_owned();
        let spec = CommandSpec::parse(&line);
        let (id, number, index) = {
            let state = self.state();
            let Some(entry) = state.channels.get(&channel) else {
                return Ok(());
            };
            (state.id, entry.number, entry.ledger_index)
        };
        let operation = spec.as_ref().ok().map(|s| s.operation);
        self.shared.ledger().session_exec(index, operation, &line);
        session.channel_success(channel)?;
        let name = match &operation {
            Some(operation) => format!("command of op {operation}"),
            None => "command".to_owned(),
        };
        self.record(
            format!("session {id}.{number}: exec {line}"),
            vec![Mark::begin_in(
                command_span(id, number),
                name,
                connection_track(id),
                session_span(id, number),
            )],
        );
        let task = tokio::spawn(command::run(
            self.shared.clone(),
            self.connection.clone(),
            session.handle(),
            channel,
            (id, number),
            index,
            spec,
        ));
        if let Some(entry) = self.state().channels.get_mut(&channel) {
            entry.task = Some(task);
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let now = self.shared.trace.clock().now();
        let (id, entry) = {
            let mut state = self.state();
            (state.id, state.channels.remove(&channel))
        };
        if let Some(entry) = entry {
            if let Some(task) = entry.task {
                task.abort();
            }
            let mut ledger = self.shared.ledger();
            if ledger.sessions[entry.ledger_index].end.is_none() {
                ledger.session_ended(entry.ledger_index, now, SessionEnd::ClosedByClient);
                drop(ledger);
                self.record(
                    format!(
                        "session {id}.{}: closed by client before exit (SIGHUP)",
                        entry.number
                    ),
                    session_ends(id, entry.number),
                );
            }
        }
        Ok(())
    }
}

/// The track a connection's span, sessions and commands are drawn on.
pub(crate) fn connection_track(id: u64) -> String {
    format!("connection #{id}")
}

/// The span id of connection `id`.
pub(crate) fn connection_span(id: u64) -> String {
    format!("#{id}")
}

fn session_span(id: u64, number: u32) -> String {
    format!("session {id}.{number}")
}

fn command_span(id: u64, number: u32) -> String {
    format!("command {id}.{number}")
}

/// Marks that end session `id.number` and its command, whichever of them is still open.
pub(crate) fn session_ends(id: u64, number: u32) -> Vec<Mark> {
    vec![
        Mark::end(command_span(id, number)),
        Mark::end(session_span(id, number)),
    ]
}
