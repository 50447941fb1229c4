//! The container backend: the runner's [`RealTime`] seam on real OpenSSH servers in
//! containers. A run starts one container per `[[host]]` (its sshd settings scaled and written
//! into its sshd_config), a userspace fault proxy in front of each, and the chosen client
//! transport (the OpenSSH client, or russh over real TCP). The runner plays the plan, scaled;
//! the [`Nemesis`] applies the timeline's faults; the in-container ledger is read back and the
//! runner judges every operation exactly as in the simulation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sshrace_core::{Fault, Ledger, StalledConnection, Transport};
use sshrace_openssh::OpenSshTransport;
use sshrace_runner::{
    Backend, Job, LiveHosts, LiveRun, ProgramSetup, RealTime, RunError, RunResult, run_real_time,
};
use sshrace_russh::RusshTransport;
use sshrace_scenario::Scenario;
use sshrace_strategy::StrategySpec;

use crate::admission::scaled_sshd;
use crate::dialer::{AddressBook, TcpDialer, generate_client_key};
use crate::image::OpenSshProfile;
use crate::nemesis::Nemesis;
use crate::proxy::FaultProxy;
use crate::target::{TargetSpec, Testbed};

/// Which SSH client the strategies' transport runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The host's OpenSSH client (`ssh` from PATH): a connection is a ControlMaster
    /// (`ssh -fNM`), a session `ssh -S`.
    OpenSsh,
    /// The OpenSSH client of this version, from the same Debian packages as that version's
    /// target image ([`ensure_client`](crate::client::ensure_client)), run on the host.
    OpenSshVersion(OpenSshProfile),
    /// russh over real TCP (cheap: floods of hundreds of connections).
    Russh,
}

