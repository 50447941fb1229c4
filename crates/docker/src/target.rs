//! A run's targets: sshd containers (testcontainers 0.27) labelled with the run id, the faults
//! on them (pause, kill, restart, iptables) and their ground truth read back as a core
//! [`Ledger`] (fetched here, turned into the `Ledger` by [`crate::ledger`]).

use crate::error::{DockerError, run, run_async};
use crate::image::OpenSshProfile;
use crate::ledger::{HostEvidence, build_ledger};
use sshrace_core::{Ledger, SshdConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use testcontainers::bollard::models::PortBinding;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// Where sshrace-cmd appends its events inside a target.
pub const LEDGER_PATH: &str = "/var/lib/sshrace/ledger";
/// The line sshd prints once it accepts connections.
const READY: &str = "Server listening on 0.0.0.0";
/// How long a container may take to print [`READY`].
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// sshd settings for one target, durations already scaled; rendered as whole seconds
/// (round to nearest, at least 1 where the option needs > 0; `None` interval = 0/off).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// Scenario host name ("target", "web-1", ...).
    pub name: String,
    /// MaxStartups, MaxSessions, LoginGraceTime, ClientAlive*, revoked identities.
    pub sshd: SshdConfig,
    /// Login names to create (all sharing the run's client key); revoked ones are NOT created
    /// -> "Invalid user", authentication fails.
    pub identities: Vec<String>,
    /// Raw sshd_config lines, e.g. "PerSourcePenalties no" (calibration uses these).
    pub extra_sshd_config: Vec<String>,
}

impl TargetSpec {
    /// A target named `name` with default sshd settings and the one identity `sshrace`.
    pub fn new(name: &str) -> TargetSpec {
        TargetSpec {
            name: name.to_owned(),
            sshd: SshdConfig::default(),
            identities: vec!["sshrace".to_owned()],
            extra_sshd_config: Vec::new(),
        }
    }

    /// The lines of /etc/ssh/sshd_config.d/sshrace.conf for this target.
    pub fn sshd_config_lines(&self) -> Vec<String> {
        let secs = |d: Duration| d.as_secs_f64().round() as u64;
        let s = &self.sshd;
        let mut lines = vec![
            format!(
                "MaxStartups {}:{}:{}",
                s.max_startups.start, s.max_startups.rate, s.max_startups.full
            ),
            format!("MaxSessions {}", s.max_sessions),
            format!("LoginGraceTime {}", secs(s.login_grace_time).max(1)),
            format!(
                "ClientAliveInterval {}",
                s.client_alive_interval.map_or(0, |d| secs(d).max(1))
            ),
            format!("ClientAliveCountMax {}", s.client_alive_count_max),
        ];
        lines.extend(self.extra_sshd_config.iter().cloned());
        lines
    }

    /// The identities that get an account with the run's key (the revoked ones get one
    /// without: see [`TargetSpec::revoked_accounts`]).
    pub fn accounts(&self) -> Vec<String> {
        self.identities
            .iter()
            .filter(|i| !self.sshd.revoked_identities.contains(i))
            .cloned()
            .collect()
    }

    /// Login names whose key is revoked: they exist, with an empty `authorized_keys`, so a
    /// login fails the way a revoked key's does (which OpenSSH 10.0 penalises as authfail).
    pub fn revoked_accounts(&self) -> Vec<String> {
        self.identities
            .iter()
            .filter(|i| self.sshd.revoked_identities.contains(i))
            .cloned()
            .collect()
    }
}

/// A firewall rule inside a target (iptables, nf_tables), on tcp port 22 traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firewall {
    /// Drop tcp/22 segments silently: `inbound` client->sshd, `outbound` sshd->client.
    Drop {
        /// Drop what clients send to sshd.
        inbound: bool,
        /// Drop what sshd sends to clients.
        outbound: bool,
    },
    /// Answer with tcp-reset.
    Reset,
    /// Remove every rule this added.
    Clear,
}

