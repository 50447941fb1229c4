use std::collections::BTreeSet;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use sshrace_core::Trace;
use sshrace_russh::Dialer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Port every simulated sshd listens on.
pub(crate) const SSH_PORT: u16 = 22;

/// Directions (`from`, `to`) currently cut by a partition fault.
pub(crate) type Blocked = Arc<Mutex<BTreeSet<(String, String)>>>;

/// Linux's SYN retransmission schedule (`tcp_syn_retries` = 6): 1 + 2 + ... + 64 = 127 s.
const SYN_RETRANSMITS: [u64; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Opens turmoil TCP streams to simulated sshd hosts, through a NAT that can forget idle flows.
/// Call only inside the simulation's client host.
///
/// turmoil fails a connect at once when the SYN is dropped by a partition; a real SYN into a
/// blackhole is retransmitted until `tcp_syn_retries` gives up (127 s, "Connection timed out"),
/// and succeeds if the path heals meanwhile. The dialer restores that.
#[derive(Clone)]
pub struct SimDialer {
    pub(crate) nat_idle: Arc<Mutex<Option<Duration>>>,
    pub(crate) blocked: Blocked,
    pub(crate) trace: Trace,
}

impl SimDialer {
    fn blackholed(&self, host: &str) -> bool {
        let blocked = self.blocked.lock().expect("blocked lock");
        blocked.contains(&(crate::world::CLIENT_HOST.to_owned(), host.to_owned()))
            || blocked.contains(&(host.to_owned(), crate::world::CLIENT_HOST.to_owned()))
    }
}

impl std::fmt::Debug for SimDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDialer").finish()
    }
}

#[async_trait]
impl Dialer for SimDialer {
    type Stream = NatStream;

    async fn dial(&self, host: &str) -> io::Result<NatStream> {
        let mut retransmits = SYN_RETRANSMITS.iter();
        let stream = loop {
            match turmoil::net::TcpStream::connect((host, SSH_PORT)).await {
                Ok(stream) => break stream,
                Err(error) if self.blackholed(host) => match retransmits.next() {
                    Some(wait) => tokio::time::sleep(Duration::from_secs(*wait)).await,
                    None => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("Connection timed out ({error})"),
                        ));
                    }
                },
                Err(error) => return Err(error),
            }
        };
        Ok(NatStream {
            inner: stream,
            host: host.to_owned(),
            nat_idle: self.nat_idle.clone(),
            trace: self.trace.clone(),
            last_activity: Instant::now(),
            forgotten: false,
        })
    }
}

/// A client flow through the simulated NAT. Once the NAT has forgotten it (idle longer than the
/// NAT's timeout), everything sent is lost and nothing more is received: half-open both ways.
pub struct NatStream {
    inner: turmoil::net::TcpStream,
    host: String,
    nat_idle: Arc<Mutex<Option<Duration>>>,
    trace: Trace,
    last_activity: Instant,
    forgotten: bool,
}

impl NatStream {
    /// Whether the NAT has forgotten this flow by now; marks it forgotten if so.
    fn forgotten_now(&mut self) -> bool {
        if !self.forgotten {
            let idle = *self.nat_idle.lock().expect("nat lock");
            if let Some(idle) = idle
                && self.last_activity.elapsed() > idle
            {
                self.forgotten = true;
                self.trace.record(
                    "nat",
                    format!(
                        "flow to {} forgotten after {:.1}s idle",
                        self.host,
                        self.last_activity.elapsed().as_secs_f64()
                    ),
                );
            }
        }
        self.forgotten
    }
}

impl AsyncRead for NatStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.forgotten_now() {
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.last_activity = Instant::now();
        }
        poll
    }
}

impl AsyncWrite for NatStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.forgotten_now() {
            return Poll::Ready(Ok(buf.len()));
        }
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(_))) {
            self.last_activity = Instant::now();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.forgotten {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.forgotten {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
