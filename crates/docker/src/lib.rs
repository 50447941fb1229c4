//! Real OpenSSH in containers: sshrace's container backend, all of it. The runner plays the
//! plan and judges; this crate implements its real-time seam ([`RealTime`](sshrace_runner::RealTime)).
//!
//! - [`admission`]: which scenarios can run on containers and at what time scale
//!   ([`plan_docker`]); refusals name the fault or setting.
//! - [`backend`]: [`Containers`] (a runner `Backend`) and [`DockerRun`] start a run's targets,
//!   fault proxies and client transport; [`run_docker`] runs one job.
//! - [`nemesis`]: the timeline's network and host faults on containers and proxies.
//! - [`calibrate`]: each modelled OpenSSH behaviour measured on both backends.
//! - [`preflight`]: is Docker (and, to build images, mmdebstrap and root) here? One-line errors.
//! - [`image`]: the base image from Debian packages (mmdebstrap + `docker import`) and the
//!   `Dockerfile.target` image on top, per OpenSSH version; idempotent and cached.
//! - [`target`]: a run's targets (testcontainers 0.27), labelled with the run id; faults on them
//!   (pause, kill, restart, iptables); fetching the in-container ledger and sshd's log.
//! - [`client`]: another OpenSSH client than the host's `ssh` ([`ensure_client`]): the one in
//!   a target image, extracted with its libraries and loader and run on the host.
//! - [`ledger`]: that text (sshd's VERBOSE log, the sshrace-cmd ledger) to a core `Ledger`.
//! - [`clean`]: remove whatever an interrupted run left (`sshrace clean`).
//! - [`proxy`]: the userspace TCP fault proxy between every client and every target (latency,
//!   jitter, blackholes, NAT idle drops, resets).
//! - [`dialer`]: russh over real TCP through the proxy (a `Dialer` for `RusshTransport`).

pub mod admission;
pub mod backend;
pub mod calibrate;
pub mod clean;
pub mod client;
pub mod dialer;
pub mod error;
pub mod image;
pub mod ledger;
mod nemesis;
pub mod preflight;
pub mod proxy;
pub mod target;

pub use admission::{Refusal, plan_docker};
pub use backend::{Client, Containers, DockerRun, backend_name, run_docker};
pub use clean::{clean, leftovers};
pub use client::{SshClient, ensure_client};
pub use dialer::{AddressBook, TcpDialer, generate_client_key};
pub use error::DockerError;
pub use image::{ImageReport, OpenSshProfile, ensure_image};
pub use preflight::{docker_available, image_tools_available, require_docker};
pub use proxy::FaultProxy;
pub use target::{Firewall, TargetSpec, Testbed};
