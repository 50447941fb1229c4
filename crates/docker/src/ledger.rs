//! What the targets left behind, turned into the run's server-side ground truth: sshd's
//! VERBOSE log (with Docker's timestamps) and the sshrace-cmd ledger file of each target, plus
//! the instants it was killed, become a core [`Ledger`]. Pure text in, `Ledger` out: fetching
//! the text from the containers is [`crate::target::Testbed::ledger`]'s part.

use sshrace_core::{ConnectionEnd, ConnectionRecord, Ledger, SessionEnd, SessionRecord};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A command killed within this long after its connection ended was killed by that loss.
const LOSS_SLACK: Duration = Duration::from_millis(150);

/// What one target left behind: the raw material of [`build_ledger`].
#[derive(Debug, Clone, Default)]
pub struct HostEvidence {
    /// Scenario host name.
    pub host: String,
    /// `docker logs --timestamps` of the target (sshd's stderr, LogLevel VERBOSE).
    pub sshd_log: String,
    /// The sshrace-cmd ledger file.
    pub ledger: String,
    /// When the target was killed (`docker kill`), in order.
    pub crashes: Vec<SystemTime>,
}

/// Parse Docker's RFC 3339 timestamp ("2026-12-03T06:30:41.132508744Z", UTC).
pub fn parse_docker_time(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<u64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let mut nanos_text = frac.chars().take(9).collect::<String>();
    while nanos_text.len() < 9 {
        nanos_text.push('0');
    }
    let nanos: u32 = nanos_text.parse().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// The client source port of an sshd log message ("... from 172.17.0.1 port 4242 ...",
/// "drop connection #3 from [172.17.0.1]:4242 on ...").
fn source_port(message: &str) -> Option<u16> {
    if message.starts_with("drop connection") {
        return message
            .split("]:")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok();
    }
    let mut words = message.split_whitespace();
    while let Some(word) = words.next() {
        if word == "port" {
            let value = words.next()?;
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            return digits.parse().ok();
        }
    }
    None
}

#[derive(Debug)]
struct RawConnection {
    host: String,
    port: u16,
    accepted: SystemTime,
    startups: u32,
    authenticated: Option<SystemTime>,
    auth_failed: bool,
    ended: Option<(SystemTime, ConnectionEnd)>,
}

#[derive(Debug)]
struct RawSession {
    host: String,
    port: Option<u16>,
    operation: Option<u64>,
    command: Option<String>,
    started: SystemTime,
    written: u64,
    end: Option<(SystemTime, RawEnd)>,
}

#[derive(Debug, Clone, Copy)]
enum RawEnd {
    Exit(u32),
    Killed,
}

fn parse_connections(evidence: &HostEvidence, out: &mut Vec<RawConnection>, peak: &mut u32) {
    let mut open: BTreeMap<u16, usize> = BTreeMap::new();
    let mut unauthenticated: u32 = 0;
    let mut crashes = evidence.crashes.iter().copied().peekable();
    let crash = |at: SystemTime,
                 out: &mut Vec<RawConnection>,
                 open: &mut BTreeMap<u16, usize>,
                 unauth: &mut u32| {
        for (_, index) in std::mem::take(open) {
            out[index]
                .ended
                .get_or_insert((at, ConnectionEnd::HostCrashed));
        }
        *unauth = 0;
    };
    for line in evidence.sshd_log.lines() {
        let Some((stamp, message)) = line.split_once(' ') else {
            continue;
        };
        let Some(at) = parse_docker_time(stamp) else {
            continue;
        };
        while let Some(&k) = crashes.peek() {
            if k > at {
                break;
            }
            crash(k, out, &mut open, &mut unauthenticated);
            crashes.next();
        }
        let message = message.trim();
        let Some(port) = source_port(message) else {
            continue;
        };
        if message.starts_with("drop connection") {
            let startups = message
                .split('#')
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(unauthenticated);
            out.push(RawConnection {
                host: evidence.host.clone(),
                port,
                accepted: at,
                startups,
                authenticated: None,
                auth_failed: false,
                ended: Some((
                    at,
                    if message.contains("penalty") {
                        ConnectionEnd::DroppedPenalty
                    } else {
                        ConnectionEnd::DroppedMaxStartups
                    },
                )),
            });
            continue;
        }
        if message.starts_with("Connection from ") {
            if let Some(old) = open.remove(&port) {
                out[old]
                    .ended
                    .get_or_insert((at, ConnectionEnd::ClientClosed));
                if out[old].authenticated.is_none() {
                    unauthenticated = unauthenticated.saturating_sub(1);
                }
            }
            out.push(RawConnection {
                host: evidence.host.clone(),
                port,
                accepted: at,
                startups: unauthenticated,
                authenticated: None,
                auth_failed: false,
                ended: None,
            });
            open.insert(port, out.len() - 1);
            unauthenticated += 1;
            *peak = (*peak).max(unauthenticated);
            continue;
        }
        let Some(&index) = open.get(&port) else {
            continue;
        };
        let record = &mut out[index];
        if message.starts_with("Accepted publickey") || message.starts_with("Accepted password") {
            if record.authenticated.is_none() {
                record.authenticated = Some(at);
                unauthenticated = unauthenticated.saturating_sub(1);
            }
            continue;
        }
        if message.starts_with("Invalid user") || message.starts_with("Failed ") {
            record.auth_failed = true;
            continue;
        }
        let end = if message.starts_with("Timeout before authentication") {
            Some(ConnectionEnd::LoginGraceExpired)
        } else if message.starts_with("Timeout, client not responding") {
            Some(ConnectionEnd::ClientAliveTimeout)
        } else if message.starts_with("Connection closed by")
            || message.starts_with("Connection reset by")
            || message.starts_with("Disconnected from")
            || message.starts_with("Received disconnect from")
            || message.starts_with("Closing connection to")
            || message.contains("Broken pipe")
            || message.starts_with("Disconnecting")
        {
            Some(if record.authenticated.is_none() && record.auth_failed {
                ConnectionEnd::AuthFailed
            } else {
                ConnectionEnd::ClientClosed
            })
        } else {
            None
        };
        if let Some(end) = end {
            if record.authenticated.is_none() {
                unauthenticated = unauthenticated.saturating_sub(1);
            }
            record.ended.get_or_insert((at, end));
            open.remove(&port);
        }
    }
    for k in crashes {
        crash(k, out, &mut open, &mut unauthenticated);
    }
}

fn parse_sessions(evidence: &HostEvidence, out: &mut Vec<RawSession>) {
    let mut running: BTreeMap<String, usize> = BTreeMap::new();
    for line in evidence.ledger.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 7 {
            continue;
        }
        let Ok(ns) = fields[0].parse::<u64>() else {
            continue;
        };
        let at = UNIX_EPOCH + Duration::from_nanos(ns);
        let pid = fields[1].to_owned();
        let written = fields[6].parse().unwrap_or(0);
        match fields[4] {
            "start" => {
                let command = (fields[5] != "-")
                    .then(|| format!("sshrace-cmd {}", fields[5].replace(',', " ")));
                out.push(RawSession {
                    host: evidence.host.clone(),
                    port: fields[3].parse().ok(),
                    operation: fields[2].parse().ok(),
                    command,
                    started: at,
                    written: 0,
                    end: None,
                });
                running.insert(pid, out.len() - 1);
            }
            event => {
                let Some(index) = running.remove(&pid) else {
                    continue;
                };
                let end = match event {
                    "exit" => RawEnd::Exit(fields[5].parse().unwrap_or(0)),
                    _ => RawEnd::Killed,
                };
                out[index].written = written;
                out[index].end = Some((at, end));
            }
        }
    }
}