impl Firewall {
    /// The shell script run in the container (rules live in the chains sshrace_in/sshrace_out;
    /// every call replaces what an earlier one added).
    fn script(self) -> String {
        let mut script = String::from(
            "iptables -w -N sshrace_in 2>/dev/null && iptables -w -I INPUT -j sshrace_in; \
             iptables -w -N sshrace_out 2>/dev/null && iptables -w -I OUTPUT -j sshrace_out; \
             iptables -w -F sshrace_in && iptables -w -F sshrace_out",
        );
        match self {
            Firewall::Drop { inbound, outbound } => {
                if inbound {
                    script.push_str(" && iptables -w -A sshrace_in -p tcp --dport 22 -j DROP");
                }
                if outbound {
                    script.push_str(" && iptables -w -A sshrace_out -p tcp --sport 22 -j DROP");
                }
            }
            Firewall::Reset => script.push_str(
                " && iptables -w -A sshrace_in -p tcp --dport 22 -j REJECT --reject-with tcp-reset",
            ),
            Firewall::Clear => {}
        }
        script
    }
}

struct Target {
    name: String,
    id: String,
    container: Mutex<Option<ContainerAsync<GenericImage>>>,
    port: Mutex<u16>,
    /// When `kill` crashed it (wall clock), in order.
    crashes: Mutex<Vec<SystemTime>>,
}

/// The targets of one run. Removes its containers on [`Testbed::shutdown`] and on drop.
pub struct Testbed {
    run_id: String,
    version: OpenSshProfile,
    targets: Vec<Target>,
    removed: bool,
}

impl std::fmt::Debug for Testbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Testbed")
            .field("run_id", &self.run_id)
            .field("version", &self.version)
            .field(
                "targets",
                &self
                    .targets
                    .iter()
                    .map(|t| (&t.name, &t.id))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

async fn start_one(
    run_id: String,
    version: OpenSshProfile,
    spec: TargetSpec,
    key: String,
) -> Result<(ContainerAsync<GenericImage>, u16), DockerError> {
    let (name, tag) = crate::image::target_image(version);
    let request = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stderr(READY))
        .with_mapped_port(0, 22.tcp())
        .with_label("sshrace", "1")
        .with_label("sshrace.run", run_id)
        .with_label("sshrace.pid", std::process::id().to_string())
        .with_label("sshrace.host", spec.name.clone())
        .with_cap_add("NET_ADMIN")
        .with_env_var("SSHRACE_SSHD_CONFIG", spec.sshd_config_lines().join("\n"))
        .with_env_var("SSHRACE_USERS", spec.accounts().join(" "))
        .with_env_var("SSHRACE_REVOKED_USERS", spec.revoked_accounts().join(" "))
        .with_env_var("SSHRACE_AUTHORIZED_KEY", key.trim())
        .with_startup_timeout(STARTUP_TIMEOUT)
        .with_host_config_modifier(|host| {
            // Published on 127.0.0.1 only, on a port Docker picks.
            host.publish_all_ports = Some(false);
            host.port_bindings = Some(
                [(
                    "22/tcp".to_owned(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".to_owned()),
                        host_port: Some(String::new()),
                    }]),
                )]
                .into_iter()
                .collect(),
            );
        });
    let container = request
        .start()
        .await
        .map_err(|e| DockerError::other(&format!("start target {}", spec.name), e))?;
    let port = match container.get_host_port_ipv4(22).await {
        Ok(port) => port,
        Err(e) => {
            remove_now(&[container.id().to_owned()]);
            std::mem::forget(container);
            return Err(DockerError::other("published port of 22", e));
        }
    };
    Ok((container, port))
}

/// `docker rm -f` synchronously, best effort.
fn remove_now(ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let _ = run(std::process::Command::new("docker")
        .args(["rm", "-f", "-v"])
        .args(ids));
}

