//! The harness's stalled client: connect, read sshd's banner, then send nothing.

use sshrace_core::{Mark, StallFate, StallLog, Trace};
use tokio::io::AsyncReadExt;

use crate::Dialer;

/// Open one connection to `host` through `dialer` and stall on it: read until sshd's `SSH-`
/// line (lines before it, such as OpenSSH's "Not allowed at this time", are skipped as its
/// client does), then keep reading without ever writing, until sshd closes it. Every step is
/// recorded in `log` (and the trace) as it happens, so a run that ends first keeps what was
/// seen. Runs until the connection closes; the caller aborts it at the end of the run.
pub async fn stall<D: Dialer>(dialer: &D, host: &str, number: u32, log: &StallLog, trace: &Trace) {
    let now = || trace.clock().now();
    let index = log.open(host, now());
    let mut stream = match dialer.dial(host).await {
        Ok(stream) => stream,
        Err(error) => {
            log.set_fate(index, StallFate::ConnectFailed { at: now() });
            trace.record(
                "stalled",
                format!("stalled client #{number} -> {host}: connect failed: {error}"),
            );
            return;
        }
    };
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    let banner = loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break false,
            Ok(n) => {
                let mut found = false;
                for &byte in &buf[..n] {
                    if byte == b'\n' {
                        if line.starts_with(b"SSH-") {
                            found = true;
                            break;
                        }
                        line.clear();
                    } else {
                        line.push(byte);
                    }
                }
                if found {
                    break true;
                }
            }
        }
    };
    if !banner {
        log.set_fate(index, StallFate::ClosedBeforeBanner { at: now() });
        trace.record_marked(
            "stalled",
            format!("stalled client #{number} -> {host}: closed before the banner"),
            vec![Mark::instant("stalled client dropped")],
        );
        return;
    }
    log.set_fate(index, StallFate::Banner { at: now() });
    trace.record(
        "stalled",
        format!("stalled client #{number} -> {host}: got the banner, stalls"),
    );
    // Send nothing; wait for sshd to give up on us.
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    log.closed(index, now());
    trace.record(
        "stalled",
        format!("stalled client #{number} -> {host}: closed by sshd"),
    );
}
