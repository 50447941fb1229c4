//! A stream wrapper that watches received bytes for the server's SSH identification line, to
//! tell a connection closed before the banner (MaxStartups, PerSourcePenalties) from one lost
//! later. sshd may write a line before closing ("Exceeded MaxStartups", "Not allowed at this
//! time"); like OpenSSH's client, only a line starting with `SSH-` counts as the banner.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub(crate) struct CountingStream<S> {
    inner: S,
    banner: Arc<AtomicBool>,
    /// Bytes of `SSH-` matched at the start of the current line (`None`: mid-line).
    matched: Option<usize>,
}

const BANNER_PREFIX: &[u8] = b"SSH-";

impl<S> CountingStream<S> {
    /// The wrapped stream and a flag set once the server's identification line arrives.
    pub(crate) fn new(inner: S) -> (Self, Arc<AtomicBool>) {
        let banner = Arc::new(AtomicBool::new(false));
        (
            Self {
                inner,
                banner: banner.clone(),
                matched: Some(0),
            },
            banner,
        )
    }

    fn scan(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.banner.load(Ordering::Relaxed) {
                return;
            }
            self.matched = match self.matched {
                _ if byte == b'\n' => Some(0),
                Some(n) if BANNER_PREFIX[n] == byte => {
                    if n + 1 == BANNER_PREFIX.len() {
                        self.banner.store(true, Ordering::Relaxed);
                    }
                    Some(n + 1)
                }
                _ => None,
            };
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if !self.banner.load(Ordering::Relaxed) {
            let fresh = buf.filled()[before..].to_vec();
            self.scan(&fresh);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_line_starting_with_ssh_is_the_banner() {
        let (mut stream, banner) = CountingStream::new(());
        stream.scan(b"Exceeded MaxStartups\r\n");
        assert!(!banner.load(Ordering::Relaxed));
        stream.scan(b"xSSH-2.0 not at a line start\r\nSS");
        assert!(!banner.load(Ordering::Relaxed));
        stream.scan(b"H-2.0-OpenSSH_9.2p1\r\n");
        assert!(banner.load(Ordering::Relaxed));
    }
}
