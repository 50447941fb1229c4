//! A stream the server can cut from outside the russh session task (LoginGraceTime), which
//! owns the stream. Killing drops the inner stream at once, so the peer sees the connection
//! close, and fails every later read and write.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

struct Inner<S> {
    stream: Option<S>,
    wakers: Vec<Waker>,
}

/// The stream half, handed to russh.
pub(crate) struct KillableStream<S> {
    inner: Arc<Mutex<Inner<S>>>,
}

/// The switch half, kept by the server.
pub(crate) struct KillSwitch<S> {
    inner: Arc<Mutex<Inner<S>>>,
}

impl<S> KillableStream<S> {
    pub(crate) fn new(stream: S) -> (Self, KillSwitch<S>) {
        let inner = Arc::new(Mutex::new(Inner {
            stream: Some(stream),
            wakers: Vec::new(),
        }));
        (
            Self {
                inner: inner.clone(),
            },
            KillSwitch { inner },
        )
    }
}

impl<S> KillSwitch<S> {
    /// Drop the stream now and wake whoever waits on it.
    pub(crate) fn kill(&self) {
        let (stream, wakers) = {
            let mut inner = self.inner.lock().expect("killable lock");
            (inner.stream.take(), std::mem::take(&mut inner.wakers))
        };
        drop(stream);
        wakers.into_iter().for_each(Waker::wake);
    }
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection closed by sshd",
    )
}

impl<S: Unpin> KillableStream<S> {
    fn with<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut inner = self.inner.lock().expect("killable lock");
        let Some(stream) = inner.stream.as_mut() else {
            return Poll::Ready(Err(killed()));
        };
        let poll = f(Pin::new(stream), cx);
        if poll.is_pending() && !inner.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            inner.wakers.push(cx.waker().clone());
        }
        poll
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for KillableStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(cx, |s, cx| s.poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for KillableStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(cx, |s, cx| s.poll_shutdown(cx))
    }
}