impl Client {
    /// The name in reports: `openssh` (the host's), `openssh-10.0`, `russh`.
    pub fn name(self) -> &'static str {
        match self {
            Client::OpenSsh => "openssh",
            Client::OpenSshVersion(OpenSshProfile::OpenSsh92) => "openssh-9.2",
            Client::OpenSshVersion(OpenSshProfile::OpenSsh100) => "openssh-10.0",
            Client::Russh => "russh",
        }
    }

    /// How `--client` says it: `openssh`, `openssh:10.0`, `russh` ([`Client::parse`] reads it
    /// back).
    pub fn arg(self) -> String {
        match self {
            Client::OpenSshVersion(version) => format!("openssh:{}", version.version()),
            other => other.name().to_owned(),
        }
    }

    /// Whether the strategies run over an OpenSSH client (`ssh` processes).
    pub fn is_openssh(self) -> bool {
        matches!(self, Client::OpenSsh | Client::OpenSshVersion(_))
    }

    /// The values `--client` accepts, for help and errors.
    pub const ACCEPTED: &'static str = "openssh, openssh:9.2, openssh:10.0 or russh";

    /// `--client TEXT`: `openssh` (the host's ssh), `openssh:9.2`/`openssh:10.0` (also
    /// `openssh-9.2`...), `russh`; an unknown value is one line naming the accepted ones.
    pub fn parse(text: &str) -> Result<Client, String> {
        let text = text.trim();
        match text {
            "openssh" => return Ok(Client::OpenSsh),
            "russh" => return Ok(Client::Russh),
            _ => {}
        }
        text.strip_prefix("openssh:")
            .or_else(|| text.strip_prefix("openssh-"))
            .and_then(OpenSshProfile::from_name)
            .map(Client::OpenSshVersion)
            .ok_or_else(|| format!("{text:?} is not a client: use {}", Client::ACCEPTED))
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Client {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// How a scenario runs on containers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DockerRun {
    /// The OpenSSH server version (Debian suite of the target image).
    pub openssh: OpenSshProfile,
    /// Real seconds per scenario second (`1/60`: a minute of the scenario takes a second).
    pub time_scale: f64,
    /// The client transport.
    pub client: Client,
}

/// The name of container runs on `openssh` in reports and results files.
pub fn backend_name(openssh: OpenSshProfile) -> String {
    format!("docker-openssh-{}", openssh.version())
}

/// A [`RunError`] of this backend: `docker: {message}`.
fn docker_error(message: impl std::fmt::Display) -> RunError {
    RunError::Backend(format!("docker: {message}"))
}

/// Containers as a runner [`Backend`]: each job on the OpenSSH version of its scenario's
/// profile, at the time scale [`Containers::with_scale`] set for its scenario (1/1 if none).
#[derive(Debug, Clone)]
pub struct Containers {
    /// The client transport.
    pub client: Client,
    scales: BTreeMap<String, f64>,
}

impl Containers {
    /// Containers with the `client` transport, every scenario at 1/1 until told otherwise.
    pub fn new(client: Client) -> Containers {
        Containers {
            client,
            scales: BTreeMap::new(),
        }
    }

    /// Run the scenario named `scenario` at `time_scale` (as
    /// [`plan_docker`](crate::plan_docker) chose or checked it).
    pub fn with_scale(mut self, scenario: &str, time_scale: f64) -> Containers {
        self.scales.insert(scenario.to_owned(), time_scale);
        self
    }

    /// The time scale runs of `scenario` use.
    pub fn scale(&self, scenario: &Scenario) -> f64 {
        self.scales.get(&scenario.name).copied().unwrap_or(1.0)
    }
}

impl Backend for Containers {
    fn name(&self, scenario: &Scenario) -> String {
        backend_name(scenario.profile)
    }

    fn run(&self, job: &Job, keep_trace: bool) -> Result<RunResult, RunError> {
        let options = DockerRun {
            openssh: job.scenario.profile,
            time_scale: self.scale(&job.scenario),
            client: self.client,
        };
        run_real_time(&options, job, options.time_scale, keep_trace)
    }
}

/// Run `scenario` with `strategy` (built with
/// [`scaled_params`](sshrace_runner::scaled_params)) and `seed` on containers.
pub fn run_docker(
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    options: &DockerRun,
    keep_trace: bool,
) -> Result<RunResult, RunError> {
    let job = Job {
        scenario: Arc::new(scenario.clone()),
        strategy: strategy.clone(),
        seed,
    };
    run_real_time(options, &job, options.time_scale, keep_trace)
}

/// A run id unique on this machine: labels every container of the run.
fn run_id(scenario: &str, seed: u64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000);
    format!(
        "{}-{}-{seed}-{}-{nanos}",
        scenario.chars().take(24).collect::<String>(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

#[async_trait]
impl RealTime for DockerRun {
    fn name(&self, _: &Scenario) -> String {
        backend_name(self.openssh)
    }

    async fn start(&self, run: &LiveRun<'_>) -> Result<Box<dyn LiveHosts>, RunError> {
        let (scenario, scale) = (run.scenario, run.time_scale);
        let (key, key_openssh, public_key) = generate_client_key(run.seed);
        let mut identities: Vec<String> = run
            .plan
            .operations
            .iter()
            .map(|o| o.identity.clone())
            .collect();
        identities.sort();
        identities.dedup();
        let specs: Vec<TargetSpec> = scenario
            .hosts
            .iter()
            .map(|host| TargetSpec {
                name: host.name.clone(),
                sshd: scaled_sshd(&host.sshd, scale),
                identities: identities.clone(),
                extra_sshd_config: Vec::new(),
            })
            .collect();
        let id = run_id(&scenario.name, run.seed);
        let testbed = Testbed::start(&id, self.openssh, &specs, &public_key)
            .await
            .map_err(docker_error)?;
        // From here on the testbed is torn down whatever happens.
        let book = AddressBook::default();
        let mut hosts = ContainerHosts {
            testbed: Some(testbed),
            proxies: BTreeMap::new(),
            nemesis: Nemesis::new(book.clone(), run.trace.clone()),
            transport: None,
            openssh: None,
            scale: run.time_scale,
            key_openssh: key_openssh.clone(),
            users: identities,
            program_dir: Mutex::new(None),
        };
        match hosts
            .connect(run, self.client, book, key, &key_openssh)
            .await
        {
            Ok(()) => Ok(Box::new(hosts)),
            Err(error) => {
                Box::new(hosts).teardown().await;
                Err(error)
            }
        }
    }
}

/// One run's containers, their fault proxies and the client transport.
struct ContainerHosts {
    /// `None` once torn down.
    testbed: Option<Testbed>,
    proxies: BTreeMap<String, FaultProxy>,
    nemesis: Nemesis,
    transport: Option<Arc<dyn Transport>>,
    /// The OpenSSH client transport, to stop its masters before the ledger is read.
    openssh: Option<Arc<OpenSshTransport>>,
    /// Real seconds per scenario second.
    scale: f64,
    /// The run's client key (OpenSSH format) and the logins that take it.
    key_openssh: String,
    users: Vec<String>,
    /// A client program's scratch folder (key, known_hosts), removed at teardown.
    program_dir: Mutex<Option<std::path::PathBuf>>,
}

impl ContainerHosts {
    fn testbed(&self) -> &Testbed {
        self.testbed
            .as_ref()
            .expect("the testbed runs until teardown")
    }

    /// A fault proxy in front of each target, entered in `book` (the nemesis's), and the client
    /// transport through them.
    async fn connect(
        &mut self,
        run: &LiveRun<'_>,
        client: Client,
        book: AddressBook,
        key: russh::keys::PrivateKey,
        key_openssh: &str,
    ) -> Result<(), RunError> {
        let (scenario, scale, seed) = (run.scenario, run.time_scale, run.seed);
        let io = |what: &str, e: std::io::Error| docker_error(format!("{what}: {e}"));
        for host in &scenario.hosts {
            let upstream = self
                .testbed()
                .ssh_addr(&host.name)
                .ok_or_else(|| docker_error(format!("no port for {}", host.name)))?;
            let proxy = FaultProxy::start(&host.name, upstream)
                .await
                .map_err(|e| io("fault proxy", e))?;
            if !scenario.sim.latency.is_zero() || !scenario.sim.jitter.is_zero() {
                proxy.set_latency(
                    scenario.sim.latency.mul_f64(scale),
                    scenario.sim.jitter.mul_f64(scale),
                    seed,
                );
            }
            book.set(&host.name, proxy.addr());
            self.proxies.insert(host.name.clone(), proxy);
        }
        self.transport = Some(match client {
            Client::Russh => Arc::new(RusshTransport::with_key(
                TcpDialer { book },
                "client",
                run.trace.clone(),
                key,
            )),
            Client::OpenSsh | Client::OpenSshVersion(_) => {
                let program = match client {
                    Client::OpenSshVersion(version) => {
                        crate::client::ensure_client(version, &mut |line| tracing::info!("{line}"))
                            .map_err(docker_error)?
                            .program()
                    }
                    _ => sshrace_openssh::SshProgram::default(),
                };
                // Each run its own workdir: parallel runs in one process must not share the
                // key file or the control socket names.
                let workdir = OpenSshTransport::temp_workdir()
                    .map_err(|e| io("openssh client workdir", e))?;
                let transport = Arc::new(
                    OpenSshTransport::with_program(
                        book,
                        key_openssh,
                        workdir,
                        run.trace.clone(),
                        program,
                    )
                    .map_err(|e| io("openssh client", e))?,
                );
                self.openssh = Some(transport.clone());
                transport
            }
        });
        Ok(())
    }
}

#[async_trait]
impl LiveHosts for ContainerHosts {
    fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone().expect("connected before use")
    }

    async fn apply(&self, fault: &Fault) -> Result<(), String> {
        self.nemesis
            .apply(self.testbed(), &self.proxies, fault)
            .await
    }

    async fn ledger(
        &mut self,
        origin: SystemTime,
    ) -> Result<(Ledger, Vec<StalledConnection>), RunError> {
        // Close the stalled clients' connections before sshd's log is read, so they are not
        // taken for the strategy's leaks.
        let stalled = self.nemesis.stop_stalled();
        if let Some(openssh) = &self.openssh {
            openssh.shutdown().await;
        }
        for (_, proxy) in std::mem::take(&mut self.proxies) {
            proxy.shutdown().await;
        }
        // Let sshd notice the closes and the command scripts write their last lines.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let ledger = self
            .testbed()
            .ledger(origin, 1.0 / self.scale)
            .await
            .map_err(docker_error)?;
        Ok((ledger, stalled))
    }

    async fn program_setup(&self) -> Result<ProgramSetup, String> {
        let io = |what: &str, e: std::io::Error| format!("client program {what}: {e}");
        // A run folder, /tmp/sshrace-<pid>-<n>: an interrupted run's is removed on the way out,
        // and `sshrace clean` removes those of processes that are gone.
        let dir = OpenSshTransport::temp_workdir().map_err(|e| io("folder", e))?;
        *self.program_dir.lock().expect("program dir lock") = Some(dir.clone());
        let key_file = dir.join("id_ed25519");
        write_private(&key_file, &self.key_openssh).map_err(|e| io("key", e))?;
        let known_hosts = dir.join("known_hosts");
        let mut lines = String::new();
        let mut targets = Vec::new();
        for (name, proxy) in &self.proxies {
            let addr = proxy.addr();
            let host_key = self
                .testbed()
                .exec(name, &["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
                .await
                .map_err(|e| format!("host key of {name}: {e}"))?;
            let mut words = host_key.split_whitespace();
            if let (Some(kind), Some(key)) = (words.next(), words.next()) {
                lines.push_str(&format!("[{}]:{} {kind} {key}\n", addr.ip(), addr.port()));
            }
            targets.push(sshrace_driver::TargetInfo {
                name: name.clone(),
                address: addr.ip().to_string(),
                port: addr.port(),
                users: self.users.clone(),
                key_file: key_file.clone(),
                known_hosts: known_hosts.clone(),
            });
        }
        std::fs::write(&known_hosts, lines).map_err(|e| io("known_hosts", e))?;
        Ok(ProgramSetup {
            targets,
            workdir: dir,
        })
    }

    async fn teardown(mut self: Box<Self>) {
        if let Some(openssh) = self.openssh.take() {
            openssh.shutdown().await;
        }
        for (_, proxy) in std::mem::take(&mut self.proxies) {
            proxy.shutdown().await;
        }
        if let Some(testbed) = self.testbed.take() {
            testbed.shutdown().await;
        }
        if let Some(dir) = self.program_dir.lock().expect("program dir lock").take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Write `text` to a new file at `path` that only its owner may read (ssh refuses a private
/// key others can read).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_reads_back_from_its_arg_and_names_its_version_in_reports() {
        for client in [
            Client::OpenSsh,
            Client::OpenSshVersion(OpenSshProfile::OpenSsh92),
            Client::OpenSshVersion(OpenSshProfile::OpenSsh100),
            Client::Russh,
        ] {
            assert_eq!(Client::parse(&client.arg()), Ok(client));
        }
        let ten = Client::OpenSshVersion(OpenSshProfile::OpenSsh100);
        assert_eq!(ten.arg(), "openssh:10.0");
        assert_eq!(ten.name(), "openssh-10.0");
        assert_eq!(Client::parse("openssh-10.0"), Ok(ten));
        assert_eq!(Client::OpenSsh.arg(), "openssh");
        assert!(ten.is_openssh() && Client::OpenSsh.is_openssh() && !Client::Russh.is_openssh());
        let error = Client::parse("openssh:8.9").unwrap_err();
        assert_eq!(
            error,
            "\"openssh:8.9\" is not a client: use openssh, openssh:9.2, openssh:10.0 or russh"
        );
    }
}
