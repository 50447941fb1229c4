//! A run's targets: sshd containers (testcontainers 0.27) labelled with the run id, the faults
//! on them (pause, kill, restart, iptables) and their ground truth read back as a core
//! [`Ledger`].

use crate::error::{DockerError, run, run_async};
use crate::image::OpenSsh;
use sshrace_core::{
    ConnectionEnd, ConnectionRecord, Ledger, SessionEnd, SessionRecord, SshdConfig,
};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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
/// A command killed within this long after its connection ended was killed by that loss.
const LOSS_SLACK: Duration = Duration::from_millis(150);

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
    version: OpenSsh,
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
    version: OpenSsh,
    spec: TargetSpec,
    key: String,
) -> Result<(ContainerAsync<GenericImage>, u16), DockerError> {
    let (name, tag) = version.target_image();
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
        version: OpenSsh,
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
    pub fn version(&self) -> OpenSsh {
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
