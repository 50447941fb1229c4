use std::fmt;

use crate::Cause;

/// How one client operation ended, judged against the server's ledger.
///
/// Invariant: [`Outcome::SilentFailure`] is only ever assigned when the client reported success
/// and the ledger shows that some command of the operation did not complete with exit 0; it is
/// always counted as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Reported success, and the server ran every command to exit 0.
    Success,
    /// The remote command ran and exited non-zero, and the client said so.
    RemoteExit(u32),
    /// Exit 255: an SSH-level failure, with its cause.
    Transport(Cause),
    /// The operation did not resolve within its deadline (or the scenario's end).
    Timeout,
    /// A working session was torn down by the client because a control plane said the host was
    /// unreachable while the transport was healthy.
    FalseDisconnect,
    /// Reported success for a command that never finished (or failed) on the server.
    SilentFailure,
    /// Reported success truthfully, but events it emitted after DONE were lost.
    LostEvent,
}

impl Outcome {
    /// Whether this outcome counts as a failed operation.
    pub fn is_failure(self) -> bool {
        self != Outcome::Success
    }

    /// A stable key for reports: `success`, `remote-exit`, `transport:closed-locally`, ...
    pub fn key(self) -> String {
        match self {
            Outcome::Success => "success".to_owned(),
            Outcome::RemoteExit(_) => "remote-exit".to_owned(),
            Outcome::Transport(cause) => format!("transport:{cause}"),
            Outcome::Timeout => "timeout".to_owned(),
            Outcome::FalseDisconnect => "false-disconnect".to_owned(),
            Outcome::SilentFailure => "silent-failure".to_owned(),
            Outcome::LostEvent => "lost-event".to_owned(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::RemoteExit(code) => write!(f, "remote-exit({code})"),
            other => f.write_str(&other.key()),
        }
    }
}
