//! The transport itself: its workdir (the key file and the control sockets) and `connect`,
//! which starts a ControlMaster per connection.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sshrace_core::{
    AddressBook, ConnectOptions, Connection, Mark, Trace, Transport, TransportError,
};
use tokio::sync::watch;

use crate::connection::OpenSshConnection;
use crate::master::{Master, start_master};
use crate::program::SshProgram;
use crate::{CLIENT_HOST, CONNECTIONS_TRACK, connection_span};

/// Longest workdir path accepted: the control socket (`<workdir>/c<id>.sock`, plus the 17
/// characters of OpenSSH's temporary name for it) must fit a 108-byte `sun_path`.
const MAX_WORKDIR_LEN: usize = 60;

/// The OpenSSH client (`ssh` processes) as an `sshrace_core::Transport`.
pub struct OpenSshTransport {
    shared: Arc<ClientState>,
}

impl std::fmt::Debug for OpenSshTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSshTransport")
            .field("workdir", &self.shared.workdir)
            .field("program", &self.shared.program)
            .finish()
    }
}

/// What the transport and all its connections share.
pub(crate) struct ClientState {
    pub(crate) book: AddressBook,
    pub(crate) workdir: PathBuf,
    pub(crate) key_file: PathBuf,
    /// The `ssh` every process runs.
    pub(crate) program: Arc<SshProgram>,
    pub(crate) trace: Trace,
    pub(crate) next_id: AtomicU64,
    /// Set at shutdown: every process still running is killed.
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) masters: Mutex<Vec<Arc<Master>>>,
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
        Self::with_program(book, key_openssh, workdir, trace, SshProgram::default())
    }

    /// As [`OpenSshTransport::new`], running `program` instead of `ssh` from PATH for every
    /// master, session and `-O` command.
    pub fn with_program(
        book: AddressBook,
        key_openssh: &str,
        workdir: PathBuf,
        trace: Trace,
        program: SshProgram,
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
                program: Arc::new(program),
                trace,
                next_id: AtomicU64::new(0),
                shutdown: watch::Sender::new(false),
                masters: Mutex::default(),
            }),
        })
    }

    /// The `ssh` this transport runs.
    pub fn program(&self) -> &SshProgram {
        &self.shared.program
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What `new` writes to the key file (it does not read it: `ssh` does).
    const KEY: &str = "the client key, as ssh -i reads it\n";

    fn transport_on(workdir: PathBuf) -> io::Result<OpenSshTransport> {
        let clock: Arc<dyn sshrace_core::Clock> = Arc::new(sshrace_core::FixedClock::default());
        OpenSshTransport::new(AddressBook::default(), KEY, workdir, Trace::new(clock))
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
        assert_eq!(key, KEY);
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
}
