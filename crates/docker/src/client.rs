//! Another OpenSSH *client* than the host's `ssh`: the one in a target image, from the same
//! Debian packages as that version's sshd, run on the host.
//!
//! [`ensure_client`] copies `/usr/bin/ssh`, every library `ldd` lists for it and the dynamic
//! loader out of `sshrace-target:<suite>` (one `docker run --network none` that writes a tar to
//! stdout) into a cache folder keyed by the image id, and runs it as
//! `<dir>/lib/<loader> --library-path <dir>/lib <dir>/ssh` with `OPENSSL_CONF=<dir>/openssl.cnf`
//! (the image's, or an empty one when the image has none, so the host's OpenSSL config is never
//! read). It runs on the host network like the host's `ssh`, so it reaches the targets only
//! through their ports published on 127.0.0.1.
//!
//! Why not `docker exec` into a client container: the OpenSSH transport kills a master or a
//! session by killing its child process (killing a `docker exec` CLI leaves the process in the
//! container running), reads a ControlPersist master's pid from `ssh -O check` and watches
//! `/proc/<pid>` (a container's pid namespace breaks both), and every `docker exec` adds tens
//! of milliseconds per process (measured in docs/calibration.md, "The client's version").

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use sshrace_openssh::SshProgram;

use crate::error::{DockerError, command_line, failed};
use crate::image::{OpenSshProfile, ensure_image, target_image};

/// An OpenSSH client extracted from a target image, ready to run on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshClient {
    /// The OpenSSH version (the image's Debian suite).
    pub version: OpenSshProfile,
    /// The cache folder: `ssh`, `lib/` (the libraries and the loader), `openssl.cnf`.
    pub dir: PathBuf,
    /// The dynamic loader's file name in `lib/` (`ld-linux-x86-64.so.2`).
    pub loader: String,
    /// What `ssh -V` printed (`OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1 1 Jul 2025`).
    pub banner: String,
}

impl SshClient {
    /// How the transport runs it: the loader with the extracted libraries, then `ssh`.
    pub fn program(&self) -> SshProgram {
        let lib = self.dir.join("lib");
        SshProgram {
            program: lib.join(&self.loader),
            leading: vec![
                OsString::from("--library-path"),
                lib.into_os_string(),
                self.dir.join("ssh").into_os_string(),
            ],
            env: vec![(
                OsString::from("OPENSSL_CONF"),
                self.dir.join("openssl.cnf").into_os_string(),
            )],
        }
    }
}

