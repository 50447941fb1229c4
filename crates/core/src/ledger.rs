use std::collections::BTreeMap;
use std::time::Duration;

/// The server-side ground truth of one run: every connection an sshd saw and every session
/// (channel) it opened or refused, with what ran and how it ended.
///
/// Invariants: records are appended in the order the server saw them; ids are assigned in that
/// order per host; a record's `end` is set at most once. For the same scenario, strategy and seed
/// the ledger is identical, so the runner can compare what clients reported with what really ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ledger {
    /// Connections, in accept order.
    pub connections: Vec<ConnectionRecord>,
    /// Sessions, in open order.
    pub sessions: Vec<SessionRecord>,
    /// Per host, the most unauthenticated connections sshd held at once.
    pub peak_unauthenticated: BTreeMap<String, u32>,
    /// Per host, the most sessions open at once on one connection.
    pub peak_sessions_per_connection: BTreeMap<String, u32>,
}

/// One TCP connection accepted by an sshd.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionRecord {
    /// Host the sshd runs on.
    pub host: String,
    /// Server-assigned id, unique per run.
    pub id: u64,
    /// When the connection was accepted.
    pub accepted_at: Duration,
    /// Unauthenticated connections sshd already held when this one arrived (what MaxStartups
    /// decided on).
    pub startups_at_accept: u32,
    /// When authentication succeeded, if it did.
    pub authenticated_at: Option<Duration>,
    /// When the connection ended, if it did before the run ended.
    pub ended_at: Option<Duration>,
    /// How it ended.
    pub end: Option<ConnectionEnd>,
}

/// How the server saw a connection end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionEnd {
    /// Dropped at accept by MaxStartups random early drop.
    DroppedMaxStartups,
    /// Dropped at accept, before the banner, because its source address has an active
    /// PerSourcePenalties penalty (OpenSSH 10.0).
    DroppedPenalty,
    /// Not authenticated within LoginGraceTime.
    LoginGraceExpired,
    /// ClientAliveInterval x ClientAliveCountMax passed without an answer.
    ClientAliveTimeout,
    /// Authentication failed.
    AuthFailed,
    /// The client closed it (or the TCP stream ended).
    ClientClosed,
    /// The host running sshd crashed.
    HostCrashed,
}

/// One session channel requested on a connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionRecord {
    /// Host the sshd runs on.
    pub host: String,
    /// The connection's [`ConnectionRecord::id`].
    pub connection: u64,
    /// Channel number on that connection, in open order from 0.
    pub channel: u32,
    /// When the channel open arrived.
    pub opened_at: Duration,
    /// The client operation of the command run in it, once an exec arrived.
    pub operation: Option<u64>,
    /// The command line, once an exec arrived.
    pub command: Option<String>,
    /// Stdout bytes the server handed to the connection.
    pub stdout_sent: u64,
    /// When the session ended, if it did before the run ended.
    pub ended_at: Option<Duration>,
    /// How it ended.
    pub end: Option<SessionEnd>,
}

/// How a session ended on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionEnd {
    /// Refused at open: MaxSessions reached (CHANNEL_OPEN_FAILURE reason 2, "open failed").
    Refused,
    /// The command ran to the end and exited with this status.
    Exited(u32),
    /// The command was killed (SIGHUP) because its connection went away.
    KilledConnectionLost,
    /// The command died with its host.
    KilledHostCrashed,
    /// The client closed the channel before the command exited.
    ClosedByClient,
}

impl Ledger {
    /// Record an accepted connection and return its id.
    pub fn connection_accepted(&mut self, host: &str, at: Duration, startups: u32) -> u64 {
        let id = self.connections.len() as u64;
        self.connections.push(ConnectionRecord {
            host: host.to_owned(),
            id,
            accepted_at: at,
            startups_at_accept: startups,
            authenticated_at: None,
            ended_at: None,
            end: None,
        });
        id
    }

    /// Record that connection `id` authenticated.
    pub fn connection_authenticated(&mut self, id: u64, at: Duration) {
        let record = &mut self.connections[id as usize];
        assert!(record.authenticated_at.is_none(), "authenticated twice");
        record.authenticated_at = Some(at);
    }

    /// Record how connection `id` ended; later reports for the same connection are ignored.
    pub fn connection_ended(&mut self, id: u64, at: Duration, end: ConnectionEnd) {
        let record = &mut self.connections[id as usize];
        if record.end.is_none() {
            record.end = Some(end);
            record.ended_at = Some(at);
        }
    }

