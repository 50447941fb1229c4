use std::fmt;
use std::time::Duration;

/// The program name a [`CommandSpec`] line starts with. The simulated sshd interprets it; in a
/// container a script of this name does the same and writes the ledger.
pub const PROGRAM: &str = "sshrace-cmd";

/// What a remote command does, described by data rather than by a shell.
///
/// Invariant: `to_command_line` and `parse` are inverses, so the server side (simulated or
/// real) sees exactly the spec the client sent, including the operation id that ties a server
/// [`crate::SessionRecord`] to the client operation it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// Client operation this command belongs to (unique within a run).
    pub operation: u64,
    /// How long the command runs before it exits.
    pub duration: Duration,
    /// Exit status the command ends with.
    pub exit_code: u32,
    /// Bytes written to stdout, spread over `output_chunks` writes.
    pub stdout_bytes: u64,
    /// Bytes written to stderr, at the end.
    pub stderr_bytes: u64,
    /// Number of equal stdout writes at equal intervals over `duration` (0: all at the end).
    pub output_chunks: u32,
    /// Whether the command finishes at all.
    pub behaviour: CommandBehaviour,
}

/// Whether a command finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandBehaviour {
    /// Runs for its duration and exits with its exit code.
    Run,
    /// Never exits on its own (a wedged build, `sleep infinity`).
    Hang,
}

/// A command line that is not a valid [`CommandSpec`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an sshrace command ({reason}): {line:?}")]
pub struct CommandSpecError {
    /// The line that was given.
    pub line: String,
    /// What is wrong with it.
    pub reason: String,
}

impl CommandSpec {
    /// A command for `operation` that runs `duration` and exits 0 with no output.
    pub fn new(operation: u64, duration: Duration) -> Self {
        Self {
            operation,
            duration,
            exit_code: 0,
            stdout_bytes: 0,
            stderr_bytes: 0,
            output_chunks: 0,
            behaviour: CommandBehaviour::Run,
        }
    }

    /// Set the exit status.
    pub fn exit_code(mut self, code: u32) -> Self {
        self.exit_code = code;
        self
    }

    /// Set the stdout volume, written at the end.
    pub fn stdout_bytes(mut self, bytes: u64) -> Self {
        self.stdout_bytes = bytes;
        self
    }

    /// Set the stderr volume, written at the end.
    pub fn stderr_bytes(mut self, bytes: u64) -> Self {
        self.stderr_bytes = bytes;
        self
    }

    /// Stream stdout in `chunks` equal writes over the command's duration.
    pub fn streamed(mut self, chunks: u32) -> Self {
        self.output_chunks = chunks;
        self
    }

    /// Make the command never exit.
    pub fn hang(mut self) -> Self {
        self.behaviour = CommandBehaviour::Hang;
        self
    }

    /// The command line sent over SSH, e.g. `sshrace-cmd op=7 ms=60000 exit=0 out=0 err=0 chunks=0`.
    pub fn to_command_line(&self) -> String {
        self.to_string()
    }

    /// Parse a command line produced by [`CommandSpec::to_command_line`].
    pub fn parse(line: &str) -> Result<Self, CommandSpecError> {
        let error = |reason: String| CommandSpecError {
            line: line.to_owned(),
            reason,
        };
        let mut words = line.split_whitespace();
        if words.next() != Some(PROGRAM) {
            return Err(error(format!("does not start with {PROGRAM}")));
        }
        let mut spec = CommandSpec::new(0, Duration::ZERO);
        let mut seen_operation = false;
        for word in words {
            if word == "hang" {
                spec.behaviour = CommandBehaviour::Hang;
                continue;
            }
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| error(format!("word {word:?} is not key=value")))?;
            let number: u64 = value
                .parse()
                .map_err(|_| error(format!("{key}={value:?} is not a number")))?;
            match key {
                "op" => {
                    spec.operation = number;
                    seen_operation = true;
                }
                "ms" => spec.duration = Duration::from_millis(number),
                "exit" => {
                    spec.exit_code = u32::try_from(number)
                        .map_err(|_| error(format!("exit={number} is too large")))?
                }
                "out" => spec.stdout_bytes = number,
                "err" => spec.stderr_bytes = number,
                "chunks" => {
                    spec.output_chunks = u32::try_from(number)
                        .map_err(|_| error(format!("chunks={number} is too large")))?
                }
                other => return Err(error(format!("unknown key {other:?}"))),
            }
        }
        if !seen_operation {
            return Err(error("missing op=".to_owned()));
        }
        Ok(spec)
    }
}

impl fmt::Display for CommandSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PROGRAM} op={} ms={} exit={} out={} err={} chunks={}",
            self.operation,
            self.duration.as_millis(),
            self.exit_code,
            self.stdout_bytes,
            self.stderr_bytes,
            self.output_chunks
        )?;
        if self.behaviour == CommandBehaviour::Hang {
            f.write_str(" hang")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_round_trips() {
        let spec = CommandSpec::new(42, Duration::from_millis(1500))
            .exit_code(3)
            .stdout_bytes(10)
            .stderr_bytes(2)
            .streamed(5)
            .hang();
        assert_eq!(CommandSpec::parse(&spec.to_command_line()), Ok(spec));
    }

    #[test]
    fn rejects_foreign_commands_and_unknown_keys() {
        assert!(CommandSpec::parse("rm -rf /").is_err());
        assert!(CommandSpec::parse("sshrace-cmd op=1 colour=3").is_err());
        assert!(CommandSpec::parse("sshrace-cmd ms=3").is_err());
    }
}
