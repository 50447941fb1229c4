//! Real OpenSSH in containers: the machinery of sshrace's second backend.
//!
//! - [`preflight`]: is Docker (and, to build images, mmdebstrap and root) here? One-line errors.
//! - [`image`]: the base image from Debian packages (mmdebstrap + `docker import`) and the
//!   `Dockerfile.target` image on top, per OpenSSH version; idempotent and cached.
//! - [`target`]: a run's targets (testcontainers 0.27), labelled with the run id; faults on them
//!   (pause, kill, restart, iptables); fetching the in-container ledger and sshd's log.
//! - [`ledger`]: that text (sshd's VERBOSE log, the sshrace-cmd ledger) to a core `Ledger`.
//! - [`clean`]: remove whatever an interrupted run left (`sshrace clean`).
//! - [`proxy`]: the userspace TCP fault proxy between every client and every target (latency,
//!   jitter, blackholes, NAT idle drops, resets).
//! - [`dialer`]: russh over real TCP through the proxy (a `Dialer` for `RusshTransport`).

pub mod clean;
pub mod dialer;
pub mod error;
pub mod image;
pub mod ledger;
pub mod preflight;
pub mod proxy;
pub mod target;

pub use clean::{clean, leftovers};
pub use dialer::{AddressBook, TcpDialer, generate_client_key};
pub use error::DockerError;
pub use image::{ImageReport, OpenSshProfile, ensure_image};
pub use preflight::{docker_available, image_tools_available, require_docker};
pub use proxy::FaultProxy;
pub use target::{Firewall, TargetSpec, Testbed};
