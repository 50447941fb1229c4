//! A userspace TCP fault proxy (tokio), one per target, listening on 127.0.0.1:0.
//!
//! The kernel here has no `sch_netem`, so latency, jitter, blackholes and
//! NAT-style idle drops are made in userspace: every client connects to the proxy, which opens
//! one upstream connection per client connection and pumps bytes both ways, applying the
//! current [`Settings`] to every chunk it reads.
//!
//! - Latency: each chunk is delivered `base + uniform(0..jitter)` after it was read, but never
//!   before the chunk read before it (order is kept, as TCP keeps it).
//! - Blackhole: bytes in a blackholed direction are never forwarded and the connection is never
//!   closed, so endpoints see a silent stall (only SSH keepalives or timeouts notice). The bytes
//!   are held, not discarded, as TCP retransmission would deliver them once the path heals:
//!   after [`FaultProxy::heal`] a connection resumes intact. New connections are accepted but
//!   the upstream connection is only opened once no direction is blackholed (a SYN that never
//!   arrives).
//! - NAT idle drop: a flow idle for longer than the limit is forgotten for good; its bytes are
//!   read and discarded both ways and nothing is ever closed (half-open).
//! - Shutdown: every live connection is closed with `SO_LINGER 0` on both sides (RST).
//!
//! If the upstream refuses the connection, the client's connection is closed (FIN), as
//! docker-proxy does for a stopped container: an SSH client sees
//! `kex_exchange_identification: Connection closed by remote host`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Largest chunk read (and delayed) as one unit.
const CHUNK: usize = 16 * 1024;

/// The proxy's fault settings, read by every connection for every chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    upstream: SocketAddr,
    latency: Duration,
    jitter: Duration,
    seed: u64,
    nat_idle: Option<Duration>,
    blackhole_to_server: bool,
    blackhole_to_client: bool,
    shutdown: bool,
}

impl Settings {
    fn blackholed(&self, direction: Direction) -> bool {
        match direction {
            Direction::ToServer => self.blackhole_to_server,
            Direction::ToClient => self.blackhole_to_client,
        }
    }
}

/// Which way bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToServer,
    ToClient,
}

/// A userspace TCP fault proxy in front of one target.
#[derive(Debug)]
pub struct FaultProxy {
    name: String,
    addr: SocketAddr,
    settings: watch::Sender<Settings>,
    live: Arc<AtomicUsize>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listen on 127.0.0.1:0 and forward every connection to `upstream`. `name` (the target's)
    /// labels its log lines.
    pub async fn start(name: &str, upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let settings = watch::Sender::new(Settings {
            upstream,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 0,
            nat_idle: None,
            blackhole_to_server: false,
            blackhole_to_client: false,
            shutdown: false,
        });
        let live = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn(accept_loop(
            name.to_owned(),
            listener,
            settings.subscribe(),
            live.clone(),
        ));
        tracing::debug!(proxy = name, %addr, %upstream, "fault proxy started");
        Ok(FaultProxy {
            name: name.to_owned(),
            addr,
            settings,
            live,
            accept: Some(accept),
        })
    }

    /// Where clients connect (127.0.0.1:<port>).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Forward new connections to `upstream` from now on (after a target restart changed its
    /// published port). Existing connections keep their upstream.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.settings.send_modify(|s| s.upstream = upstream);
    }

    /// One-way latency per direction: base + uniform(0..jitter) drawn per chunk from `seed`;
    /// order within a connection is preserved (a chunk never overtakes the previous one).
    pub fn set_latency(&self, base: Duration, jitter: Duration, seed: u64) {
        self.settings.send_modify(|s| {
            s.latency = base;
            s.jitter = jitter;
            s.seed = seed;
        });
    }

    /// NAT-style idle drop: a flow idle (no bytes either way) for longer than `idle` is
    /// forgotten: from then on its bytes are silently dropped both ways (half-open), like a NAT
    /// that lost the mapping. None: off.
    pub fn set_nat_idle(&self, idle: Option<Duration>) {
        self.settings.send_modify(|s| s.nat_idle = idle);
    }

    /// Blackhole: never forward (never close) bytes client->server and/or server->client on
    /// existing AND new connections; new connections are accepted but stall. The bytes are
    /// held until [`FaultProxy::heal`], as TCP retransmission would deliver them.
    pub fn blackhole(&self, to_server: bool, to_client: bool) {
        tracing::debug!(proxy = self.name, to_server, to_client, "blackhole");
        self.settings.send_modify(|s| {
            s.blackhole_to_server = to_server;
            s.blackhole_to_client = to_client;
        });
    }

