//! Is what the container backend needs here? Every failure is one line saying what is missing
//! and how to get it.

use crate::error::DockerError;
use std::process::{Command, Stdio};

/// The Docker client is on PATH and the daemon answers (`docker version`).
pub fn docker_available() -> Result<(), DockerError> {
    let output = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output();
    match output {
        Err(_) => Err(DockerError::Missing {
            what: "docker: not found".into(),
            how: "install Docker Engine (apt-get install docker.io) and start it".into(),
        }),
        Ok(o) if !o.status.success() => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            Err(DockerError::Missing {
                what: format!("docker daemon: not answering ({})", first.trim()),
                how: "start it (dockerd, or service docker start) and run as root or in the docker group".into(),
            })
        }
        Ok(_) => Ok(()),
    }
}

/// The tools to build a base image are here: mmdebstrap (or debootstrap) and root.
pub fn image_tools_available() -> Result<(), DockerError> {
    let found = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if !found("mmdebstrap") && !found("debootstrap") {
        return Err(DockerError::Missing {
            what: "mmdebstrap: not found (needed to build the sshrace base image)".into(),
            how: "apt-get install mmdebstrap".into(),
        });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(DockerError::Missing {
            what: "root: building the sshrace base image needs root".into(),
            how: "run as root (sudo) once to build it; later runs reuse it".into(),
        });
    }
    Ok(())
}

/// Whether a test that needs Docker should run: `true` when Docker is available. When it is
/// not, prints one line saying why and returns `false` (skip), except under `CI=true`, where a
/// missing Docker is a failure: it panics with that line.
pub fn require_docker() -> bool {
    match docker_available() {
        Ok(()) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("Docker is required under CI=true: {e}");
            }
            println!("skipped: Docker is not available: {e}");
            false
        }
    }
}
