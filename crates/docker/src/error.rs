//! The one error type of the container backend.

/// What went wrong in the container backend.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// Something the backend needs is not installed/running. Display is ONE line that says
    /// what is missing and how to get it, e.g.
    /// "docker: not found; install Docker Engine (apt-get install docker.io) and start it".
    #[error("{what}; {how}")]
    Missing {
        /// What is missing ("docker: not found", "docker daemon: not answering").
        what: String,
        /// How to get it.
        how: String,
    },
    /// A docker/mmdebstrap command failed: the command line, exit status and stderr tail.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line that was run.
        command: String,
        /// Exit status and the tail of its stderr.
        detail: String,
    },
    /// Anything else (testcontainers errors, io, readiness timeout), with context.
    #[error("{0}")]
    Other(String),
}

impl DockerError {
    /// An [`DockerError::Other`] from a context and an error.
    pub fn other(context: &str, error: impl std::fmt::Display) -> DockerError {
        DockerError::Other(format!("{context}: {error}"))
    }
}

/// Run a command to completion; its stdout on success, [`DockerError::Command`] otherwise.
pub(crate) fn run(command: &mut std::process::Command) -> Result<String, DockerError> {
    let line = command_line(command);
    let output = command.output().map_err(|e| DockerError::Command {
        command: line.clone(),
        detail: format!("could not start: {e}"),
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(failed(line, &output))
    }
}

/// Async [`run`] (tokio::process).
pub(crate) async fn run_async(
    command: &mut tokio::process::Command,
) -> Result<String, DockerError> {
    let line = command_line(command.as_std());
    let output = command.output().await.map_err(|e| DockerError::Command {
        command: line.clone(),
        detail: format!("could not start: {e}"),
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(failed(line, &output))
    }
}

pub(crate) fn failed(command: String, output: &std::process::Output) -> DockerError {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    DockerError::Command {
        command,
        detail: format!("{}; stderr: {tail}", output.status),
    }
}

pub(crate) fn command_line(command: &std::process::Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        if arg.len() > 80 {
            let short: String = arg.chars().take(77).collect();
            line.push_str(&format!(" {short}..."));
        } else {
            line.push(' ');
            line.push_str(&arg);
        }
    }
    line
}
