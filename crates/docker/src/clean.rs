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

/// Whether process `pid` is alive (signal 0 reaches it, or exists but is not ours).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists; no signal is sent.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// What [`clean_runs`] removed and spared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Containers removed.
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
    /// Run folders (`/tmp/sshrace-<pid>-<n>`, they hold a run's private key) removed.
    pub folders: usize,
    /// Containers left alone because the run that owns them is still going.
    pub spared: usize,
}

/// `sshrace clean`: remove the containers labelled `sshrace=1` whose owning process (label
/// `sshrace.pid`) is gone, the networks no container uses any more, and the run folders
/// `/tmp/sshrace-<pid>-<n>` of processes that are gone. With `all`, live runs' containers and
/// folders go too.
pub fn clean_runs(all: bool) -> Result<Cleaned, DockerError> {
    let listed = run(Command::new("docker").args([
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        "label=sshrace=1",
        "--format",
        "{{.ID}} {{.Label \"sshrace.pid\"}}",
    ]))?;
    let mut cleaned = Cleaned::default();
    let mut doomed = Vec::new();
    for line in listed.lines() {
        let mut words = line.split_whitespace();
        let Some(id) = words.next() else { continue };
        let owner = words.next().and_then(|pid| pid.parse::<u32>().ok());
        if !all && owner.is_some_and(pid_alive) {
            cleaned.spared += 1;
        } else {
            doomed.push(id.to_owned());
        }
    }
    if !doomed.is_empty() {
        run(Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&doomed))?;
    }
    cleaned.containers = doomed.len();
    let networks = ids(&run(Command::new("docker").args([
        "network",
        "ls",
        "-q",
        "--no-trunc",
        "--filter",
        "label=sshrace=1",
    ]))?);
    for network in networks {
        // A network a live run still uses refuses removal: it stays.
        if run(Command::new("docker").args(["network", "rm", &network])).is_ok() {
            cleaned.networks += 1;
        }
    }
    cleaned.folders =
        remove_run_folders(std::path::Path::new("/tmp"), |pid| all || !pid_alive(pid));
    Ok(cleaned)
}

/// Remove what this process's runs left: its containers (label `sshrace.pid`) and its run
/// folders. For an interrupted run, before it exits. Returns the containers removed.
pub fn clean_own() -> Result<usize, DockerError> {
    let own = std::process::id();
    let containers = leftovers_of_this_process()?;
    if !containers.is_empty() {
        run(Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&containers))?;
    }
    remove_run_folders(std::path::Path::new("/tmp"), |pid| pid == own);
    Ok(containers.len())
}

/// Remove the folders `sshrace-<pid>-<n>` under `parent` whose pid `doomed` says; how many.
pub fn remove_run_folders(parent: &std::path::Path, doomed: impl Fn(u32) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("sshrace-"))
            .and_then(|rest| rest.split_once('-'))
            .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && doomed(pid) && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folders_of_dead_processes_go_and_others_stay() {
        let parent = tempfile::tempdir().unwrap();
        for name in ["sshrace-1-0", "sshrace-2-3", "sshrace-x-0", "other"] {
            std::fs::create_dir(parent.path().join(name)).unwrap();
        }
        std::fs::write(parent.path().join("sshrace-1-0/id"), "key").unwrap();
        let removed = remove_run_folders(parent.path(), |pid| pid == 1);
        assert_eq!(removed, 1);
        assert!(!parent.path().join("sshrace-1-0").exists());
        for kept in ["sshrace-2-3", "sshrace-x-0", "other"] {
            assert!(parent.path().join(kept).exists(), "{kept}");
        }
    }

    #[test]
    fn this_process_is_alive_and_pid_0_is_not_a_run() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }
}
