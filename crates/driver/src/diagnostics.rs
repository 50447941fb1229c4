//! What a program did wrong and left behind: protocol violations and the run's diagnostics.

use std::fmt;

#[cfg(doc)]
use crate::Options;

/// What kind of protocol violation a program committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A line that is not a protocol message (not JSON, no `type`, no `id`, a wrong field).
    Malformed,
    /// A line over [`Options::max_line`], skipped.
    LineTooLong,
    /// A message for an id sshrace never sent.
    UnknownId,
    /// A second reply (or `done`, or an event after the reply) for an id already answered.
    Duplicate,
    /// A message of the other form: an event or `done` for a command, a job's reply
    /// (`success`) to a command, a command's reply to a job.
    WrongForm,
}

impl ViolationKind {
    /// A stable name for reports (`unknown-id`).
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::Malformed => "malformed",
            ViolationKind::LineTooLong => "line-too-long",
            ViolationKind::UnknownId => "unknown-id",
            ViolationKind::Duplicate => "duplicate",
            ViolationKind::WrongForm => "wrong-form",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One protocol violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What kind.
    pub kind: ViolationKind,
    /// What happened, quoting the line (shortened).
    pub detail: String,
}

/// What a program left behind, for the run's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramDiagnostics {
    /// The first violations, word for word.
    pub violations: Vec<Violation>,
    /// Every violation, counted (`violations` keeps the first 100).
    pub violation_count: usize,
    /// Replies and events that came after sshrace stopped waiting for their operation (its
    /// deadline passed): not violations, but nobody read them.
    pub late_messages: usize,
    /// How the program ended (`exit status: 0`, `signal: 9 (SIGKILL)`), if it did.
    pub exit: Option<String>,
    /// Whether it was still running after the shutdown wait and was killed.
    pub killed: bool,
    /// The last lines of its stderr.
    pub stderr_tail: String,
}

impl ProgramDiagnostics {
    /// The number of violations of `kind` among the kept ones.
    pub fn count(&self, kind: ViolationKind) -> usize {
        self.violations.iter().filter(|v| v.kind == kind).count()
    }
}
