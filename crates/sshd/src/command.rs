//! The command model: a `sshrace-cmd` line runs as timed data, not as a shell.

use std::sync::{Arc, Mutex};

use russh::ChannelId;
use russh::server::Handle;
use sshrace_core::{CommandBehaviour, CommandSpec, CommandSpecError, SessionEnd};

use crate::handler::{ConnectionState, session_ends};
use crate::server::ServerState;

/// Exit status of a shell asked to run a program it does not have.
const COMMAND_NOT_FOUND: u32 = 127;

/// Run `spec` on `channel`: stream its stdout, then send its exit status, EOF and close, and
/// free the session slot. Records the exit in the ledger; if the connection goes away first, the
/// caller records the kill.
pub(crate) async fn run(
    shared: Arc<ServerState>,
    connection: Arc<Mutex<ConnectionState>>,
    handle: Handle,
    channel: ChannelId,
    (id, number): (u64, u32),
    index: usize,
    spec: Result<CommandSpec, CommandSpecError>,
) {
    let exit_code = match spec {
        Ok(spec) => match play(&shared, &handle, channel, index, &spec).await {
            Some(code) => code,
            None => return,
        },
        Err(_) => {
            let _ = handle
                .extended_data(channel, 1, b"sh: command not found\n".to_vec())
                .await;
            COMMAND_NOT_FOUND
        }
    };
    if handle
        .exit_status_request(channel, exit_code)
        .await
        .is_err()
    {
        return;
    }
    let now = shared.trace.clock().now();
    shared
        .ledger()
        .session_ended(index, now, SessionEnd::Exited(exit_code));
    shared.trace.record_marked(
        &shared.host,
        format!("session {id}.{number}: exit {exit_code}"),
        session_ends(id, number),
    );
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
    // russh does not report the client's answering CHANNEL_CLOSE to the handler when the server
    // closed first, so the slot is freed here: the channel is done either way.
    connection
        .lock()
        .expect("connection lock")
        .channels
        .remove(&channel);
}

/// Play the command's timeline; `None` if it never exits or the connection went away.
async fn play(
    shared: &ServerState,
    handle: &Handle,
    channel: ChannelId,
    index: usize,
    spec: &CommandSpec,
) -> Option<u32> {
    if spec.behaviour == CommandBehaviour::Hang {
        std::future::pending::<()>().await;
    }
    let chunks = spec.output_chunks.max(1) as u64;
    let step = spec.duration / chunks as u32;
    let mut remaining = spec.stdout_bytes;
    for chunk in 0..chunks {
        if spec.output_chunks == 0 {
            tokio::time::sleep(spec.duration).await;
        } else {
            tokio::time::sleep(step).await;
        }
        let bytes = if chunk + 1 == chunks {
            remaining
        } else {
            spec.stdout_bytes / chunks
        };
        remaining -= bytes;
        let mut left = bytes;
        while left > 0 {
            let piece = left.min(PIECE as u64);
            handle
                .data(channel, &STDOUT_PIECE[..piece as usize])
                .await
                .ok()?;
            shared.ledger().session_output(index, piece);
            left -= piece;
        }
    }
    let mut left = spec.stderr_bytes;
    while left > 0 {
        let piece = left.min(PIECE as u64);
        handle
            .extended_data(channel, 1, &STDERR_PIECE[..piece as usize])
            .await
            .ok()?;
        left -= piece;
    }
    Some(spec.exit_code)
}

/// Largest write the command model hands russh at once. Output is streamed in pieces of at most
/// this size from a static buffer, so a command's memory does not grow with its output (a 10 GB
/// `stdout_bytes` once aborted on a 10 GB allocation); russh's bounded channel paces the pieces.
pub(crate) const PIECE: usize = 64 * 1024;
static STDOUT_PIECE: [u8; PIECE] = [b'.'; PIECE];
static STDERR_PIECE: [u8; PIECE] = [b'!'; PIECE];