/// The shell script run in the image: a tar of `ssh`, `lib/*`, `loader` (the loader's file
/// name) and `openssl.cnf` on stdout.
const EXTRACT: &str = r#"set -eu
d=$(mktemp -d)
mkdir "$d/lib"
cp -L /usr/bin/ssh "$d/ssh"
ldd /usr/bin/ssh > "$d/ldd"
while read -r first arrow path rest; do
    case "$first" in
        /*) cp -L "$first" "$d/lib/"; basename "$first" > "$d/loader" ;;
    esac
    case "$path" in
        /*) cp -L "$path" "$d/lib/" ;;
    esac
done < "$d/ldd"
rm "$d/ldd"
test -s "$d/loader"
if [ -e /usr/lib/ssl/openssl.cnf ]; then cp -L /usr/lib/ssl/openssl.cnf "$d/openssl.cnf"; else : > "$d/openssl.cnf"; fi
tar -C "$d" -cf - .
"#;

/// The folder extracted clients are cached in: `$XDG_CACHE_HOME/sshrace/ssh-client`, or
/// `~/.cache/sshrace/ssh-client` (never under /tmp/sshrace-*, which `sshrace clean` removes).
pub fn cache_root() -> Result<PathBuf, DockerError> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".cache"),
            None => {
                return Err(DockerError::Other(
                    "ssh client cache: neither XDG_CACHE_HOME nor HOME is set".to_owned(),
                ));
            }
        },
    };
    Ok(base.join("sshrace").join("ssh-client"))
}

/// The OpenSSH client of `version`, extracted from its target image (built first if missing)
/// and checked with `ssh -V`; cached on disk per image id and in memory per process.
/// `progress` gets one line per step that does something.
pub fn ensure_client(
    version: OpenSshProfile,
    progress: &mut dyn FnMut(&str),
) -> Result<SshClient, DockerError> {
    static CLIENTS: Mutex<Vec<SshClient>> = Mutex::new(Vec::new());
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(client) = clients.iter().find(|c| c.version == version) {
        return Ok(client.clone());
    }
    ensure_image(version, progress)?;
    let (name, tag) = target_image(version);
    let image = format!("{name}:{tag}");
    let id = image_id(&image)?;
    let root = cache_root()?;
    let dir = root.join(format!("{tag}-{}", &id[..12.min(id.len())]));
    if !dir.join("loader").is_file() {
        progress(&format!(
            "extracting the OpenSSH {} client from {image} into {}",
            version.version(),
            dir.display()
        ));
        extract(&image, &root, &dir)?;
    }
    let loader = std::fs::read_to_string(dir.join("loader"))
        .map_err(|e| DockerError::other(&format!("{}/loader", dir.display()), e))?
        .trim()
        .to_owned();
    let mut client = SshClient {
        version,
        dir,
        loader,
        banner: String::new(),
    };
    client.banner = banner(&client.program())?;
    if !client
        .banner
        .starts_with(&format!("OpenSSH_{}", version.version()))
    {
        return Err(DockerError::Other(format!(
            "the ssh extracted from {image} says {:?}, not OpenSSH {}",
            client.banner,
            version.version()
        )));
    }
    clients.push(client.clone());
    Ok(client)
}

/// The host's `ssh -V` version (`9.2p1` of `OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL ...`),
/// once per process.
pub fn host_ssh_version() -> Result<String, DockerError> {
    static VERSION: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            let text = banner(&SshProgram::default()).map_err(|e| e.to_string())?;
            text.strip_prefix("OpenSSH_")
                .and_then(|rest| rest.split([' ', ',']).next())
                .map(str::to_owned)
                .ok_or_else(|| format!("ssh -V printed {text:?}"))
        })
        .clone()
        .map_err(DockerError::Other)
}

/// `sha256:…` without its prefix.
fn image_id(image: &str) -> Result<String, DockerError> {
    let mut command = Command::new("docker");
    command.args(["image", "inspect", "--format", "{{.Id}}", image]);
    let output = command
        .output()
        .map_err(|e| DockerError::other("docker image inspect", e))?;
    if !output.status.success() {
        return Err(failed(command_line(&command), &output));
    }
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok(id.strip_prefix("sha256:").unwrap_or(&id).to_owned())
}

/// One `docker run` writes the tar; it is unpacked into a temp folder beside `dir` and renamed
/// to `dir` (another process that got there first wins, and its copy is as good).
fn extract(image: &str, root: &Path, dir: &Path) -> Result<(), DockerError> {
    std::fs::create_dir_all(root)
        .map_err(|e| DockerError::other(&format!("creating {}", root.display()), e))?;
    let mut command = Command::new("docker");
    command.args([
        "run",
        "--rm",
        "--label",
        "sshrace=1",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        image,
        "-c",
        EXTRACT,
    ]);
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DockerError::other("docker run", e))?;
    if !output.status.success() {
        return Err(failed(command_line(&command), &output));
    }
    let temp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(root)
        .map_err(|e| DockerError::other("temp folder", e))?;
    let mut tar = Command::new("tar")
        .args(["-xf", "-", "-C"])
        .arg(temp.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DockerError::other("tar", e))?;
    {
        use std::io::Write as _;
        let mut stdin = tar.stdin.take().expect("stdin piped");
        stdin
            .write_all(&output.stdout)
            .map_err(|e| DockerError::other("tar -x", e))?;
    }
    let untar = tar
        .wait_with_output()
        .map_err(|e| DockerError::other("tar -x", e))?;
    if !untar.status.success() {
        return Err(DockerError::Other(format!(
            "tar -x of the client from {image}: {}: {}",
            untar.status,
            String::from_utf8_lossy(&untar.stderr).trim()
        )));
    }
    let temp = temp.keep();
    if let Err(error) = std::fs::rename(&temp, dir) {
        let _ = std::fs::remove_dir_all(&temp);
        if !dir.join("loader").is_file() {
            return Err(DockerError::other(
                &format!("renaming to {}", dir.display()),
                error,
            ));
        }
    }
    Ok(())
}

/// What `ssh -V` prints (on stderr), trimmed.
fn banner(program: &SshProgram) -> Result<String, DockerError> {
    let mut command = Command::new(&program.program);
    command
        .args(&program.leading)
        .arg("-V")
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let output = command
        .output()
        .map_err(|e| DockerError::other("ssh -V", e))?;
    if !output.status.success() {
        return Err(failed(command_line(&command), &output));
    }
    Ok(String::from_utf8_lossy(&output.stderr).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_the_loader_with_the_extracted_libraries() {
        let client = SshClient {
            version: OpenSshProfile::OpenSsh100,
            dir: PathBuf::from("/c/trixie-212d09076496"),
            loader: "ld-linux-x86-64.so.2".to_owned(),
            banner: String::new(),
        };
        let program = client.program();
        assert_eq!(
            program.program,
            Path::new("/c/trixie-212d09076496/lib/ld-linux-x86-64.so.2")
        );
        assert_eq!(
            program.leading,
            [
                "--library-path",
                "/c/trixie-212d09076496/lib",
                "/c/trixie-212d09076496/ssh"
            ]
        );
        assert_eq!(
            program.env,
            [(
                OsString::from("OPENSSL_CONF"),
                OsString::from("/c/trixie-212d09076496/openssl.cnf")
            )]
        );
    }
}
