//! The tasks on a program's pipes: the writer on its stdin, the reader that hands each stdout
//! line to the routing and fails what is in flight when it ends, the stderr tail.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, watch};

use crate::diagnostics::ViolationKind;
use crate::lines::{Line, read_line};
use crate::routing::{Outgoing, Shared};

/// How long, once the program closed stdout or was killed, to wait for its exit status and the
/// end of its pipes (a loaded machine may take a while to reap it; a process outside its group
/// may hold a pipe open for ever).
pub(crate) const EXIT_GRACE: Duration = Duration::from_secs(5);

pub(crate) async fn wait_exit(
    exit: &watch::Receiver<Option<String>>,
    bound: Duration,
) -> Option<String> {
    let mut exit = exit.clone();
    match tokio::time::timeout(bound, exit.wait_for(Option::is_some)).await {
        Ok(Ok(status)) => status.clone(),
        _ => None,
    }
}

pub(crate) async fn write_stdin(
    mut stdin: ChildStdin,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    while let Some(Outgoing::Line(line)) = outgoing.recv().await {
        if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
    // Dropping stdin closes it: end of input for the program.
}

pub(crate) async fn read_stdout(
    shared: Arc<Shared>,
    stdout: ChildStdout,
    exit: watch::Receiver<Option<String>>,
) {
    let max = shared.options.max_line;
    let mut reader = BufReader::new(stdout);
    loop {
        match read_line(&mut reader, max).await {
            Ok(Some(Line::Text(bytes))) => shared.handle_line(&bytes),
            Ok(Some(Line::TooLong(length))) => {
                let mut state = shared.state.lock().expect("driver state lock");
                let detail =
                    format!("a line of {length} bytes, over the {max}-byte bound, skipped");
                shared.violation(&mut state, ViolationKind::LineTooLong, detail);
            }
            Ok(None) => break,
            Err(error) => {
                tracing::warn!("reading the driver program's stdout: {error}");
                break;
            }
        }
    }
    let deadline = tokio::time::Instant::now() + EXIT_GRACE;
    let status = wait_exit(&exit, EXIT_GRACE).await;
    // Its last words explain the exit: read them first (bounded: a child of the program may
    // hold stderr open).
    let mut stderr_closed = shared.stderr_closed.subscribe();
    let _ = tokio::time::timeout_at(deadline, stderr_closed.wait_for(|closed| *closed)).await;
    let last_words = shared
        .stderr_tail
        .lock()
        .expect("stderr lock")
        .back()
        .map(|line| format!("; its stderr ends: {line}"))
        .unwrap_or_default();
    let reason = match status {
        _ if shared.shutting_down.load(Ordering::SeqCst) => format!(
            "driver: the program was shut down before it replied ({})",
            status.as_deref().unwrap_or("still running")
        ),
        Some(status) => {
            format!("driver: the program exited ({status}) before it replied{last_words}")
        }
        None => format!("driver: the program closed its stdout before it replied{last_words}"),
    };
    shared.fail_all(&reason);
}

pub(crate) async fn read_stderr(shared: Arc<Shared>, stderr: ChildStderr) {
    let mut reader = BufReader::new(stderr);
    loop {
        let text = match read_line(&mut reader, shared.options.max_line).await {
            Ok(Some(Line::Text(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(Some(Line::TooLong(length))) => format!("[a line of {length} bytes]"),
            Ok(None) | Err(_) => break,
        };
        tracing::debug!(target: "sshrace_driver::stderr", "{text}");
        let mut tail = shared.stderr_tail.lock().expect("stderr lock");
        if tail.len() >= shared.options.stderr_lines.max(1) {
            tail.pop_front();
        }
        tail.push_back(text);
    }
    shared.stderr_closed.send_replace(true);
}
