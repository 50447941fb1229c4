//! Remove whatever an interrupted run left behind (`sshrace clean`).

use crate::error::{DockerError, run};
use std::process::Command;

fn filter(run_id: Option<&str>) -> String {
    match run_id {
        Some(id) => format!("label=sshrace.run={id}"),
        None => "label=sshrace=1".to_owned(),
    }
}

fn ids(output: &str) -> Vec<String> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Ids of the containers and networks still there that are labelled `sshrace=1` (or only
/// `sshrace.run=<id>`), containers first.
pub fn leftovers(run_id: Option<&str>) -> Result<Vec<String>, DockerError> {
    let filter = filter(run_id);
    let mut found = ids(&run(Command::new("docker").args([
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &filter,
    ]))?);
    found.extend(ids(&run(Command::new("docker").args([
        "network",
        "ls",
        "-q",
        "--no-trunc",
        "--filter",
        &filter,
    ]))?));
    Ok(found)
}

/// Ids of the containers still there that this process started (label `sshrace.pid`), so a
/// test can assert it left nothing behind while other sshrace runs share the machine.
pub fn leftovers_of_this_process() -> Result<Vec<String>, DockerError> {
    let filter = format!("label=sshrace.pid={}", std::process::id());
    Ok(ids(&run(Command::new("docker").args([
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &filter,
    ]))?))
}

/// Remove every container and network labelled `sshrace=1` (or only `sshrace.run=<id>`).
/// Returns how many it removed.
pub fn clean(run_id: Option<&str>) -> Result<usize, DockerError> {
    let filter = filter(run_id);
    let containers = ids(&run(Command::new("docker").args([
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &filter,
    ]))?);
    let networks = ids(&run(Command::new("docker").args([
        "network",
        "ls",
        "-q",
        "--no-trunc",
        "--filter",
        &filter,
    ]))?);
    if !containers.is_empty() {
        run(Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&containers))?;
    }
    if !networks.is_empty() {
        run(Command::new("docker")
            .arg("network")
            .arg("rm")
            .args(&networks))?;
    }
    Ok(containers.len() + networks.len())
}
