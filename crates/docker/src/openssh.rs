//! The OpenSSH client (`ssh` processes) as an [`sshrace_core::Transport`].
//!
//! A connection is a ControlMaster: `ssh -N -M -S <workdir>/c<id>.sock -o ControlPersist=no`,
//! kept as a child process (so it dies with the run: `kill_on_drop`), ready once its control
//! socket appears (OpenSSH creates it after authentication). A session is one
//! `ssh -S <socket> -o ControlMaster=no ... -- <command>` process with stdout and stderr piped.
//! Everything OpenSSH does is left to OpenSSH: a session whose master is killed exits 255, a
//! session refused by MaxSessions makes the client fall back to a direct connection ("disabling
//! multiplexing"), `-O stop` lets running sessions finish.
//!
//! Exit 255 is mapped to the [`Cause`]s the simulation uses, from what `ssh` printed (the
//! session's stderr, or when it printed nothing, how its master ended). Unknown text becomes
//! [`Cause::ConnectionLost`] with the text kept in the message.
//!
//! `LogLevel=INFO`, not `ERROR`: OpenSSH logs `Timeout, server HOST not responding.` at INFO,
//! so at ERROR a keepalive timeout would be indistinguishable from any other loss. Lines that
//! are `ssh`'s own diagnostics (`Warning: Permanently added ...`, `mux_client_...`,
//! `Control socket connect(...)`, ...) are kept out of the [`SessionEvent::Stderr`] counts.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sshrace_core::{
    Cause, ConnectOptions, Connection, Mark, Session, SessionEvent, Trace, Transport,
    TransportError,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

use crate::dialer::AddressBook;

/// The host name the client's trace events carry (as in the simulation).
const CLIENT_HOST: &str = "client";

/// The track the client's connections are drawn on (as `RusshTransport` draws them).
const CONNECTIONS_TRACK: &str = "connections";

/// Longest workdir path accepted: the control socket (`<workdir>/c<id>.sock`, plus the 17
/// characters of OpenSSH's temporary name for it) must fit a 108-byte `sun_path`.
const MAX_WORKDIR_LEN: usize = 60;

/// How long a session that exited 255 without a message waits for its master's end to be
/// known, to take its cause from it.
const MASTER_END_GRACE: Duration = Duration::from_millis(500);

/// How long `close` waits for a master to exit after `-O exit` before killing it.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// The OpenSSH client (`ssh` processes) as an `sshrace_core::Transport`.
pub struct OpenSshTransport {
    shared: Arc<ClientState>,
}

impl std::fmt::Debug for OpenSshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSshTransport")
            .field("workdir", &self.shared.workdir)
            .finish()
    }
}

/// What the transport and all its connections share.
struct ClientState {
    book: AddressBook,
    workdir: PathBuf,
    key_file: PathBuf,
    trace: Trace,
    next_id: AtomicU64,
    /// Set at shutdown: every process still running is killed.
    shutdown: watch::Sender<bool>,
    masters: Mutex<Vec<Arc<Master>>>,
}

impl Drop for ClientState {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

impl OpenSshTransport {
    /// `workdir`: a private temp dir for control sockets and the key file (created if missing,
    /// removed on drop; at most 60 bytes long so socket paths fit, see
    /// [`OpenSshTransport::temp_workdir`]); `key_openssh`: the client private key in OpenSSH PEM
    /// format.
    ///
    /// The workdir is this transport's alone: one that already holds a key file is refused
    /// (`AlreadyExists`). Two transports sharing one would use each other's key and each other's
    /// control sockets (`c0.sock` in both), so one run's sessions would reach the other run's
    /// targets.
    pub fn new(
        book: AddressBook,
        key_openssh: &str,
        workdir: PathBuf,
        trace: Trace,
    ) -> io::Result<Self> {
        if workdir.as_os_str().len() > MAX_WORKDIR_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "workdir {} is longer than {MAX_WORKDIR_LEN} bytes: control socket paths would not fit",
                    workdir.display()
                ),
            ));
        }
        std::fs::create_dir_all(&workdir)?;
        let key_file = workdir.join("id");
        write_private(&key_file, key_openssh).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    e.kind(),
                    format!(
                        "workdir {} is already another transport's (it holds a key file); give each transport its own, e.g. OpenSshTransport::temp_workdir()",
                        workdir.display()
                    ),
                )
            } else {
                e
            }
        })?;
        Ok(Self {
            shared: Arc::new(ClientState {
                book,
                workdir,
                key_file,
                trace,
                next_id: AtomicU64::new(0),
                shutdown: watch::Sender::new(false),
                masters: Mutex::default(),
            }),
        })
    }

    /// A fresh, short, private directory under /tmp for [`OpenSshTransport::new`]
    /// (`/tmp/sshrace-<pid>-<n>`), made by this call: a path that exists already (left by an
    /// earlier process with the same pid) is skipped, so no two calls share a directory.
    pub fn temp_workdir() -> io::Result<PathBuf> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        fresh_dir_under(Path::new("/tmp"), &NEXT)
    }

    /// Kill every master and session process still running (run end), and wait for the
    /// masters to be gone.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let masters: Vec<Arc<Master>> =
            std::mem::take(&mut *self.shared.masters.lock().expect("masters lock"));
        for master in masters {
            let mut end = master.end.subscribe();
            let _ = end.wait_for(|e| e.is_some()).await;
        }
    }
}

