//! Judging one operation: what the client reported, against what the server's ledger says ran.

use std::time::Duration;

use sshrace_core::{Cause, FailureClass, Ledger, Outcome, SessionEnd};

use crate::{OpRecord, OpResult};

/// The outcome of `record`, given the run's `ledger` and the gate teardowns `(host, time)`.
pub(crate) fn classify(
    record: &OpRecord,
    ledger: &Ledger,
    teardowns: &[(String, Duration)],
) -> Outcome {
    let all_completed = record
        .commands
        .iter()
        .all(|command| ledger.completed_successfully(*command));
    match &record.result {
        OpResult::TimedOut => Outcome::Timeout,
        OpResult::Command(Ok(exec)) if exec.exit_status == 0 => {
            if all_completed {
                Outcome::Success
            } else {
                Outcome::SilentFailure
            }
        }
        OpResult::Command(Ok(exec)) => Outcome::RemoteExit(exec.exit_status),
        OpResult::Command(Err(error)) => {
            if error.cause == Cause::ClosedLocally
                && torn_down_while_healthy(record, ledger, teardowns)
            {
                Outcome::FalseDisconnect
            } else {
                Outcome::Transport(error.cause)
            }
        }
        OpResult::Job {
            report,
            lost_events,
        } => {
            if report.success {
                if !all_completed {
                    Outcome::SilentFailure
                } else if *lost_events > 0 {
                    Outcome::LostEvent
                } else {
                    Outcome::Success
                }
            } else {
                match report.failure {
                    Some(FailureClass::Transport(cause)) => Outcome::Transport(cause),
                    Some(FailureClass::RemoteExit(code)) => Outcome::RemoteExit(code),
                    Some(FailureClass::Timeout) | None => Outcome::Timeout,
                }
            }
        }
    }
}

/// A gate tore the host down while the operation ran, and the server-side session was alive
/// until the client hung up (not killed by a crash, not refused, not finished).
fn torn_down_while_healthy(
    record: &OpRecord,
    ledger: &Ledger,
    teardowns: &[(String, Duration)],
) -> bool {
    let finished = record.finished.unwrap_or(Duration::MAX);
    let torn_down = teardowns
        .iter()
        .any(|(host, at)| record.hosts.contains(host) && *at >= record.started && *at <= finished);
    let server_side_healthy = record.commands.iter().all(|command| {
        ledger.sessions_of(*command).all(|session| {
            matches!(
                session.end,
                Some(SessionEnd::KilledConnectionLost) | Some(SessionEnd::ClosedByClient) | None
            )
        })
    });
    torn_down && server_side_healthy
}
