//! Errors: a program that could not start, a driver-side failure, and an error the program
//! reported (with the cause it names, or classified as `ssh`'s stderr).

use sshrace_core::{Cause, TransportError};

/// Why a program could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// `sh -c COMMAND` could not be spawned.
    #[error("could not start the driver program `{command}`: {source}")]
    Spawn {
        /// The program's command line.
        command: String,
        /// What spawning reported.
        #[source]
        source: std::io::Error,
    },
}

/// A driver-side failure (the program died, answered nonsense, too many requests): the
/// client side of the operation is gone, so [`Cause::ClosedLocally`].
pub(crate) fn driver_error(message: impl Into<String>) -> TransportError {
    TransportError::new(Cause::ClosedLocally, message)
}

/// The [`Cause`] named `name` (`channel-refused`), as [`Cause::name`] spells it.
pub fn cause_named(name: &str) -> Option<Cause> {
    Cause::ALL.into_iter().find(|cause| cause.name() == name)
}

/// An error the program reported, with the cause it named if any (`cause`, a [`Cause::name`]):
/// without one, `ssh`'s own words are classified as the OpenSSH transport classifies them, and
/// anything else is a lost connection that keeps the text (as the OpenSSH transport does with
/// exit-255 text no rule knows). An unknown cause name counts as none.
pub fn reported_error(text: &str, cause: Option<&str>, host: &str) -> TransportError {
    match cause.and_then(cause_named) {
        Some(cause) => TransportError::new(cause, text.trim()),
        None => classify_error(text, host),
    }
}

/// An error the program reported without a cause: `ssh`'s own words are classified as the
/// OpenSSH transport classifies them; anything else is a lost connection that keeps the text
/// (as the OpenSSH transport does with exit-255 text no rule knows).
pub fn classify_error(text: &str, host: &str) -> TransportError {
    sshrace_openssh::classify(text, host).unwrap_or_else(|| {
        let text = text.trim();
        TransportError::new(
            Cause::ConnectionLost,
            if text.is_empty() {
                format!("the driver reported an empty error for {host}")
            } else {
                format!("the driver reported for {host}: {text}")
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_ssh_words_keep_their_cause() {
        let lost = classify_error("Connection to 127.0.0.1 closed by remote host.\r\n", "t");
        assert_eq!(lost.cause, Cause::ConnectionLost);
        let refused = classify_error("channel 0: open failed: connect failed: open failed", "t");
        assert_eq!(refused.cause, Cause::ChannelRefused);
        let banner = classify_error(
            "kex_exchange_identification: Connection closed by remote host",
            "t",
        );
        assert_eq!(banner.cause, Cause::ClosedBeforeBanner);
        let named = reported_error(
            "ChannelOpenError: SSH connection closed",
            Some("connection-closed"),
            "t",
        );
        assert_eq!(named.cause, Cause::ConnectionClosed);
        assert_eq!(named.message, "ChannelOpenError: SSH connection closed");
        let unnamed = reported_error("open failed", Some("no-such-cause"), "t");
        assert_eq!(unnamed.cause, Cause::ChannelRefused);
        let other = classify_error("ValueError: something odd", "t");
        assert_eq!(other.cause, Cause::ConnectionLost);
        assert!(other.message.contains("something odd"), "{}", other.message);
    }
}