    /// Record a session channel opened (or refused) on `connection`; returns its index.
    pub fn session_opened(
        &mut self,
        host: &str,
        connection: u64,
        channel: u32,
        at: Duration,
    ) -> usize {
        self.sessions.push(SessionRecord {
            host: host.to_owned(),
            connection,
            channel,
            opened_at: at,
            operation: None,
            command: None,
            stdout_sent: 0,
            ended_at: None,
            end: None,
        });
        self.sessions.len() - 1
    }

    /// Record the command an exec request asked for.
    pub fn session_exec(&mut self, index: usize, operation: Option<u64>, command: &str) {
        let record = &mut self.sessions[index];
        record.operation = operation;
        record.command = Some(command.to_owned());
    }

    /// Add stdout bytes handed to the connection.
    pub fn session_output(&mut self, index: usize, bytes: u64) {
        self.sessions[index].stdout_sent += bytes;
    }

    /// Record how a session ended; later reports for the same session are ignored.
    pub fn session_ended(&mut self, index: usize, at: Duration, end: SessionEnd) {
        let record = &mut self.sessions[index];
        if record.end.is_none() {
            record.end = Some(end);
            record.ended_at = Some(at);
        }
    }

    /// Raise the per-host peak of unauthenticated connections to `count` if higher.
    pub fn note_unauthenticated(&mut self, host: &str, count: u32) {
        let peak = self
            .peak_unauthenticated
            .entry(host.to_owned())
            .or_default();
        *peak = (*peak).max(count);
    }

    /// Raise the per-host peak of sessions on one connection to `count` if higher.
    pub fn note_sessions_on_connection(&mut self, host: &str, count: u32) {
        let peak = self
            .peak_sessions_per_connection
            .entry(host.to_owned())
            .or_default();
        *peak = (*peak).max(count);
    }

    /// Mark every unfinished connection and session on `host` as ended by a crash at `at`.
    pub fn host_crashed(&mut self, host: &str, at: Duration) {
        for record in self
            .connections
            .iter_mut()
            .filter(|r| r.host == host && r.end.is_none())
        {
            record.end = Some(ConnectionEnd::HostCrashed);
            record.ended_at = Some(at);
        }
        for record in self
            .sessions
            .iter_mut()
            .filter(|r| r.host == host && r.end.is_none())
        {
            record.end = Some(SessionEnd::KilledHostCrashed);
            record.ended_at = Some(at);
        }
    }

    /// Sessions that ran a command of `operation`, in open order.
    pub fn sessions_of(&self, operation: u64) -> impl Iterator<Item = &SessionRecord> {
        self.sessions
            .iter()
            .filter(move |r| r.operation == Some(operation))
    }

    /// Whether some session ran `operation`'s command to completion with exit status 0.
    pub fn completed_successfully(&self, operation: u64) -> bool {
        self.sessions_of(operation)
            .any(|r| r.end == Some(SessionEnd::Exited(0)))
    }

    /// Sessions still open when the run ended (leaked or still running).
    pub fn open_sessions(&self) -> impl Iterator<Item = &SessionRecord> {
        self.sessions.iter().filter(|r| r.end.is_none())
    }

    /// Connections still open when the run ended.
    pub fn open_connections(&self) -> impl Iterator<Item = &ConnectionRecord> {
        self.connections.iter().filter(|r| r.end.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_is_recorded_once() {
        let mut ledger = Ledger::default();
        let id = ledger.connection_accepted("target", Duration::from_secs(1), 0);
        let session = ledger.session_opened("target", id, 0, Duration::from_secs(2));
        ledger.session_exec(session, Some(9), "sshrace-cmd op=9");
        ledger.session_ended(session, Duration::from_secs(3), SessionEnd::Exited(0));
        ledger.session_ended(
            session,
            Duration::from_secs(4),
            SessionEnd::KilledConnectionLost,
        );
        assert_eq!(ledger.sessions[0].end, Some(SessionEnd::Exited(0)));
        assert!(ledger.completed_successfully(9));
        ledger.host_crashed("target", Duration::from_secs(5));
        assert_eq!(ledger.connections[0].end, Some(ConnectionEnd::HostCrashed));
        assert_eq!(ledger.sessions[0].end, Some(SessionEnd::Exited(0)));
    }
}
