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