/// A directory `<parent>/sshrace-<pid>-<n>` made by this call (mode 0700), `n` drawn from
/// `next`; paths that exist already are skipped.
fn fresh_dir_under(parent: &Path, next: &AtomicU64) -> io::Result<PathBuf> {
    loop {
        let dir = parent.join(format!(
            "sshrace-{}-{}",
            std::process::id(),
            next.fetch_add(1, Ordering::SeqCst)
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn write_private(path: &Path, text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// Whole seconds, rounded up (OpenSSH options take seconds; 0 would mean off).
fn ceil_secs(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
    .max(1)
}

/// The `ssh` options every process of a connection gets: no user config, the run's key only,
/// no prompts, no host key pinning, the connection's timeouts.
fn common_args(key_file: &Path, addr: SocketAddr, options: &ConnectOptions) -> Vec<String> {
    let mut args: Vec<String> = [
        "-F",
        "/dev/null",
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=INFO",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push("-i".into());
    args.push(key_file.display().to_string());
    if let Some(limit) = options.connect_timeout.filter(|d| !d.is_zero()) {
        args.push("-o".into());
        args.push(format!("ConnectTimeout={}", ceil_secs(limit)));
    }
    let interval = options
        .server_alive_interval
        .filter(|d| !d.is_zero())
        .map_or(0, ceil_secs);
    args.push("-o".into());
    args.push(format!("ServerAliveInterval={interval}"));
    args.push("-o".into());
    args.push(format!(
        "ServerAliveCountMax={}",
        options.server_alive_count_max
    ));
    args.push("-p".into());
    args.push(addr.port().to_string());
    args.push("-l".into());
    args.push(options.identity.clone());
    args
}

#[async_trait]
impl Transport for OpenSshTransport {
    async fn connect(
        &self,
        host: &str,
        options: &ConnectOptions,
    ) -> Result<Arc<dyn Connection>, TransportError> {
        let shared = &self.shared;
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        shared.trace.record_marked(
            CLIENT_HOST,
            format!("c{id}: connect to {host}"),
            vec![Mark::begin(
                connection_span(id),
                format!("c{id} to {host}"),
                CONNECTIONS_TRACK,
            )],
        );
        let result = start_master(shared, id, host, options).await;
        match &result {
            Ok(_) => shared
                .trace
                .record(CLIENT_HOST, format!("c{id}: authenticated to {host}")),
            Err(error) => shared.trace.record_marked(
                CLIENT_HOST,
                format!("c{id}: connect failed: {}", error.message),
                vec![Mark::end(connection_span(id))],
            ),
        }
        result.map(|master| {
            shared
                .masters
                .lock()
                .expect("masters lock")
                .push(master.clone());
            Arc::new(OpenSshConnection { master }) as Arc<dyn Connection>
        })
    }
}

fn connection_span(id: u64) -> String {
    format!("c{id}")
}

/// How a master process ended.
#[derive(Debug, Clone)]
struct MasterEnd {
    /// Why, as a session on it would report it.
    error: TransportError,
}

/// One ControlMaster process and what is known about it.
struct Master {
    id: u64,
    host: String,
    addr: SocketAddr,
    socket: PathBuf,
    args: Vec<String>,
    trace: Trace,
    /// Set when the master process has exited.
    end: watch::Sender<Option<MasterEnd>>,
    /// `close` was called (`-O exit`).
    closed_locally: AtomicBool,
    /// `drain` was called (`-O stop`).
    draining: AtomicBool,
    /// Session processes running on it.
    open: AtomicUsize,
    /// Its control socket appeared: connected and authenticated.
    ready: AtomicBool,
    /// Dropping (or sending on) this kills the master process.
    kill: Mutex<Option<oneshot::Sender<()>>>,
    shutdown: watch::Receiver<bool>,
    /// `ControlPersist`: OpenSSH then backgrounds the master after authentication (the `ssh`
    /// we started exits 0, the master's stderr goes to /dev/null) and the master exits by
    /// itself once idle that long. Its log goes to `log` (`ssh -E`) instead.
    persist: Option<Duration>,
    log: PathBuf,
    /// The backgrounded master's pid (from `ssh -O check`): unknown yet, none, or the pid.
    daemon: watch::Sender<Option<Option<i32>>>,
}

async fn start_master(
    shared: &ClientState,
    id: u64,
    host: &str,
    options: &ConnectOptions,
) -> Result<Arc<Master>, TransportError> {
    let addr = shared.book.get(host).ok_or_else(|| {
        TransportError::new(
            Cause::ConnectionRefused,
            format!("ssh: Could not resolve hostname {host}: Name or service not known"),
        )
    })?;
    let socket = shared.workdir.join(format!("c{id}.sock"));
    let _ = std::fs::remove_file(&socket);
    let args = common_args(&shared.key_file, addr, options);
    let mut command = Command::new("ssh");
    command
        .args(&args)
        .args(["-N", "-M", "-S"])
        .arg(&socket)
        .arg("-o")
        .arg(match options.control_persist {
            Some(persist) => format!("ControlPersist={}", ceil_secs(persist)),
            None => "ControlPersist=no".to_owned(),
        })
        .args(["-o", "ExitOnForwardFailure=yes"]);
    let log = shared.workdir.join(format!("c{id}.log"));
    if options.control_persist.is_some() {
        let _ = std::fs::remove_file(&log);
        command.arg("-E").arg(&log);
    }
    command
        .arg(addr.ip().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|error| {
        TransportError::new(
            Cause::ConnectionLost,
            format!("ssh: could not start the OpenSSH client: {error}"),
        )
    })?;
    let stderr_pipe = child.stderr.take().expect("stderr piped");
    let stderr = Arc::new(Mutex::new(String::new()));
    let (kill_tx, kill_rx) = oneshot::channel();
    let master = Arc::new(Master {
        id,
        host: host.to_owned(),
        addr,
        socket: socket.clone(),
        args,
        trace: shared.trace.clone(),
        end: watch::Sender::new(None),
        closed_locally: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        open: AtomicUsize::new(0),
        ready: AtomicBool::new(false),
        kill: Mutex::new(Some(kill_tx)),
        shutdown: shared.shutdown.subscribe(),
        persist: options.control_persist,
        log,
        daemon: watch::Sender::new(None),
    });
    tokio::spawn(watch_master(
        master.clone(),
        child,
        stderr_pipe,
        stderr.clone(),
        kill_rx,
    ));
    // Ready when the control socket appears (OpenSSH creates it after authentication), failed
    // when the process exits first.
    let mut end = master.end.subscribe();
    loop {
        if socket.exists() {
            if master.persist.is_some() {
                // "Master running (pid=N)": the backgrounded master, to kill at the end.
                let (_, text) = master.control("check").await;
                let pid = text
                    .split_once("pid=")
                    .and_then(|(_, rest)| rest.split(')').next()?.trim().parse().ok());
                master.daemon.send_replace(Some(pid));
            }
            master.ready.store(true, Ordering::SeqCst);
            return Ok(master);
        }
        if let Some(ended) = end.borrow().clone() {
            return Err(ended.error);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = end.changed() => {}
        }
    }
}

/// Own the master process: collect its stderr, kill it when told (or at shutdown), and
/// publish how it ended.
async fn watch_master(
    master: Arc<Master>,
    mut child: Child,
    stderr_pipe: impl AsyncRead + Unpin + Send + 'static,
    stderr: Arc<Mutex<String>>,
    kill: oneshot::Receiver<()>,
) {
    let reader = tokio::spawn(collect(stderr_pipe, stderr.clone()));
    let mut shutdown = master.shutdown.clone();
    let mut kill = kill;
    let mut status: Option<ExitStatus> = tokio::select! {
        status = child.wait() => status.ok(),
        _ = &mut kill => {
            let _ = child.kill().await;
            None
        }
        _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
            let _ = child.kill().await;
            None
        }
    };
    let mut persisted_idle = false;
    if master.persist.is_some() && status.is_some_and(|s| s.success()) {
        // ControlPersist: the `ssh` we started left after authentication and the master lives
        // on in the background (its pid comes from `ssh -O check`) until it exits.
        let mut daemon = master.daemon.subscribe();
        let killed = tokio::select! {
            _ = async {
                let pid = daemon.wait_for(|d| d.is_some()).await.ok().and_then(|d| (*d).flatten());
                if let Some(pid) = pid {
                    process_gone(pid).await;
                }
            } => false,
            _ = &mut kill => true,
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => true,
        };
        let pid = (*master.daemon.borrow()).flatten();
        if killed && let Some(pid) = pid {
            // SAFETY: kill(2) on the pid `ssh -O check` reported for this run's own master.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            process_gone(pid).await;
        }
        status = None;
        persisted_idle = !killed && master.open.load(Ordering::SeqCst) == 0;
    }
    // The stderr pipe closes with the process (unless a grandchild holds it: bounded wait).
    let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
    let mut text = stderr.lock().expect("stderr lock").clone();
    if master.persist.is_some() {
        text.push_str(&std::fs::read_to_string(&master.log).unwrap_or_default());
    }
    let was_ready = master.ready.load(Ordering::SeqCst);
    let host = &master.host;
    let persist_note = master
        .persist
        .map(|p| format!("ControlPersist {}s idle", ceil_secs(p)));
    let error =
        if master.closed_locally.load(Ordering::SeqCst) || master.draining.load(Ordering::SeqCst) {
            TransportError::new(
                Cause::ClosedLocally,
                format!("ClientState connection to {host} closed."),
            )
        } else if persisted_idle && classify(&text, host).is_none() {
            // An idle master that exits quietly: ControlPersist ran out.
            TransportError::new(
                Cause::ClosedLocally,
                format!(
                    "Control master to {host} exited: {}",
                    persist_note.clone().unwrap_or_default()
                ),
            )
        } else {
            match classify(&text, host) {
                Some(error) => error,
                None if !was_ready && status.is_some_and(|s| s.code() == Some(255)) => {
                    unknown(&text, host)
                }
                None => TransportError::new(
                    Cause::ConnectionLost,
                    match status {
                        Some(status) => format!(
                            "Connection to {host} closed: master exited ({status}){}",
                            tail(&text)
                        ),
                        None => format!("Connection to {host} closed: master killed"),
                    },
                ),
            }
        };
    let _ = std::fs::remove_file(&master.socket);
    if was_ready {
        let what = if master.closed_locally.load(Ordering::SeqCst) {
            None // traced by close()
        } else if master.draining.load(Ordering::SeqCst) {
            Some(format!("c{}: closed (drained)", master.id))
        } else if error.cause == Cause::ClosedLocally {
            Some(format!(
                "c{}: closed ({})",
                master.id,
                persist_note.unwrap_or_default()
            ))
        } else {
            Some(format!("c{}: lost: {}", master.id, error.message))
        };
        if let Some(what) = what {
            master.trace.record_marked(
                CLIENT_HOST,
                what,
                vec![Mark::end(connection_span(master.id))],
            );
        }
    }
    master.end.send_replace(Some(MasterEnd { error }));
}

/// Wait until process `pid` (not our child: a backgrounded master) has exited: gone, or a
/// zombie its new parent has not reaped yet.
async fn process_gone(pid: i32) {
    let stat = format!("/proc/{pid}/stat");
    loop {
        match std::fs::read_to_string(&stat) {
            Err(_) => return,
            // "pid (comm) S ...": the state follows the last ')'.
            Ok(text)
                if text
                    .rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with(['Z', 'X'])) =>
            {
                return;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Append everything read from `pipe` to `into`.
async fn collect(mut pipe: impl AsyncRead + Unpin, into: Arc<Mutex<String>>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        into.lock()
            .expect("stderr lock")
            .push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

fn tail(text: &str) -> String {
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
fn unknown(text: &str, host: &str) -> TransportError {
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

impl Master {
    fn ended(&self) -> Option<MasterEnd> {
        self.end.borrow().clone()
    }

    fn is_closed(&self) -> bool {
        self.closed_locally.load(Ordering::SeqCst) || self.ended().is_some()
    }

    fn kill(&self) {
        if let Some(kill) = self.kill.lock().expect("kill lock").take() {
            let _ = kill.send(());
        }
    }

    /// Run `ssh -S <socket> -O <operation>`: exit status and stderr.
    async fn control(&self, operation: &str) -> (Option<i32>, String) {
        let output = Command::new("ssh")
            .args(&self.args)
            .arg("-S")
            .arg(&self.socket)
            .args(["-O", operation])
            .arg(self.addr.ip().to_string())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
        match output {
            Ok(output) => (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ),
            Err(error) => (None, error.to_string()),
        }
    }

    /// Wait until the master process has exited, at most `limit`.
    async fn wait_end(&self, limit: Duration) -> bool {
        let mut end = self.end.subscribe();
        tokio::time::timeout(limit, end.wait_for(|e| e.is_some()))
            .await
            .is_ok()
    }
}

/// A ControlMaster as a [`Connection`].
struct OpenSshConnection {
    master: Arc<Master>,
}

impl OpenSshConnection {
    fn closed_error(&self) -> TransportError {
        let master = &self.master;
        let why = match master.ended() {
            Some(end) => end.error.message,
            None => format!("ClientState connection to {} closed.", master.host),
        };
        TransportError::new(
            Cause::ConnectionClosed,
            format!(
                "connection c{} to {} is closed: {why}",
                master.id, master.host
            ),
        )
    }
}

#[async_trait]
impl Connection for OpenSshConnection {
    fn id(&self) -> u64 {
        self.master.id
    }

    fn host(&self) -> &str {
        &self.master.host
    }

    async fn exec(&self, command: &str) -> Result<Box<dyn Session>, TransportError> {
        let master = &self.master;
        if master.is_closed() {
            return Err(self.closed_error());
        }
        if master.draining.load(Ordering::SeqCst) {
            return Err(TransportError::new(
                Cause::ConnectionClosed,
                format!("connection c{} to {} is draining", master.id, master.host),
            ));
        }
        let mut child = Command::new("ssh")
            .args(&master.args)
            .arg("-S")
            .arg(&master.socket)
            .args(["-o", "ControlMaster=no"])
            .arg(master.addr.ip().to_string())
            .arg("--")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                TransportError::new(
                    Cause::ConnectionLost,
                    format!("ssh: could not start the OpenSSH client: {error}"),
                )
            })?;
        master.open.fetch_add(1, Ordering::SeqCst);
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let (status_tx, status_rx) = oneshot::channel();
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let mut shutdown = master.shutdown.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.ok(),
                _ = kill_rx => {
                    let _ = child.kill().await;
                    None
                }
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                    let _ = child.kill().await;
                    None
                }
            };
            let _ = status_tx.send(status);
        });
        Ok(Box::new(OpenSshSession {
            master: master.clone(),
            stdout: Some(stdout),
            stderr: Some(stderr),
            filter: StderrFilter::default(),
            status: Some(status_rx),
            _kill: kill_tx,
            finished: false,
        }))
    }

    fn is_closed(&self) -> bool {
        self.master.is_closed()
    }

    async fn check(&self) -> Result<(), TransportError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        match self.master.control("check").await {
            (Some(0), _) => Ok(()),
            (_, stderr) => Err(TransportError::new(
                Cause::ConnectionClosed,
                stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("ssh -O check failed")
                    .trim()
                    .to_owned(),
            )),
        }
    }

    async fn close(&self) {
        let master = &self.master;
        if master.closed_locally.swap(true, Ordering::SeqCst) {
            return;
        }
        if master.ended().is_none() {
            master.trace.record_marked(
                CLIENT_HOST,
                format!("c{}: closed (exit)", master.id),
                vec![Mark::end(connection_span(master.id))],
            );
            master.control("exit").await;
        }
        if !master.wait_end(EXIT_GRACE).await {
            master.kill();
            master.wait_end(EXIT_GRACE).await;
        }
    }

    async fn drain(&self) {
        let master = &self.master;
        if master.draining.swap(true, Ordering::SeqCst) || master.is_closed() {
            return;
        }
        master.trace.record(
            CLIENT_HOST,
            format!(
                "c{}: draining ({} sessions open)",
                master.id,
                master.open.load(Ordering::SeqCst)
            ),
        );
        master.control("stop").await;
    }

    fn open_sessions(&self) -> usize {
        self.master.open.load(Ordering::SeqCst)
    }
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
struct StderrFilter {
    /// A line start that may still turn out to be a diagnostic.
    held: Vec<u8>,
    /// Every diagnostic line, for the exit-255 cause.
    diagnostics: String,
}

impl StderrFilter {
    /// Feed bytes; returns how many of them are the remote command's.
    fn feed(&mut self, bytes: &[u8]) -> u64 {
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
    fn finish(&mut self) -> u64 {
        if self.held.is_empty() {
            0
        } else {
            self.judge_line()
        }
    }
}

/// A remote command run by one `ssh` client process.
struct OpenSshSession {
    master: Arc<Master>,
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
    filter: StderrFilter,
    status: Option<oneshot::Receiver<Option<ExitStatus>>>,
    /// Dropping it kills the `ssh` process (an abandoned session).
    _kill: oneshot::Sender<()>,
    finished: bool,
}

impl OpenSshSession {
    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.master.open.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The error for an exit 255.
    async fn failure(&self) -> TransportError {
        let master = &self.master;
        if let Some(error) = classify(&self.filter.diagnostics, &master.host) {
            if error.cause == Cause::ConnectionLost && master.closed_locally.load(Ordering::SeqCst)
            {
                return TransportError::new(
                    Cause::ClosedLocally,
                    format!("ClientState connection to {} closed.", master.host),
                );
            }
            return error;
        }
        // Nothing printed: a mux session whose master went away. Its end says why.
        if master.closed_locally.load(Ordering::SeqCst) {
            return TransportError::new(
                Cause::ClosedLocally,
                format!("ClientState connection to {} closed.", master.host),
            );
        }
        if master.wait_end(MASTER_END_GRACE).await
            && let Some(end) = master.ended()
        {
            return end.error;
        }
        unknown(&self.filter.diagnostics, &master.host)
    }
}

#[async_trait]
impl Session for OpenSshSession {
    async fn next(&mut self) -> Option<Result<SessionEvent, TransportError>> {
        if self.finished {
            return None;
        }
        let mut out = [0u8; 16 * 1024];
        let mut err = [0u8; 16 * 1024];
        loop {
            if self.stdout.is_none() && self.stderr.is_none() {
                break;
            }
            tokio::select! {
                read = async { self.stdout.as_mut().expect("guarded").read(&mut out).await }, if self.stdout.is_some() => {
                    match read {
                        Ok(n) if n > 0 => return Some(Ok(SessionEvent::Stdout(n as u64))),
                        _ => self.stdout = None,
                    }
                }
                read = async { self.stderr.as_mut().expect("guarded").read(&mut err).await }, if self.stderr.is_some() => {
                    match read {
                        Ok(n) if n > 0 => {
                            let remote = self.filter.feed(&err[..n]);
                            if remote > 0 {
                                return Some(Ok(SessionEvent::Stderr(remote)));
                            }
                        }
                        _ => {
                            self.stderr = None;
                            let remote = self.filter.finish();
                            if remote > 0 {
                                return Some(Ok(SessionEvent::Stderr(remote)));
                            }
                        }
                    }
                }
            }
        }
        let status = match self.status.take() {
            Some(status) => status.await.ok().flatten(),
            None => None,
        };
        let event = match status.and_then(|s| s.code()) {
            Some(255) | None => Err(self.failure().await),
            Some(code) => Ok(SessionEvent::Exit(code as u32)),
        };
        self.finish();
        Some(event)
    }
}

impl Drop for OpenSshSession {
    fn drop(&mut self) {
        // An abandoned session: dropping `_kill` kills its ssh process.
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport_on(workdir: PathBuf) -> io::Result<OpenSshTransport> {
        let (_, key, _) = crate::dialer::generate_client_key(1);
        let clock: Arc<dyn sshrace_core::Clock> = Arc::new(sshrace_core::FixedClock::default());
        OpenSshTransport::new(AddressBook::default(), &key, workdir, Trace::new(clock))
    }

    // Two runs in one process once shared a workdir (its name came from the pid and the length
    // of the run id): each run's ssh used the other's key and control sockets, so parallel
    // container runs failed to authenticate and sessions reached the other run's target.
    #[test]
    fn a_workdir_belongs_to_one_transport() {
        let parent = tempfile::tempdir().unwrap();
        let workdir = parent.path().join("w");
        let first = transport_on(workdir.clone()).expect("first transport");
        let second = transport_on(workdir.clone()).expect_err("a second transport on it");
        assert_eq!(second.kind(), io::ErrorKind::AlreadyExists);
        assert!(
            second.to_string().contains("already another transport's"),
            "{second}"
        );
        let key = std::fs::read_to_string(workdir.join("id")).unwrap();
        assert_eq!(key, crate::dialer::generate_client_key(1).1);
        drop(first);
        assert!(!workdir.exists(), "removed with its transport");
    }

    #[test]
    fn fresh_dirs_are_new_private_and_skip_what_exists() {
        let parent = tempfile::tempdir().unwrap();
        let next = AtomicU64::new(0);
        let taken = parent
            .path()
            .join(format!("sshrace-{}-0", std::process::id()));
        std::fs::create_dir(&taken).unwrap();
        let a = fresh_dir_under(parent.path(), &next).unwrap();
        let b = fresh_dir_under(parent.path(), &next).unwrap();
        assert_ne!(a, taken);
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
        let (c, d) = (
            OpenSshTransport::temp_workdir().unwrap(),
            OpenSshTransport::temp_workdir().unwrap(),
        );
        assert_ne!(c, d);
        std::fs::remove_dir(c).unwrap();
        std::fs::remove_dir(d).unwrap();
    }

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

    #[test]
    fn exit_255_texts_map_to_the_simulation_causes() {
        let cause = |text: &str| classify(text, "h").map(|e| e.cause);
        assert_eq!(
            cause("kex_exchange_identification: Connection closed by remote host\r\n"),
            Some(Cause::ClosedBeforeBanner)
        );
        assert_eq!(
            cause("kex_exchange_identification: read: Connection reset by peer\r\n"),
            Some(Cause::ClosedBeforeBanner)
        );
        assert_eq!(
            cause(
                "Connection timed out during banner exchange\r\nConnection to 127.0.0.1 port 1 timed out\r\n"
            ),
            Some(Cause::ConnectTimeout)
        );
        assert_eq!(
            cause("ssh: connect to host 127.0.0.1 port 1: Connection timed out\r\n"),
            Some(Cause::ConnectTimeout)
        );
        assert_eq!(
            cause("ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n"),
            Some(Cause::ConnectionRefused)
        );
        assert_eq!(
            cause("Timeout, server 127.0.0.1 not responding.\r\n"),
            Some(Cause::KeepaliveTimeout)
        );
        assert_eq!(
            cause("Connection to 127.0.0.1 closed by remote host.\r\n"),
            Some(Cause::ConnectionLost)
        );
        assert_eq!(
            cause("client_loop: send disconnect: Broken pipe\r\n"),
            Some(Cause::ConnectionLost)
        );
        assert_eq!(
            cause("root@127.0.0.1: Permission denied (publickey).\r\n"),
            Some(Cause::AuthFailed)
        );
        assert_eq!(
            cause(
                "mux_client_request_session: session request failed: Session open refused by peer\n"
            ),
            Some(Cause::ChannelRefused)
        );
        assert_eq!(
            cause("mux_client_hello_exchange: write packet: Broken pipe\n"),
            Some(Cause::ConnectionClosed)
        );
        assert_eq!(
            cause("Control socket connect(/x): Connection refused\n"),
            None
        );
        assert_eq!(cause("something new\n"), None);
        let unknown = unknown("something new\n", "h");
        assert_eq!(unknown.cause, Cause::ConnectionLost);
        assert!(unknown.message.contains("something new"));
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::from_millis(1500)), 2);
        assert_eq!(ceil_secs(Duration::from_secs(3)), 3);
        assert_eq!(ceil_secs(Duration::from_millis(10)), 1);
    }
}
