//! What every test of the `sshrace` binary needs: the binary, run from the repository root,
//! with none of sshrace's environment variables inherited from the test's own environment.
#![allow(dead_code)] // each test binary uses its own part

use std::process::{Command, Output};

/// The `sshrace` binary as a command, ready for arguments.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sshrace"));
    command
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("SSHRACE_SEED")
        .env_remove("SSHRACE_SHARD");
    command
}

/// Run `sshrace args` to completion.
pub fn sshrace(args: &[&str]) -> Output {
    command().args(args).output().expect("sshrace runs")
}

/// Bytes of stdout or stderr as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Ids of the containers a run of process `pid` labelled (`sshrace.pid`), running or not.
pub fn containers_of(pid: u32) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=sshrace.pid={pid}"),
        ])
        .output()
        .expect("docker ps");
    text(&out.stdout).lines().map(str::to_owned).collect()
}

/// The run folders `/tmp/sshrace-<pid>-<n>` of process `pid`.
pub fn folders_of(pid: u32) -> Vec<String> {
    std::fs::read_dir("/tmp")
        .expect("/tmp")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| name.starts_with(&format!("sshrace-{pid}-")))
        .collect()
}
