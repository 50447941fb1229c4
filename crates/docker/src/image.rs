//! The images: a base image from Debian packages (mmdebstrap + `docker import`) and the
//! `Dockerfile.target` image on top, one per OpenSSH version. Idempotent and cached.

use crate::error::{DockerError, run};
use crate::preflight::{docker_available, image_tools_available};
use sha2::{Digest, Sha256};
use std::process::Command;
use std::time::{Duration, Instant};

/// The Dockerfile of the target image, embedded so `ensure_image` works from any directory.
pub const DOCKERFILE: &str = include_str!("../../../Dockerfile.target");
/// The in-container command model (`/usr/local/bin/sshrace-cmd`).
pub const SSHRACE_CMD: &str = include_str!("../assets/sshrace-cmd");
/// The entrypoint that configures and starts sshd (`/usr/local/bin/sshrace-entrypoint`).
pub const ENTRYPOINT: &str = include_str!("../assets/sshrace-entrypoint");

/// Packages the base image is made of.
pub const BASE_PACKAGES: &str = "openssh-server,openssh-client,iproute2,iptables,procps";

/// The image label holding the content hash of the embedded Dockerfile and assets.
pub const HASH_LABEL: &str = "sshrace.hash";

/// An OpenSSH server version the container backend can run: the same profile the simulated
/// sshd follows (one enum for both backends).
pub use sshrace_core::OpenSshProfile;

/// The target image's name and tag for `version`, e.g. `("sshrace-target", "bookworm")`.
pub fn target_image(version: OpenSshProfile) -> (String, String) {
    ("sshrace-target".to_owned(), version.suite().to_owned())
}

/// The base image's name and tag for `version`, e.g. `("sshrace-base", "bookworm")`.
pub fn base_image(version: OpenSshProfile) -> (String, String) {
    ("sshrace-base".to_owned(), version.suite().to_owned())
}

/// What [`ensure_image`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    /// Whether the base image had to be built (mmdebstrap + docker import).
    pub base_built: bool,
    /// Whether the target image had to be (re)built.
    pub target_built: bool,
    /// Time spent on the base image (checking or building).
    pub base_time: Duration,
    /// Time spent on the target image (checking or building).
    pub target_time: Duration,
}

/// The content hash of the embedded Dockerfile and assets (what the target image label holds).
pub fn content_hash() -> String {
    let mut hash = Sha256::new();
    for part in [DOCKERFILE, SSHRACE_CMD, ENTRYPOINT] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn image_exists(reference: &str) -> Result<bool, DockerError> {
    let output = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .output()
        .map_err(|e| DockerError::other("docker image inspect", e))?;
    Ok(output.status.success())
}

fn image_label(reference: &str, label: &str) -> Result<Option<String>, DockerError> {
    let output = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            &format!("{{{{index .Config.Labels \"{label}\"}}}}"),
            reference,
        ])
        .output()
        .map_err(|e| DockerError::other("docker image inspect", e))?;
    if !output.status.success() {
        return Ok(None);
    }
    let value = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok((!value.is_empty() && value != "<no value>").then_some(value))
}

/// Make sure `sshrace-target:<suite>` exists: build the base (mmdebstrap + docker import) if
/// missing, then the target image from Dockerfile.target (build context = a temp dir holding
/// Dockerfile.target and crates/docker/assets/*, embedded with include_str! so it works from any
/// cwd). Idempotent and cached: rebuilt only when the embedded Dockerfile/assets change (a
/// content hash in the image label `sshrace.hash` is compared). `progress` gets one line per step.
pub fn ensure_image(
    version: OpenSshProfile,
    progress: &mut dyn FnMut(&str),
) -> Result<ImageReport, DockerError> {
    // One build at a time in this process (parallel tests would otherwise build it N times).
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _building = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    docker_available()?;
    let (base_name, suite) = base_image(version);
    let base = format!("{base_name}:{suite}");
    let started = Instant::now();
    let mut base_built = false;
    if !image_exists(&base)? {
        image_tools_available()?;
        progress(&format!(
            "building {base} from Debian {suite} (mmdebstrap, ~15 s)"
        ));
        let dir = tempfile::tempdir().map_err(|e| DockerError::other("temp dir", e))?;
        let tar = dir.path().join("base.tar");
        let tar = tar.to_string_lossy().into_owned();
        run(Command::new("mmdebstrap").args([
            "--variant=apt",
            &format!("--include={BASE_PACKAGES}"),
            &suite,
            &tar,
        ]))?;
        progress(&format!("importing {base}"));
        run(Command::new("docker").args(["import", &tar, &base]))?;
        base_built = true;
    }
    let base_time = started.elapsed();

    let started = Instant::now();
    let (name, tag) = target_image(version);
    let target = format!("{name}:{tag}");
    let hash = content_hash();
    let mut target_built = false;
    if image_label(&target, HASH_LABEL)?.as_deref() != Some(hash.as_str()) {
        progress(&format!(
            "building {target} (Dockerfile.target, hash {hash})"
        ));
        let dir = tempfile::tempdir().map_err(|e| DockerError::other("temp dir", e))?;
        let write = |file: &str, text: &str, mode: u32| -> Result<(), DockerError> {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(file);
            std::fs::write(&path, text)
                .map_err(|e| DockerError::other("write build context", e))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| DockerError::other("chmod build context", e))
        };
        write("Dockerfile.target", DOCKERFILE, 0o644)?;
        write("sshrace-cmd", SSHRACE_CMD, 0o755)?;
        write("sshrace-entrypoint", ENTRYPOINT, 0o755)?;
        run(Command::new("docker")
            .env("DOCKER_BUILDKIT", "0")
            .args([
                "build",
                "--quiet",
                "--build-arg",
                &format!("SUITE={suite}"),
                "--label",
                &format!("{HASH_LABEL}={hash}"),
                "--label",
                &format!("sshrace.openssh={}", version.version()),
                "-f",
                "Dockerfile.target",
                "-t",
                &target,
                ".",
            ])
            .current_dir(dir.path()))?;
        target_built = true;
        progress(&format!("built {target}"));
    }
    Ok(ImageReport {
        base_built,
        target_built,
        base_time,
        target_time: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_name_their_images() {
        assert_eq!(
            OpenSshProfile::from_name("9.2"),
            Some(OpenSshProfile::OpenSsh92)
        );
        assert_eq!(
            OpenSshProfile::from_name("openssh-10.0"),
            Some(OpenSshProfile::OpenSsh100)
        );
        assert_eq!(OpenSshProfile::from_name("8.9"), None);
        for v in OpenSshProfile::ALL {
            assert_eq!(OpenSshProfile::from_name(v.version()), Some(v));
        }
        assert_eq!(
            target_image(OpenSshProfile::OpenSsh92),
            ("sshrace-target".into(), "bookworm".into())
        );
        assert_eq!(OpenSshProfile::OpenSsh100.suite(), "trixie");
        assert_eq!(content_hash().len(), 32);
    }
}