    /// Undo [`FaultProxy::blackhole`]: held bytes flow again.
    pub fn heal(&self) {
        self.blackhole(false, false);
    }

    /// Client connections currently proxied (accepted and not yet closed).
    pub fn live_connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Stop listening and close every connection (RST).
    pub async fn shutdown(mut self) {
        self.settings.send_modify(|s| s.shutdown = true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            // Aborting the accept task drops its JoinSet, which aborts every connection.
            accept.abort();
        }
    }
}

async fn accept_loop(
    name: String,
    listener: TcpListener,
    settings: watch::Receiver<Settings>,
    live: Arc<AtomicUsize>,
) {
    let mut shutdown = settings.clone();
    let mut connections = JoinSet::new();
    let mut number = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, peer)) = accepted else { continue };
                let _ = client.set_nodelay(true);
                tracing::trace!(proxy = name, %peer, number, "accepted");
                connections.spawn(proxy_connection(client, number, settings.clone(), live.clone()));
                number += 1;
            }
            changed = shutdown.wait_for(|s| s.shutdown) => {
                let _ = changed;
                break;
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Connections see the shutdown flag and reset themselves.
    while connections.join_next().await.is_some() {}
}

/// Counts a live connection for as long as it exists.
struct LiveGuard(Arc<AtomicUsize>);