/// Build the run's [`Ledger`] from what the targets left behind.
///
/// Connections come from sshd's VERBOSE log, matched by client source port: "Connection from"
/// (accept; unauthenticated count before it = `startups_at_accept`), "drop connection #N ...
/// past MaxStartups" (`DroppedMaxStartups`) and OpenSSH 10's "drop connection ... penalty"
/// (`DroppedPenalty`), "Accepted publickey" (authenticated), "Timeout before
/// authentication" (`LoginGraceExpired`), "Timeout, client not responding"
/// (`ClientAliveTimeout`), "Connection closed"/"Disconnected from"/... (`ClientClosed`, or
/// `AuthFailed` after "Invalid user"/"Failed publickey" without success); open at a crash:
/// `HostCrashed`.
///
/// Sessions come from the sshrace-cmd ledger, matched to the connection by the SSH_CLIENT
/// source port: `exit N` -> `Exited(N)`; `killed SIG`/`orphaned` -> `KilledConnectionLost`
/// when the connection had ended by then (OpenSSH delivers SIGPIPE to a command within ~0.1 s
/// of its connection's loss), else `ClosedByClient` (the client closed the channel: sshd keeps
/// the command running, it dies of SIGPIPE at its next write); no end but a crash after the
/// start -> `KilledHostCrashed`.
pub fn build_ledger(hosts: &[HostEvidence], origin: SystemTime, scale: f64) -> Ledger {
    let at = |t: SystemTime| {
        t.duration_since(origin)
            .unwrap_or(Duration::ZERO)
            .mul_f64(scale)
    };
    let mut ledger = Ledger::default();
    let mut connections = Vec::new();
    let mut sessions = Vec::new();
    for evidence in hosts {
        let mut peak = 0;
        parse_connections(evidence, &mut connections, &mut peak);
        ledger.note_unauthenticated(&evidence.host, peak);
        parse_sessions(evidence, &mut sessions);
    }
    connections.sort_by_key(|c| c.accepted);
    sessions.sort_by_key(|s| s.started);
    for (id, c) in connections.iter().enumerate() {
        ledger.connections.push(ConnectionRecord {
            host: c.host.clone(),
            id: id as u64,
            accepted_at: at(c.accepted),
            startups_at_accept: c.startups,
            authenticated_at: c.authenticated.map(at),
            ended_at: c.ended.map(|(t, _)| at(t)),
            end: c.ended.map(|(_, e)| e),
        });
    }
    let mut channels: BTreeMap<u64, u32> = BTreeMap::new();
    let mut intervals: BTreeMap<u64, Vec<(SystemTime, Option<SystemTime>)>> = BTreeMap::new();
    for s in &sessions {
        // The connection on this host from that source port that was open when it started.
        let connection = connections
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.host == s.host
                    && Some(c.port) == s.port
                    && c.accepted <= s.started
                    && c.ended.is_none_or(|(t, _)| t + LOSS_SLACK >= s.started)
            })
            .max_by_key(|(_, c)| c.accepted);
        let crash = hosts
            .iter()
            .find(|h| h.host == s.host)
            .and_then(|h| h.crashes.iter().copied().find(|&k| k >= s.started));
        let end = match s.end {
            Some((t, RawEnd::Exit(code))) => Some((t, SessionEnd::Exited(code))),
            Some((t, RawEnd::Killed)) => {
                let lost = connection
                    .is_none_or(|(_, c)| c.ended.is_some_and(|(ended, _)| ended <= t + LOSS_SLACK));
                Some((
                    t,
                    if lost {
                        SessionEnd::KilledConnectionLost
                    } else {
                        SessionEnd::ClosedByClient
                    },
                ))
            }
            None => crash.map(|k| (k, SessionEnd::KilledHostCrashed)),
        };
        let connection_id = connection.map_or(u64::MAX, |(id, _)| id as u64);
        let channel = channels.entry(connection_id).or_default();
        ledger.sessions.push(SessionRecord {
            host: s.host.clone(),
            connection: connection_id,
            channel: *channel,
            opened_at: at(s.started),
            operation: s.operation,
            command: s.command.clone(),
            stdout_sent: s.written,
            ended_at: end.map(|(t, _)| at(t)),
            end: end.map(|(_, e)| e),
        });
        *channel += 1;
        intervals
            .entry(connection_id)
            .or_default()
            .push((s.started, end.map(|(t, _)| t)));
    }
    for (connection_id, spans) in intervals {
        let host = ledger
            .sessions
            .iter()
            .find(|s| s.connection == connection_id)
            .map(|s| s.host.clone())
            .unwrap_or_default();
        let peak = spans
            .iter()
            .map(|&(start, _)| {
                spans
                    .iter()
                    .filter(|&&(s, e)| s <= start && e.is_none_or(|e| start < e))
                    .count() as u32
            })
            .max()
            .unwrap_or(0);
        ledger.note_sessions_on_connection(&host, peak);
    }
    ledger
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log and ledger lines as OpenSSH 9.2 and sshrace-cmd wrote them in a measured run:
    /// op 1 exits 3; op 11's client was killed (SIGPIPE ~65 ms after "Connection closed");
    /// on the mux connection (port 58192) op 22's channel was closed by the client while the
    /// connection stayed, op 31 was in flight at `ssh -O exit`; op 41 was running at docker kill.
    const LOG: &str = "\
2026-12-03T06:30:35.924038556Z Server listening on 0.0.0.0 port 22.
2026-12-03T06:30:41.132508744Z Connection from 172.17.0.1 port 34170 on 172.17.0.2 port 22 rdomain \"\"
2026-12-03T06:30:41.929544130Z Accepted publickey for alice from 172.17.0.1 port 34170 ssh2: ED25519 SHA256:x
2026-12-03T06:30:42.602616179Z Disconnected from user alice 172.17.0.1 port 34170
2026-12-03T06:30:48.100000000Z Connection from 172.17.0.1 port 58170 on 172.17.0.2 port 22 rdomain \"\"
2026-12-03T06:30:48.800000000Z Accepted publickey for alice from 172.17.0.1 port 58170 ssh2: ED25519 SHA256:x
2026-12-03T06:30:49.544447749Z Connection closed by 172.17.0.1 port 58170
2026-12-03T06:30:49.990000000Z Connection from 172.17.0.1 port 58180 on 172.17.0.2 port 22 rdomain \"\"
2026-12-03T06:30:50.000000000Z Invalid user mallory from 172.17.0.1 port 58180
2026-12-03T06:30:50.100000000Z drop connection #10 from [172.17.0.1]:58181 on [172.17.0.2]:22 past MaxStartups
2026-12-03T06:30:50.200000000Z Connection closed by invalid user mallory 172.17.0.1 port 58180 [preauth]
2026-12-03T06:30:53.123041846Z Connection from 172.17.0.1 port 58192 on 172.17.0.2 port 22 rdomain \"\"
2026-12-03T06:30:53.912698019Z Accepted publickey for alice from 172.17.0.1 port 58192 ssh2: ED25519 SHA256:x
2026-12-03T06:30:59.058658532Z Disconnected from user alice 172.17.0.1 port 58192
2026-12-03T06:31:24.000000000Z Connection from 172.17.0.1 port 59018 on 172.17.0.2 port 22 rdomain \"\"
2026-12-03T06:31:24.500000000Z Accepted publickey for alice from 172.17.0.1 port 59018 ssh2: ED25519 SHA256:x
";
    const LEDGER: &str = "\
1796279442107924681 75 1 34170 start op=1,ms=300,exit=3,out=10 0
1796279442585969732 75 1 34170 exit 3 10
1796279448985055841 116 11 58170 start op=11,ms=5000 0
1796279449609194938 116 11 58170 killed PIPE 0
1796279455525923566 295 22 58192 start op=22,ms=4000,out=100,chunks=40 0
1796279456558712150 519 31 58192 start op=31,ms=5000 0
1796279457040797452 295 22 58192 killed PIPE 26
1796279459161515164 519 31 58192 killed PIPE 0
1796279485522713183 635 41 59018 start op=41,ms=5000 0
";

    #[test]
    fn evidence_becomes_the_ledger() {
        let crash = parse_docker_time("2026-12-03T06:31:26.000000000Z").unwrap();
        let origin = parse_docker_time("2026-12-03T06:30:40.000000000Z").unwrap();
        let hosts = [HostEvidence {
            host: "target".into(),
            sshd_log: LOG.into(),
            ledger: LEDGER.into(),
            crashes: vec![crash],
        }];
        let ledger = build_ledger(&hosts, origin, 2.0);
        let end = |op| ledger.sessions_of(op).next().unwrap().end;
        assert_eq!(end(1), Some(SessionEnd::Exited(3)));
        assert_eq!(end(11), Some(SessionEnd::KilledConnectionLost));
        assert_eq!(end(22), Some(SessionEnd::ClosedByClient));
        assert_eq!(end(31), Some(SessionEnd::KilledConnectionLost));
        assert_eq!(end(41), Some(SessionEnd::KilledHostCrashed));
        let first = ledger.sessions_of(1).next().unwrap();
        assert_eq!(first.stdout_sent, 10);
        assert_eq!(
            first.command.as_deref(),
            Some("sshrace-cmd op=1 ms=300 exit=3 out=10")
        );
        // 06:30:42.107... is 2.107 s after origin, times 2.
        assert_eq!(first.opened_at.as_millis(), 4215);
        let connection = &ledger.connections[first.connection as usize];
        assert_eq!(connection.end, Some(ConnectionEnd::ClientClosed));
        assert_eq!(connection.accepted_at.as_millis(), 2265);
        let mux: Vec<_> = ledger
            .sessions
            .iter()
            .filter(|s| s.operation == Some(22) || s.operation == Some(31))
            .collect();
        assert_eq!(mux[0].connection, mux[1].connection);
        assert_eq!((mux[0].channel, mux[1].channel), (0, 1));
        let ends: Vec<_> = ledger.connections.iter().map(|c| c.end).collect();
        assert!(ends.contains(&Some(ConnectionEnd::AuthFailed)), "{ends:?}");
        assert!(ends.contains(&Some(ConnectionEnd::HostCrashed)), "{ends:?}");
        let dropped = ledger
            .connections
            .iter()
            .find(|c| c.end == Some(ConnectionEnd::DroppedMaxStartups))
            .unwrap();
        assert_eq!(dropped.startups_at_accept, 10);
        assert_eq!(ledger.peak_sessions_per_connection["target"], 2);
        assert_eq!(ledger.peak_unauthenticated["target"], 1);
        assert_eq!(ledger.connections.len(), 6);
        assert!(
            ledger
                .connections
                .windows(2)
                .all(|w| w[0].accepted_at <= w[1].accepted_at)
        );
    }
}
