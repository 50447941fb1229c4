//! Exit 255 to a [`Cause`]: what `ssh` printed, matched against the texts OpenSSH's client
//! prints; and the filter that keeps those diagnostics out of a session's stderr counts.

use sshrace_core::{Cause, TransportError};

pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!(": {}", lines.join(" / "))
    }
}

/// Exit 255 with text no rule knows: the connection was lost, and the text says how.
pub(crate) fn unknown(text: &str, host: &str) -> TransportError {
    let kept = tail(text);
    TransportError::new(
        Cause::ConnectionLost,
        if kept.is_empty() {
            format!("ssh to {host} exited 255 without a message")
        } else {
            format!("ssh to {host} exited 255{kept}")
        },
    )
}

/// The cause of an exit 255 from what `ssh` printed, mapped as the simulation maps russh's
/// failures. `None` when nothing in it is known.
pub fn classify(stderr: &str, host: &str) -> Option<TransportError> {
    let line = |needle: &str| {
        stderr
            .lines()
            .find(|l| l.contains(needle))
            .map(|l| l.trim().to_owned())
    };
    let rules: [(&str, Cause); 13] = [
        ("Permission denied", Cause::AuthFailed),
        ("kex_exchange_identification", Cause::ClosedBeforeBanner),
        (
            "Connection timed out during banner exchange",
            Cause::ConnectTimeout,
        ),
        ("Connection timed out", Cause::ConnectTimeout),
        ("Operation timed out", Cause::ConnectTimeout),
        ("not responding", Cause::KeepaliveTimeout),
        ("mux_client_hello_exchange", Cause::ConnectionClosed),
        ("closed by remote host", Cause::ConnectionLost),
        ("Connection closed by", Cause::ConnectionLost),
        ("Connection reset", Cause::ConnectionLost),
        ("Broken pipe", Cause::ConnectionLost),
        ("Session open refused", Cause::ChannelRefused),
        ("open failed", Cause::ChannelRefused),
    ];
    for (needle, cause) in rules {
        if let Some(text) = line(needle) {
            // A refused session the client recovered from by falling back to a direct
            // connection is not the failure if that connection then failed.
            return Some(TransportError::new(cause, text));
        }
    }
    if let Some(text) = stderr
        .lines()
        .find(|l| l.contains("Connection refused") && !l.contains("Control socket connect("))
    {
        return Some(TransportError::new(
            Cause::ConnectionRefused,
            text.trim().to_owned(),
        ));
    }
    if let Some(text) = line("ClientState connection to") {
        return Some(TransportError::new(Cause::ConnectionLost, text));
    }
    if let Some(text) = line("Could not resolve hostname") {
        return Some(TransportError::new(Cause::ConnectionRefused, text));
    }
    let _ = host;
    None
}

/// `ssh`'s own diagnostics, kept out of a session's stderr byte counts.
const DIAGNOSTICS: &[&str] = &[
    "Warning: Permanently added",
    "mux_client_",
    "muxclient:",
    "Control socket connect(",
    "ControlSocket ",
    "ClientState connection to ",
    "Connection to ",
    "Connection closed by ",
    "Timeout, server ",
    "kex_exchange_identification",
    "ssh: connect to host",
    "ssh: Could not resolve",
    "Permission denied",
    "channel ",
    "client_loop:",
    "Read from remote host",
    "Received disconnect",
    "Disconnected from",
    "Load key",
    "Bad owner",
];

/// Splits a session's stderr into `ssh` diagnostics (whole lines starting with one of
/// [`DIAGNOSTICS`]) and the remote command's bytes.
#[derive(Default)]
pub(crate) struct StderrFilter {
    /// A line start that may still turn out to be a diagnostic.
    held: Vec<u8>,
    /// Every diagnostic line, for the exit-255 cause.
    pub(crate) diagnostics: String,
}