impl LiveGuard {
    fn new(live: Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Self(live)
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a connection's pumps ended.
enum End {
    /// Both directions closed normally.
    Done,
    /// Reset both sides.
    Reset,
}

async fn proxy_connection(
    mut client: TcpStream,
    number: u64,
    mut settings: watch::Receiver<Settings>,
    live: Arc<AtomicUsize>,
) {
    let _live = LiveGuard::new(live);
    let interrupted = |s: &Settings| s.shutdown;
    // A blackholed path: the SYN never arrives, so do not connect upstream yet.
    let ready = settings
        .wait_for(|s| interrupted(s) || (!s.blackhole_to_server && !s.blackhole_to_client))
        .await
        .map(|s| !interrupted(&s))
        .unwrap_or(false);
    if !ready {
        let _ = client.set_zero_linger();
        return;
    }
    let upstream_addr = settings.borrow().upstream;
    let mut server = match TcpStream::connect(upstream_addr).await {
        Ok(server) => server,
        Err(error) => {
            tracing::debug!(number, %upstream_addr, %error, "upstream connect failed");
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let last_activity = Arc::new(AtomicU64::new(0));
    let forgotten = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let end = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let flow = Flow {
            start,
            last_activity,
            forgotten,
        };
        let to_server = pump(
            client_read,
            server_write,
            Direction::ToServer,
            number,
            settings.clone(),
            &flow,
        );
        let to_client = pump(
            server_read,
            client_write,
            Direction::ToClient,
            number,
            settings.clone(),
            &flow,
        );
        tokio::pin!(to_server, to_client);
        let (mut server_done, mut client_done) = (false, false);
        loop {
            tokio::select! {
                end = &mut to_server, if !server_done => match end {
                    End::Reset => break End::Reset,
                    End::Done => server_done = true,
                },
                end = &mut to_client, if !client_done => match end {
                    End::Reset => break End::Reset,
                    End::Done => client_done = true,
                },
                _ = settings.wait_for(|s| interrupted(s)) => break End::Reset,
            }
            if server_done && client_done {
                break End::Done;
            }
        }
    };
    if let End::Reset = end {
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

/// What both directions of one connection share: when it last carried a byte, and whether the
/// NAT forgot it.
struct Flow {
    start: Instant,
    /// Milliseconds since `start` of the last byte read either way.
    last_activity: Arc<AtomicU64>,
    forgotten: Arc<AtomicBool>,
}

impl Flow {
    /// A chunk was read now: is the flow (still) known to the NAT?
    fn touch(&self, nat_idle: Option<Duration>) -> bool {
        if self.forgotten.load(Ordering::SeqCst) {
            return false;
        }
        let now = self.start.elapsed().as_millis() as u64;
        let last = self.last_activity.swap(now, Ordering::SeqCst);
        if let Some(idle) = nat_idle
            && now.saturating_sub(last) > idle.as_millis() as u64
        {
            self.forgotten.store(true, Ordering::SeqCst);
            return false;
        }
        true
    }
}

/// A chunk on its way, or the end of the stream.
enum Item {
    Chunk(Vec<u8>, Instant),
    Eof(Instant),
}

/// Pump one direction: read chunks, stamp their delivery time, deliver them in order.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    direction: Direction,
    number: u64,
    settings: watch::Receiver<Settings>,
    flow: &Flow,
) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (queue, mut pending) = mpsc::unbounded_channel::<Item>();
    let mut write_settings = settings.clone();
    let read = async move {
        let mut settings = settings;
        let mut rng_seed = None;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut previous = Instant::now();
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let n = match from.read(&mut buffer).await {
                Ok(n) => n,
                Err(_) => return End::Reset,
            };
            let current = settings.borrow().clone();
            if !flow.touch(current.nat_idle) {
                if n == 0 {
                    // The NAT forgot the flow: the FIN goes nowhere either; keep the half open.
                    std::future::pending::<()>().await;
                }
                continue;
            }
            // Blackholed: hold the bytes until the path heals.
            if current.blackholed(direction)
                && settings
                    .wait_for(|s| !s.blackholed(direction))
                    .await
                    .is_err()
            {
                return End::Reset;
            }
            let current = settings.borrow().clone();
            if rng_seed != Some(current.seed) {
                rng_seed = Some(current.seed);
                let stream = number.wrapping_mul(2) + (direction == Direction::ToClient) as u64;
                rng = ChaCha8Rng::seed_from_u64(
                    current.seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                );
            }
            let jitter = if current.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(rng.random_range(0..current.jitter.as_nanos() as u64))
            };
            let at = (Instant::now() + current.latency + jitter).max(previous);
            previous = at;
            let item = if n == 0 {
                Item::Eof(at)
            } else {
                Item::Chunk(buffer[..n].to_vec(), at)
            };
            if queue.send(item).is_err() || n == 0 {
                return End::Done;
            }
        }
    };
    let write = async move {
        let settings = &mut write_settings;
        while let Some(item) = pending.recv().await {
            let at = match &item {
                Item::Chunk(_, at) | Item::Eof(at) => *at,
            };
            tokio::time::sleep_until(at).await;
            if settings
                .wait_for(|s| !s.blackholed(direction))
                .await
                .is_err()
            {
                return End::Reset;
            }
            if flow.forgotten.load(Ordering::SeqCst) {
                continue;
            }
            match item {
                Item::Chunk(bytes, _) => {
                    if to.write_all(&bytes).await.is_err() {
                        return End::Reset;
                    }
                }
                Item::Eof(_) => {
                    let _ = to.shutdown().await;
                    return End::Done;
                }
            }
        }
        End::Done
    };
    tokio::pin!(read, write);
    tokio::select! {
        end = &mut read => match end {
            End::Reset => End::Reset,
            End::Done => write.await,
        },
        end = &mut write => match end {
            End::Reset => End::Reset,
            End::Done => read.await,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP server that greets every connection with `tag` and then echoes.
    async fn echo_server(tag: u8) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = stream.write_all(&[tag]).await;
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    async fn connect(proxy: &FaultProxy) -> TcpStream {
        TcpStream::connect(proxy.addr()).await.unwrap()
    }

    async fn read_exact(stream: &mut TcpStream, n: usize, within: Duration) -> Option<Vec<u8>> {
        let mut buffer = vec![0; n];
        match tokio::time::timeout(within, stream.read_exact(&mut buffer)).await {
            Ok(Ok(_)) => Some(buffer),
            Ok(Err(error)) => panic!("read failed: {error}"),
            Err(_) => None,
        }
    }

    const SOON: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn forwards_both_ways_and_counts_connections() {
        let proxy = FaultProxy::start("t", echo_server(b'A').await)
            .await
            .unwrap();
        let mut stream = connect(&proxy).await;
        assert_eq!(read_exact(&mut stream, 1, SOON).await.unwrap(), b"A");
        stream.write_all(b"hello").await.unwrap();
        assert_eq!(read_exact(&mut stream, 5, SOON).await.unwrap(), b"hello");
        assert_eq!(proxy.live_connections(), 1);
        drop(stream);
        for _ in 0..100 {
            if proxy.live_connections() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(proxy.live_connections(), 0);
        proxy.shutdown().await;
    }

    #[tokio::test]
    async fn latency_delays_every_chunk_and_keeps_order() {
        let proxy = FaultProxy::start("t", echo_server(b'A').await)
            .await
            .unwrap();
        let mut stream = connect(&proxy).await;
        assert_eq!(read_exact(&mut stream, 1, SOON).await.unwrap(), b"A");
        proxy.set_latency(Duration::from_millis(100), Duration::from_millis(80), 7);
        let started = Instant::now();
        let sent: Vec<u8> = (0..50u8).collect();
        for byte in &sent {
            stream.write_all(&[*byte]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let echoed = read_exact(&mut stream, sent.len(), SOON).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(echoed, sent, "order kept");
        assert!(
            elapsed >= Duration::from_millis(200),
            "two one-way delays: {elapsed:?}"
        );
        assert!(elapsed < Duration::from_millis(800), "{elapsed:?}");
        proxy.shutdown().await;
    }

    #[tokio::test]
    async fn blackhole_stalls_without_closing_and_heal_resumes() {
        let proxy = FaultProxy::start("t", echo_server(b'A').await)
            .await
            .unwrap();
        let mut stream = connect(&proxy).await;
        assert_eq!(read_exact(&mut stream, 1, SOON).await.unwrap(), b"A");
        proxy.blackhole(true, true);
        stream.write_all(b"ping").await.unwrap();
        assert_eq!(
            read_exact(&mut stream, 4, Duration::from_millis(300)).await,
            None
        );
        // A new connection is accepted but stalls: no greeting.
        let mut late = connect(&proxy).await;
        assert_eq!(
            read_exact(&mut late, 1, Duration::from_millis(200)).await,
            None
        );
        assert_eq!(proxy.live_connections(), 2);
        proxy.heal();
        assert_eq!(read_exact(&mut stream, 4, SOON).await.unwrap(), b"ping");
        assert_eq!(read_exact(&mut late, 1, SOON).await.unwrap(), b"A");
        // One direction only: requests pass, answers are held.
        proxy.blackhole(false, true);
        stream.write_all(b"pong").await.unwrap();
        assert_eq!(
            read_exact(&mut stream, 4, Duration::from_millis(300)).await,
            None
        );
        proxy.heal();
        assert_eq!(read_exact(&mut stream, 4, SOON).await.unwrap(), b"pong");
        proxy.shutdown().await;
    }

    #[tokio::test]
    async fn nat_idle_drops_an_idle_flow_silently() {
        let proxy = FaultProxy::start("t", echo_server(b'A').await)
            .await
            .unwrap();
        proxy.set_nat_idle(Some(Duration::from_millis(200)));
        let mut stream = connect(&proxy).await;
        assert_eq!(read_exact(&mut stream, 1, SOON).await.unwrap(), b"A");
        // Busy: every 50 ms, the flow stays.
        for _ in 0..6 {
            stream.write_all(b"x").await.unwrap();
            assert_eq!(read_exact(&mut stream, 1, SOON).await.unwrap(), b"x");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        stream.write_all(b"y").await.unwrap();
        assert_eq!(
            read_exact(&mut stream, 1, Duration::from_millis(400)).await,
            None
        );
        // Not closed: still counted, and writes still succeed.
        stream.write_all(b"z").await.unwrap();
        assert_eq!(proxy.live_connections(), 1);
        // A new flow works.
        let mut fresh = connect(&proxy).await;
        assert_eq!(read_exact(&mut fresh, 1, SOON).await.unwrap(), b"A");
        proxy.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_resets_every_live_connection() {
        let proxy = FaultProxy::start("t", echo_server(b'A').await)
            .await
            .unwrap();
        let mut first = connect(&proxy).await;
        let mut second = connect(&proxy).await;
        assert_eq!(read_exact(&mut first, 1, SOON).await.unwrap(), b"A");
        assert_eq!(read_exact(&mut second, 1, SOON).await.unwrap(), b"A");
        assert_eq!(proxy.live_connections(), 2);
        proxy.shutdown().await;
        for stream in [&mut first, &mut second] {
            let mut buffer = [0; 1];
            let error = tokio::time::timeout(SOON, stream.read(&mut buffer))
                .await
                .expect("reset arrives")
                .expect_err("a reset, not an EOF");
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
        }
    }

    #[tokio::test]
    async fn set_upstream_moves_new_connections_only() {
        let proxy = FaultProxy::start("t", echo_server(b'A').await)
            .await
            .unwrap();
        let mut old = connect(&proxy).await;
        assert_eq!(read_exact(&mut old, 1, SOON).await.unwrap(), b"A");
        proxy.set_upstream(echo_server(b'B').await);
        let mut new = connect(&proxy).await;
        assert_eq!(read_exact(&mut new, 1, SOON).await.unwrap(), b"B");
        old.write_all(b"still").await.unwrap();
        assert_eq!(read_exact(&mut old, 5, SOON).await.unwrap(), b"still");
        proxy.shutdown().await;
    }
}