impl Testbed {
    /// Start every target (testcontainers 0.27 GenericImage of sshrace-target:<suite>), each
    /// with label `sshrace.run=<run_id>` (and `sshrace=1`), `--cap-add NET_ADMIN`, port 22
    /// published on 127.0.0.1 only, the sshd settings written into
    /// /etc/ssh/sshd_config.d/sshrace.conf, fresh host keys (ssh-keygen -A at start, never in the
    /// image), `authorized_keys` = `client_public_key` (OpenSSH one-line format) for every
    /// identity; `LogLevel VERBOSE`; ready when sshd prints "Server listening".
    /// Starts targets concurrently. On any failure, removes what it started.
    pub async fn start(
        run_id: &str,
        version: OpenSshProfile,
        targets: &[TargetSpec],
        client_public_key: &str,
    ) -> Result<Testbed, DockerError> {
        let mut tasks = tokio::task::JoinSet::new();
        for (index, spec) in targets.iter().enumerate() {
            let future = start_one(
                run_id.to_owned(),
                version,
                spec.clone(),
                client_public_key.to_owned(),
            );
            tasks.spawn(async move { (index, future.await) });
        }
        let mut started: Vec<Option<(ContainerAsync<GenericImage>, u16)>> =
            targets.iter().map(|_| None).collect();
        let mut failure = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, Ok(pair))) => started[index] = Some(pair),
                Ok((_, Err(e))) => failure = failure.or(Some(e)),
                Err(e) => failure = failure.or(Some(DockerError::other("start task", e))),
            }
        }
        let testbed = Testbed {
            run_id: run_id.to_owned(),
            version,
            removed: false,
            targets: targets
                .iter()
                .zip(started)
                .filter_map(|(spec, pair)| {
                    pair.map(|(container, port)| Target {
                        name: spec.name.clone(),
                        id: container.id().to_owned(),
                        container: Mutex::new(Some(container)),
                        port: Mutex::new(port),
                        crashes: Mutex::new(Vec::new()),
                    })
                })
                .collect(),
        };
        match failure {
            Some(e) => Err(e), // dropping the testbed removes what started
            None => Ok(testbed),
        }
    }

    /// The run id every container is labelled with (`sshrace.run`).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The OpenSSH version the targets run.
    pub fn version(&self) -> OpenSshProfile {
        self.version
    }

    /// The scenario host names, in the order they were given.
    pub fn hosts(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }

    /// The Docker container id of `host`.
    pub fn container_id(&self, host: &str) -> Option<&str> {
        self.target(host).ok().map(|t| t.id.as_str())
    }

    fn target(&self, host: &str) -> Result<&Target, DockerError> {
        self.targets
            .iter()
            .find(|t| t.name == host)
            .ok_or_else(|| DockerError::Other(format!("no target named {host:?}")))
    }

    /// 127.0.0.1:<published port of 22> of `host` (changes after a restart: ask again).
    pub fn ssh_addr(&self, host: &str) -> Option<SocketAddr> {
        let target = self.target(host).ok()?;
        let port = *target.port.lock().unwrap();
        Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    async fn docker(&self, args: &[&str]) -> Result<String, DockerError> {
        run_async(tokio::process::Command::new("docker").args(args)).await
    }

    /// Freeze `host` (`docker pause`): its processes stop, its TCP stack keeps answering.
    pub async fn pause(&self, host: &str) -> Result<(), DockerError> {
        let target = self.target(host)?;
        self.docker(&["pause", &target.id]).await.map(drop)
    }

    /// Thaw a paused `host` (`docker unpause`).
    pub async fn unpause(&self, host: &str) -> Result<(), DockerError> {
        let target = self.target(host)?;
        self.docker(&["unpause", &target.id]).await.map(drop)
    }

    /// Crash `host` (`docker kill`, SIGKILL to everything in it). Its open connections and
    /// sessions end as HostCrashed / KilledHostCrashed at this instant in the ledger.
    pub async fn kill(&self, host: &str) -> Result<(), DockerError> {
        let target = self.target(host)?;
        let at = SystemTime::now();
        self.docker(&["kill", &target.id]).await?;
        target.crashes.lock().unwrap().push(at);
        // `docker kill` returns once the signal is sent; a `docker start` before the container
        // has stopped would do nothing. `docker wait` returns when it has.
        tokio::time::timeout(STARTUP_TIMEOUT, self.docker(&["wait", &target.id]))
            .await
            .map_err(|_| {
                DockerError::Other(format!(
                    "target {host} still running {STARTUP_TIMEOUT:?} after docker kill"
                ))
            })??;
        Ok(())
    }

    /// Whether `host`'s container is running (not killed, not exited; a paused one is).
    async fn running(&self, id: &str) -> Result<bool, DockerError> {
        let out = self
            .docker(&["inspect", "--format", "{{.State.Running}}", id])
            .await?;
        Ok(out.trim() == "true")
    }

    /// Start a killed target again (same container; a running one is killed first), wait for
    /// "Server listening" again, refresh its published port. Firewall rules are gone
    /// afterwards (new network namespace).
    pub async fn restart(&self, host: &str) -> Result<(), DockerError> {
        let target = self.target(host)?;
        if self.running(&target.id).await? {
            // Restarting a running host crashes it first, as the simulation bounces it (an
            // sshd restart that takes its sessions down): `docker start` alone would do nothing.
            self.kill(host).await?;
        }
        let before = self.ready_count(&target.id).await?;
        self.docker(&["start", &target.id]).await?;
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        while self.ready_count(&target.id).await? <= before {
            if tokio::time::Instant::now() > deadline {
                let state = self
                    .docker(&["inspect", "--format", "{{.State.Status}}", &target.id])
                    .await
                    .unwrap_or_default();
                return Err(DockerError::Other(format!(
                    "target {host} not ready {STARTUP_TIMEOUT:?} after restart (container {})",
                    state.trim()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let out = self.docker(&["port", &target.id, "22/tcp"]).await?;
        let port = out
            .lines()
            .filter_map(|l| l.trim().strip_prefix("127.0.0.1:"))
            .find_map(|p| p.parse::<u16>().ok())
            .ok_or_else(|| DockerError::Other(format!("no 127.0.0.1 port for {host}: {out}")))?;
        *target.port.lock().unwrap() = port;
        Ok(())
    }

    async fn ready_count(&self, id: &str) -> Result<usize, DockerError> {
        let output = tokio::process::Command::new("docker")
            .args(["logs", id])
            .output()
            .await
            .map_err(|e| DockerError::other("docker logs", e))?;
        Ok(String::from_utf8_lossy(&output.stderr)
            .matches(READY)
            .count())
    }

    /// iptables inside the container (nf_tables), on tcp port 22 traffic. Each call replaces
    /// the rules an earlier call added.
    pub async fn iptables(&self, host: &str, rule: Firewall) -> Result<(), DockerError> {
        let target = self.target(host)?;
        self.docker(&["exec", &target.id, "sh", "-c", &rule.script()])
            .await
            .map(drop)
    }

    /// Run a command in `host` as root (`docker exec`); its stdout.
    pub async fn exec(&self, host: &str, command: &[&str]) -> Result<String, DockerError> {
        let target = self.target(host)?;
        let mut args = vec!["exec", target.id.as_str()];
        args.extend_from_slice(command);
        self.docker(&args).await
    }

    /// sshd's log of `host` (stderr), for tests and diagnostics.
    pub async fn sshd_log(&self, host: &str) -> Result<String, DockerError> {
        let target = self.target(host)?;
        self.logs(&target.id, false).await
    }

    async fn logs(&self, id: &str, timestamps: bool) -> Result<String, DockerError> {
        let mut command = tokio::process::Command::new("docker");
        command.arg("logs");
        if timestamps {
            command.arg("--timestamps");
        }
        let output = command
            .arg(id)
            .output()
            .await
            .map_err(|e| DockerError::other("docker logs", e))?;
        if !output.status.success() {
            return Err(DockerError::Command {
                command: format!("docker logs {id}"),
                detail: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stderr).into_owned())
    }

    async fn ledger_file(&self, id: &str) -> Result<String, DockerError> {
        let dir = tempfile::tempdir().map_err(|e| DockerError::other("temp dir", e))?;
        let file = dir.path().join("ledger");
        self.docker(&[
            "cp",
            &format!("{id}:{LEDGER_PATH}"),
            &file.to_string_lossy(),
        ])
        .await?;
        tokio::fs::read_to_string(&file)
            .await
            .map_err(|e| DockerError::other("read copied ledger", e))
    }

    /// Read the in-container ledger files and sshd's log of every target and build the run's
    /// server-side ground truth. `origin` is the wall-clock instant of the run's time zero;
    /// `scale` is scenario seconds per real second: a record at real instant t gets
    /// `(t - origin) * scale`. See [`build_ledger`] for how records are derived.
    pub async fn ledger(&self, origin: SystemTime, scale: f64) -> Result<Ledger, DockerError> {
        let mut hosts = Vec::new();
        for target in &self.targets {
            let log = self.logs(&target.id, true).await?;
            let ledger = self.ledger_file(&target.id).await?;
            let crashes = target.crashes.lock().unwrap().clone();
            keep_evidence(&self.run_id, &target.name, &log, &ledger);
            hosts.push(HostEvidence {
                host: target.name.clone(),
                sshd_log: log,
                ledger,
                crashes,
            });
        }
        Ok(build_ledger(&hosts, origin, scale))
    }

    /// Remove every container (also done on Drop, best effort, synchronously via `docker rm -f`).
    pub async fn shutdown(mut self) {
        let ids: Vec<String> = self.targets.iter().map(|t| t.id.clone()).collect();
        if !ids.is_empty() {
            let _ = run_async(
                tokio::process::Command::new("docker")
                    .args(["rm", "-f", "-v"])
                    .args(&ids),
            )
            .await;
        }
        // Drop then has nothing left to remove.
        self.removed = true;
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if !self.removed {
            let ids: Vec<String> = self.targets.iter().map(|t| t.id.clone()).collect();
            remove_now(&ids);
        }
        for target in &self.targets {
            // testcontainers' own drop needs a tokio runtime; the containers are gone already.
            if let Some(container) = target.container.lock().unwrap().take() {
                std::mem::forget(container);
            }
        }
    }
}

/// Where `SSHRACE_KEEP_SSHD_LOGS` names a directory, copy a target's raw evidence there as
/// `<run>-<host>.sshd.log` (sshd's VERBOSE log with Docker's timestamps) and
/// `<run>-<host>.ledger`, for reading what the real sshd did (best effort: a failure to write
/// is reported on stderr and the run goes on).
fn keep_evidence(run_id: &str, host: &str, log: &str, ledger: &str) {
    let Some(dir) = std::env::var_os("SSHRACE_KEEP_SSHD_LOGS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{run_id}-{host}.sshd.log")), log)?;
        std::fs::write(dir.join(format!("{run_id}-{host}.ledger")), ledger)
    };
    if let Err(error) = write() {
        eprintln!(
            "sshrace: could not keep the sshd log in {}: {error}",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_renders_whole_seconds() {
        let mut spec = TargetSpec::new("t");
        spec.sshd.login_grace_time = Duration::from_millis(400);
        spec.sshd.client_alive_interval = Some(Duration::from_millis(2_600));
        spec.identities = vec!["a".into(), "b".into()];
        spec.sshd.revoked_identities = vec!["b".into()];
        spec.extra_sshd_config = vec!["PerSourcePenalties no".into()];
        assert_eq!(
            spec.sshd_config_lines(),
            [
                "MaxStartups 10:30:100",
                "MaxSessions 10",
                "LoginGraceTime 1",
                "ClientAliveInterval 3",
                "ClientAliveCountMax 3",
                "PerSourcePenalties no"
            ]
        );
        assert_eq!(spec.accounts(), ["a"]);
        assert!(Firewall::Clear.script().contains("-F sshrace_in"));
    }
}
