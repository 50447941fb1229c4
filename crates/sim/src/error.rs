/// Why a simulation could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A host's software failed (turmoil reported an error).
    #[error("simulation failed at {at_ms} ms: {message}")]
    Host {
        /// Simulated time of the failure.
        at_ms: u128,
        /// turmoil's message.
        message: String,
    },
    /// A fault names a host the world does not have.
    #[error("fault at {at_ms} ms names unknown host {host:?} (hosts: {known})")]
    UnknownHost {
        /// When the fault was due.
        at_ms: u128,
        /// The name it used.
        host: String,
        /// The hosts that exist.
        known: String,
    },
}
