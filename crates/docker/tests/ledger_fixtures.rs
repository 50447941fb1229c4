//! The sshd-log-to-`Ledger` step ([`sshrace_docker::ledger`]) on logs captured from real
//! OpenSSH 9.2 and 10.0 targets (`tests/fixtures/`, see its README): no Docker needed. Times are
//! asserted in microseconds after the fixture's first log line ("Server listening"), the origin.

use sshrace_core::{ConnectionEnd, Ledger, SessionEnd};
use sshrace_docker::ledger::{HostEvidence, build_ledger, parse_docker_time};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When the capture ran `docker kill` on the commands targets (unix ns, from the capture).
const KILL_9_2: u64 = 1_796_392_762_999_777_470;
const KILL_10_0: u64 = 1_796_392_860_114_441_010;

/// `tests/fixtures/openssh-<version>/<example>.{sshd.log,ledger}` as one host's evidence.
fn evidence(host: &str, version: &str, example: &str, crashes: &[u64]) -> HostEvidence {
    let dir = format!(
        "{}/tests/fixtures/openssh-{version}",
        env!("CARGO_MANIFEST_DIR")
    );
    let read = |ext: &str| {
        let path = format!("{dir}/{example}.{ext}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    HostEvidence {
        host: host.to_owned(),
        sshd_log: read("sshd.log"),
        ledger: read("ledger"),
        crashes: crashes
            .iter()
            .map(|&ns| UNIX_EPOCH + Duration::from_nanos(ns))
            .collect(),
    }
}

/// The instant of the first line of `evidence`'s log.
fn first_line(evidence: &HostEvidence) -> SystemTime {
    let stamp = evidence.sshd_log.split_whitespace().next().unwrap();
    parse_docker_time(stamp).unwrap()
}

/// One fixture on one host, at scale 1 from its first log line.
fn ledger(version: &str, example: &str, crashes: &[u64]) -> Ledger {
    let evidence = evidence("target", version, example, crashes);
    let origin = first_line(&evidence);
    build_ledger(&[evidence], origin, 1.0)
}

fn us(d: Duration) -> u128 {
    d.as_micros()
}

/// Per connection: accepted, startups at accept, authenticated, ended (µs), end.
type Conn = (u128, u32, Option<u128>, Option<u128>, Option<ConnectionEnd>);

fn connections(ledger: &Ledger) -> Vec<Conn> {
    ledger
        .connections
        .iter()
        .enumerate()
        .map(|(index, c)| {
            assert_eq!((c.id, c.host.as_str()), (index as u64, "target"));
            (
                us(c.accepted_at),
                c.startups_at_accept,
                c.authenticated_at.map(us),
                c.ended_at.map(us),
                c.end,
            )
        })
        .collect()
}

/// Per session: operation, connection, channel, opened, ended (µs), end, stdout bytes.
type Sess = (
    Option<u64>,
    u64,
    u32,
    u128,
    Option<u128>,
    Option<SessionEnd>,
    u64,
);

fn sessions(ledger: &Ledger) -> Vec<Sess> {
    ledger
        .sessions
        .iter()
        .map(|s| {
            (
                s.operation,
                s.connection,
                s.channel,
                us(s.opened_at),
                s.ended_at.map(us),
                s.end,
                s.stdout_sent,
            )
        })
        .collect()
}

fn commands(ledger: &Ledger) -> Vec<&str> {
    ledger
        .sessions
        .iter()
        .map(|s| s.command.as_deref().unwrap_or("-"))
        .collect()
}

const COMMANDS: [&str; 5] = [
    "sshrace-cmd op=1 ms=200 exit=3 out=10 chunks=2",
    "sshrace-cmd op=2 ms=1500 out=5",
    "sshrace-cmd op=3 ms=1000",
    "sshrace-cmd op=4 ms=0",
    "sshrace-cmd op=5 ms=10000",
];

// The commands example (MaxSessions 2): op 1 exits 3 after 10 bytes on its own connection;
// ops 2 and 3 share a ControlMaster connection as channels 0 and 1; op 4 asked that master for
// a third session, sshd said "no more sessions" (no port in that line, nothing in the ledger)
// and ssh fell back to a connection of its own; op 5 was running at `docker kill`.

#[test]
fn commands_on_openssh_9_2() {
    use ConnectionEnd::*;
    use SessionEnd::*;
    let ledger = ledger("9.2", "commands", &[KILL_9_2]);
    assert_eq!(
        connections(&ledger),
        [
            (42_057, 0, Some(275_441), Some(605_330), Some(ClientClosed)),
            (
                627_652,
                0,
                Some(863_667),
                Some(2_498_593),
                Some(ClientClosed)
            ),
            (
                1_068_930,
                0,
                Some(1_274_279),
                Some(1_358_031),
                Some(ClientClosed)
            ),
            (
                2_836_954,
                0,
                Some(3_114_706),
                Some(3_489_824),
                Some(HostCrashed)
            ),
        ]
    );
    assert_eq!(
        sessions(&ledger),
        [
            (Some(1), 0, 0, 367_765, Some(597_066), Some(Exited(3)), 10),
            (Some(2), 1, 0, 938_290, Some(2_486_847), Some(Exited(0)), 5),
            (Some(3), 1, 1, 974_423, Some(1_996_547), Some(Exited(0)), 0),
            (
                Some(4),
                2,
                0,
                1_338_428,
                Some(1_354_928),
                Some(Exited(0)),
                0
            ),
            (
                Some(5),
                3,
                0,
                3_221_995,
                Some(3_489_824),
                Some(KilledHostCrashed),
                0
            ),
        ]
    );
    assert_eq!(commands(&ledger), COMMANDS);
    assert_eq!(ledger.peak_sessions_per_connection["target"], 2);
    assert_eq!(ledger.peak_unauthenticated["target"], 1);
}

#[test]
fn commands_on_openssh_10_0() {
    use ConnectionEnd::*;
    use SessionEnd::*;
    let ledger = ledger("10.0", "commands", &[KILL_10_0]);
    assert_eq!(
        connections(&ledger),
        [
            (37_880, 0, Some(273_808), Some(560_223), Some(ClientClosed)),
            (
                582_562,
                0,
                Some(801_690),
                Some(2_405_732),
                Some(ClientClosed)
            ),
            (
                985_612,
                0,
                Some(1_202_571),
                Some(1_252_800),
                Some(ClientClosed)
            ),
            (
                2_733_575,
                0,
                Some(3_002_788),
                Some(3_296_236),
                Some(HostCrashed)
            ),
        ]
    );
    assert_eq!(
        sessions(&ledger),
        [
            (Some(1), 0, 0, 319_405, Some(558_023), Some(Exited(3)), 10),
            (Some(2), 1, 0, 860_346, Some(2_395_084), Some(Exited(0)), 5),
            (Some(3), 1, 1, 934_189, Some(1_958_636), Some(Exited(0)), 0),
            (
                Some(4),
                2,
                0,
                1_229_232,
                Some(1_249_492),
                Some(Exited(0)),
                0
            ),
            (
                Some(5),
                3,
                0,
                3_043_267,
                Some(3_296_236),
                Some(KilledHostCrashed),
                0
            ),
        ]
    );
    assert_eq!(commands(&ledger), COMMANDS);
    assert_eq!(ledger.peak_sessions_per_connection["target"], 2);
    assert_eq!(ledger.peak_unauthenticated["target"], 1);
}

#[test]
fn without_the_kill_the_crashed_session_stays_open() {
    let ledger = ledger("10.0", "commands", &[]);
    let last = ledger.connections.last().unwrap();
    assert_eq!((last.ended_at, last.end), (None, None));
    let op5 = ledger.sessions_of(5).next().unwrap();
    assert_eq!((op5.connection, op5.ended_at, op5.end), (3, None, None));
}

// The before-authentication example (MaxStartups 1:100:1, LoginGraceTime 1): a silent TCP
// connection holds the one startup and a second is dropped; 2.3 s later the silent one is
// closed; one connection closes before the key exchange; an unknown user (mallory) fails;
// then a login of `deploy` runs op 6.

#[test]
fn before_authentication_on_openssh_9_2() {
    use ConnectionEnd::*;
    let ledger = ledger("9.2", "preauth", &[]);
    assert_eq!(
        connections(&ledger),
        [
            // 9.2 ended the silent connection at LoginGraceTime without a log line (its
            // "Timeout before authentication" is not logged from the signal handler on Linux),
            // so it stays open here and counts as unauthenticated from then on.
            (18_214, 0, None, None, None),
            // "drop connection #1 ... past MaxStartups": startups from the message.
            (314_554, 1, None, Some(314_554), Some(DroppedMaxStartups)),
            // Closed before the key exchange: "Connection closed by".
            (2_648_485, 1, None, Some(2_648_508), Some(ClientClosed)),
            // "Invalid user mallory", then "Connection closed by invalid user".
            (2_942_469, 1, None, Some(3_150_559), Some(AuthFailed)),
            // deploy's login came while mallory's connection still counted: dropped.
            (
                3_150_534,
                1,
                None,
                Some(3_150_534),
                Some(DroppedMaxStartups)
            ),
        ]
    );
    assert!(ledger.sessions.is_empty(), "{:?}", ledger.sessions);
    assert_eq!(ledger.peak_unauthenticated["target"], 2);
    assert!(ledger.peak_sessions_per_connection.is_empty());
}

#[test]
fn before_authentication_on_openssh_10_0() {
    use ConnectionEnd::*;
    let ledger = ledger("10.0", "preauth", &[]);
    assert_eq!(
        connections(&ledger),
        [
            // 10.0 logs the silent connection's close ("Connection closed by").
            (22_179, 0, None, Some(2_321_621), Some(ClientClosed)),
            // 10.0 words it "drop connection #1 ... Maxstartups".
            (317_805, 1, None, Some(317_805), Some(DroppedMaxStartups)),
            (2_632_228, 0, None, Some(2_632_455), Some(ClientClosed)),
            (2_955_606, 0, None, Some(3_189_276), Some(AuthFailed)),
            (
                3_210_939,
                0,
                Some(3_457_369),
                Some(3_511_558),
                Some(ClientClosed)
            ),
        ]
    );
    assert_eq!(
        sessions(&ledger),
        [(
            Some(6),
            4,
            0,
            3_493_158,
            Some(3_509_569),
            Some(SessionEnd::Exited(0)),
            0
        )]
    );
    assert_eq!(commands(&ledger), ["sshrace-cmd op=6 ms=0"]);
    assert_eq!(ledger.peak_unauthenticated["target"], 1);
    assert_eq!(ledger.peak_sessions_per_connection["target"], 1);
}

#[test]
fn times_are_scaled_from_the_origin() {
    let evidence = evidence("target", "10.0", "commands", &[KILL_10_0]);
    // The origin at the first "Connection from", 60 scenario seconds per real second.
    let origin = parse_docker_time("2026-12-04T14:00:56.856084559Z").unwrap();
    let ledger = build_ledger(&[evidence], origin, 60.0);
    let first = &ledger.connections[0];
    assert_eq!(first.accepted_at, Duration::ZERO);
    // Authenticated 235.927529 ms after it, times 60.
    assert_eq!(first.authenticated_at.unwrap().as_millis(), 14_155);
    let op1 = ledger.sessions_of(1).next().unwrap();
    // 238.618096 ms of running, times 60.
    assert_eq!((op1.ended_at.unwrap() - op1.opened_at).as_millis(), 14_317);
    // Anything before the origin is at zero.
    let early = build_ledger(
        &[self::evidence("target", "10.0", "commands", &[])],
        origin + Duration::from_secs(10),
        1.0,
    );
    assert!(early.connections.iter().all(|c| c.accepted_at.is_zero()));
}

#[test]
fn hosts_are_kept_apart() {
    // 9.2's commands (13:59:19 on) as host a, 10.0's before-authentication example
    // (14:01:01 on) as host b: ids follow acceptance across hosts, sessions stay on their host.
    let a = evidence("a", "9.2", "commands", &[KILL_9_2]);
    let b = evidence("b", "10.0", "preauth", &[]);
    let origin = first_line(&a);
    let ledger = build_ledger(&[a, b], origin, 1.0);
    let hosts: Vec<&str> = ledger.connections.iter().map(|c| c.host.as_str()).collect();
    assert_eq!(hosts, ["a", "a", "a", "a", "b", "b", "b", "b", "b"]);
    let ops: Vec<(Option<u64>, &str, u64)> = ledger
        .sessions
        .iter()
        .map(|s| (s.operation, s.host.as_str(), s.connection))
        .collect();
    assert_eq!(
        ops,
        [
            (Some(1), "a", 0),
            (Some(2), "a", 1),
            (Some(3), "a", 1),
            (Some(4), "a", 2),
            (Some(5), "a", 3),
            (Some(6), "b", 8),
        ]
    );
    // b's first connection: 14:01:01.286062931 - 13:59:19.509952684.
    assert_eq!(us(ledger.connections[4].accepted_at), 101_776_110);
    assert_eq!(ledger.peak_unauthenticated["a"], 1);
    assert_eq!(ledger.peak_unauthenticated["b"], 1);
    assert_eq!(ledger.peak_sessions_per_connection["a"], 2);
    assert_eq!(ledger.peak_sessions_per_connection["b"], 1);
}
