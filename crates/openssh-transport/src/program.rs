//! Which `ssh` the transport runs: the one on PATH, or another build (say an OpenSSH client
//! extracted from a Debian package, started through its own dynamic loader).

use std::ffi::OsString;
use std::path::PathBuf;

use tokio::process::Command;

/// The `ssh` program every master, session and `-O` command of a transport runs: `program`,
/// then `leading` arguments, then the transport's own, with `env` added to the environment.
///
/// The default is `ssh` from PATH with nothing added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshProgram {
    /// The executable (looked up on PATH when it has no slash).
    pub program: PathBuf,
    /// Arguments before the transport's own (e.g. a loader's `--library-path DIR /path/to/ssh`).
    pub leading: Vec<OsString>,
    /// Environment variables set for every process (e.g. `OPENSSL_CONF`).
    pub env: Vec<(OsString, OsString)>,
}

impl Default for SshProgram {
    fn default() -> Self {
        Self {
            program: PathBuf::from("ssh"),
            leading: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl SshProgram {
    /// A command for this program, its leading arguments and environment already set.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.leading);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_ssh_from_path_and_a_program_puts_its_arguments_first() {
        let ssh = SshProgram::default();
        assert_eq!(ssh.command().as_std().get_program(), "ssh");
        assert_eq!(ssh.command().as_std().get_args().count(), 0);
        let loader = SshProgram {
            program: "/c/lib/ld.so".into(),
            leading: vec!["--library-path".into(), "/c/lib".into(), "/c/ssh".into()],
            env: vec![("OPENSSL_CONF".into(), "/c/openssl.cnf".into())],
        };
        let mut command = loader.command();
        command.arg("-V");
        let std = command.as_std();
        assert_eq!(std.get_program(), "/c/lib/ld.so");
        let args: Vec<_> = std.get_args().collect();
        assert_eq!(args, ["--library-path", "/c/lib", "/c/ssh", "-V"]);
        let envs: Vec<_> = std.get_envs().collect();
        assert_eq!(
            envs,
            [(
                std::ffi::OsStr::new("OPENSSL_CONF"),
                Some(std::ffi::OsStr::new("/c/openssl.cnf"))
            )]
        );
    }
}