impl StderrFilter {
    /// Feed bytes; returns how many of them are the remote command's.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut remote = 0u64;
        let mut at_line_start = self.held.is_empty();
        for &byte in bytes {
            if at_line_start || !self.held.is_empty() {
                self.held.push(byte);
                at_line_start = false;
                if byte == b'\n' {
                    remote += self.judge_line();
                    at_line_start = true;
                } else if !self.may_be_diagnostic() {
                    remote += self.held.len() as u64;
                    self.held.clear();
                }
            } else {
                remote += 1;
                if byte == b'\n' {
                    at_line_start = true;
                }
            }
        }
        remote
    }

    fn may_be_diagnostic(&self) -> bool {
        DIAGNOSTICS.iter().any(|d| {
            let d = d.as_bytes();
            let n = d.len().min(self.held.len());
            self.held[..n] == d[..n]
        })
    }

    /// A complete held line: a diagnostic (0 remote bytes) or the remote's.
    fn judge_line(&mut self) -> u64 {
        let line = std::mem::take(&mut self.held);
        let text = String::from_utf8_lossy(&line);
        let trimmed = text.trim_start_matches('\r');
        if DIAGNOSTICS.iter().any(|d| trimmed.starts_with(d)) {
            self.diagnostics.push_str(&text);
            0
        } else {
            line.len() as u64
        }
    }

    /// End of stream: a held partial line is judged as a line.
    pub(crate) fn finish(&mut self) -> u64 {
        if self.held.is_empty() {
            0
        } else {
            self.judge_line()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_filter_keeps_diagnostics_out_of_the_counts() {
        let mut filter = StderrFilter::default();
        let warning =
            b"Warning: Permanently added '[127.0.0.1]:1' (ED25519) to the list of known hosts.\r\n";
        assert_eq!(filter.feed(&warning[..10]), 0);
        assert_eq!(filter.feed(&warning[10..]), 0);
        assert_eq!(filter.feed(b"eeee"), 4);
        assert_eq!(filter.feed(b"ee\nChan"), 7);
        assert_eq!(filter.feed(b"ge of plan\n"), 11);
        assert_eq!(
            filter.feed(b"Connection to x closed by remote host.\r\n"),
            0
        );
        assert_eq!(filter.feed(b"Conn"), 0);
        assert_eq!(filter.finish(), 4);
        assert!(filter.diagnostics.contains("closed by remote host"));
        assert!(filter.diagnostics.contains("Permanently added"));
    }

    use Cause::*;

    /// `ssh`'s stderr at exit 255, as OpenSSH 9.2 and 10.0 clients print it (`LogLevel=INFO`,
    /// `\r\n` where the client prints it so), and what it means: the cause and the line kept as
    /// the message, or `None` when no rule knows it. Rows marked "captured" were printed by
    /// `ssh` (OpenSSH_9.2p1 Debian-2+deb12u10) on this project's testbed machine.
    const TABLE: &[(&str, Option<(Cause, &str)>)] = &[
        // Dialling.
        (
            // captured: nothing listens on the port
            "ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n",
            Some((
                ConnectionRefused,
                "ssh: connect to host 127.0.0.1 port 1: Connection refused",
            )),
        ),
        (
            "ssh: connect to host 10.255.255.1 port 22: Connection timed out\r\n",
            Some((
                ConnectTimeout,
                "ssh: connect to host 10.255.255.1 port 22: Connection timed out",
            )),
        ),
        (
            "ssh: connect to host 10.255.255.1 port 22: Operation timed out\r\n",
            Some((
                ConnectTimeout,
                "ssh: connect to host 10.255.255.1 port 22: Operation timed out",
            )),
        ),
        (
            "ssh: connect to host 10.0.0.9 port 22: No route to host\r\n",
            None,
        ),
        (
            // captured
            "ssh: Could not resolve hostname nohost.invalid: Name or service not known\r\n",
            Some((
                ConnectionRefused,
                "ssh: Could not resolve hostname nohost.invalid: Name or service not known",
            )),
        ),
        // The banner exchange.
        (
            // captured: ConnectTimeout=2 to an address that drops SYNs
            "Connection timed out during banner exchange\r\nConnection to 10.255.255.1 port 22 timed out\r\n",
            Some((
                ConnectTimeout,
                "Connection timed out during banner exchange",
            )),
        ),
        (
            "kex_exchange_identification: Connection closed by remote host\r\nConnection closed by 127.0.0.1 port 22\r\n",
            Some((
                ClosedBeforeBanner,
                "kex_exchange_identification: Connection closed by remote host",
            )),
        ),
        (
            "kex_exchange_identification: read: Connection reset by peer\r\nConnection reset by 127.0.0.1 port 22\r\n",
            Some((
                ClosedBeforeBanner,
                "kex_exchange_identification: read: Connection reset by peer",
            )),
        ),
        (
            "kex_exchange_identification: banner line contains invalid characters\r\n",
            Some((
                ClosedBeforeBanner,
                "kex_exchange_identification: banner line contains invalid characters",
            )),
        ),
        (
            "banner exchange: Connection to 127.0.0.1 port 22: invalid format\r\n",
            None,
        ),
        // Authentication.
        (
            "root@127.0.0.1: Permission denied (publickey).\r\n",
            Some((AuthFailed, "root@127.0.0.1: Permission denied (publickey).")),
        ),
        (
            "Load key \"/tmp/sshrace-1-0/id\": invalid format\r\nroot@127.0.0.1: Permission denied (publickey).\r\n",
            Some((AuthFailed, "root@127.0.0.1: Permission denied (publickey).")),
        ),
        (
            "Received disconnect from 127.0.0.1 port 22:2: Too many authentication failures\r\nDisconnected from 127.0.0.1 port 22\r\n",
            None,
        ),
        // An established connection lost.
        (
            "Timeout, server 127.0.0.1 not responding.\r\n",
            Some((
                KeepaliveTimeout,
                "Timeout, server 127.0.0.1 not responding.",
            )),
        ),
        (
            "Connection to 127.0.0.1 closed by remote host.\r\n",
            Some((
                ConnectionLost,
                "Connection to 127.0.0.1 closed by remote host.",
            )),
        ),
        (
            "Connection closed by 127.0.0.1 port 22\r\n",
            Some((ConnectionLost, "Connection closed by 127.0.0.1 port 22")),
        ),
        (
            "Read from remote host 127.0.0.1: Connection reset by peer\r\nConnection to 127.0.0.1 closed.\r\n",
            Some((
                ConnectionLost,
                "Read from remote host 127.0.0.1: Connection reset by peer",
            )),
        ),
        (
            "client_loop: send disconnect: Broken pipe\r\n",
            Some((ConnectionLost, "client_loop: send disconnect: Broken pipe")),
        ),
        (
            "ClientState connection to target closed.\n",
            Some((ConnectionLost, "ClientState connection to target closed.")),
        ),
        // Multiplexing.
        (
            "mux_client_request_session: session request failed: Session open refused by peer\n",
            Some((
                ChannelRefused,
                "mux_client_request_session: session request failed: Session open refused by peer",
            )),
        ),
        (
            "channel 0: open failed: administratively prohibited: open failed\r\n",
            Some((
                ChannelRefused,
                "channel 0: open failed: administratively prohibited: open failed",
            )),
        ),
        (
            "mux_client_hello_exchange: write packet: Broken pipe\n",
            Some((
                ConnectionClosed,
                "mux_client_hello_exchange: write packet: Broken pipe",
            )),
        ),
        (
            "Control socket connect(/tmp/sshrace-1-0/c0.sock): Connection refused\n",
            None,
        ),
        (
            // captured: no master on the socket, so ssh dials directly, and that is refused
            "Control socket connect(/tmp/nonexistent-sock-x): No such file or directory\nssh: connect to host 127.0.0.1 port 1: Connection refused\r\n",
            Some((
                ConnectionRefused,
                "ssh: connect to host 127.0.0.1 port 1: Connection refused",
            )),
        ),
        (
            // A refused session, then the direct connection ssh fell back to was lost: rule
            // order, not line order, picks the cause.
            "mux_client_request_session: session request failed: Session open refused by peer\nConnection closed by 127.0.0.1 port 22\r\n",
            Some((ConnectionLost, "Connection closed by 127.0.0.1 port 22")),
        ),
        // Text no rule knows.
        (
            "Warning: Permanently added '[127.0.0.1]:32768' (ED25519) to the list of known hosts.\r\n",
            None,
        ),
        ("something new\n", None),
        ("", None),
    ];

    #[test]
    fn captured_stderr_maps_to_the_simulation_causes() {
        for (row, (stderr, expected)) in TABLE.iter().enumerate() {
            let got = classify(stderr, "target").map(|e| (e.cause, e.message));
            let expected = expected.map(|(cause, message)| (cause, message.to_owned()));
            assert_eq!(got, expected, "row {row}: {stderr:?}");
        }
    }

    #[test]
    fn unknown_text_is_a_lost_connection_that_keeps_the_text() {
        let kept = unknown(
            "Warning: Permanently added '[127.0.0.1]:32768' (ED25519) to the list of known hosts.\r\nssh: connect to host 10.0.0.9 port 22: No route to host\r\n",
            "target",
        );
        assert_eq!(kept.cause, ConnectionLost);
        assert_eq!(
            kept.message,
            "ssh to target exited 255: ssh: connect to host 10.0.0.9 port 22: No route to host"
        );
        let silent = unknown("\r\n", "target");
        assert_eq!(silent.cause, ConnectionLost);
        assert_eq!(silent.message, "ssh to target exited 255 without a message");
    }
}
