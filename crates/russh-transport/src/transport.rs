use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use russh::client;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use sshrace_core::{Cause, ConnectOptions, Connection, Mark, Trace, Transport, TransportError};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::connection::{RusshConnection, Status};
use crate::counting::CountingStream;

/// Opens the byte stream a connection runs on.
#[async_trait]
pub trait Dialer: Send + Sync + 'static {
    /// The stream type (turmoil or tokio TCP).
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Open a TCP stream to `host`'s sshd.
    async fn dial(&self, host: &str) -> io::Result<Self::Stream>;
}

/// The sshrace [`Transport`] over the russh client.
pub struct RusshTransport<D> {
    dialer: D,
    client_host: String,
    trace: Trace,
    key: Arc<PrivateKey>,
    next_id: AtomicU64,
}

impl<D> std::fmt::Debug for RusshTransport<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RusshTransport")
            .field("client_host", &self.client_host)
            .finish()
    }
}

impl<D: Dialer> RusshTransport<D> {
    /// A transport for the client on `client_host` (the name its trace events carry), with the
    /// fixed test key the simulated sshd accepts.
    pub fn new(dialer: D, client_host: &str, trace: Trace) -> Self {
        Self::with_key(
            dialer,
            client_host,
            trace,
            PrivateKey::from(Ed25519Keypair::from_seed(&[11; 32])),
        )
    }

    /// A transport that authenticates with `key` (a real sshd's `authorized_keys` holds its
    /// public half).
    pub fn with_key(dialer: D, client_host: &str, trace: Trace, key: PrivateKey) -> Self {
        Self {
            dialer,
            client_host: client_host.to_owned(),
            trace,
            key: Arc::new(key),
            next_id: AtomicU64::new(0),
        }
    }

    async fn handshake(
        &self,
        id: u64,
        host: &str,
        options: &ConnectOptions,
    ) -> Result<RusshConnection, TransportError> {
        let stream = self
            .dialer
            .dial(host)
            .await
            .map_err(|error| match error.kind() {
                io::ErrorKind::ConnectionRefused => TransportError::new(
                    Cause::ConnectionRefused,
                    format!("ssh: connect to host {host} port 22: Connection refused"),
                ),
                _ => TransportError::new(
                    Cause::ConnectTimeout,
                    format!("ssh: connect to host {host} port 22: {error}"),
                ),
            })?;
        let (stream, banner) = CountingStream::new(stream);
        let status = Status::new();
        let config = client::Config {
            keepalive_interval: options.server_alive_interval,
            keepalive_max: options.server_alive_count_max as usize,
            inactivity_timeout: None,
            nodelay: true,
            // russh rekeys after 3600 s measured on the wall clock (std's Instant) and arms a
            // timer for the rest of that hour in tokio time: in a simulation that timer fires at
            // a simulated instant that depends on how fast the host ran, so the trace would.
            // Never rekey on time (the byte limits stay); runs are far shorter than an hour of
            // real time, and a real sshd still rekeys on its own schedule.
            limits: russh::Limits {
                rekey_time_limit: std::time::Duration::MAX,
                ..russh::Limits::default()
            },
            ..Default::default()
        };
        let established = Arc::new(AtomicBool::new(false));
        let handler = ClientHandler {
            status: status.clone(),
            id,
            host: host.to_owned(),
            client_host: self.client_host.clone(),
            trace: self.trace.clone(),
            established: established.clone(),
        };
        let lost = |status: &Status| {
            if !banner.load(Ordering::Relaxed) {
                TransportError::new(
                    Cause::ClosedBeforeBanner,
                    "kex_exchange_identification: Connection closed by remote host",
                )
            } else {
                status.error(host)
            }
        };
        let mut handle = client::connect_stream(Arc::new(config), stream, handler)
            .await
            .map_err(|_| lost(&status))?;
        let key = PrivateKeyWithHashAlg::new(self.key.clone(), None);
        let auth = handle
            .authenticate_publickey(options.identity.clone(), key)
            .await
            .map_err(|_| lost(&status))?;
        if !auth.success() {
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
            return Err(TransportError::new(
                Cause::AuthFailed,
                format!(
                    "{}@{host}: Permission denied (publickey).",
                    options.identity
                ),
            ));
        }
        established.store(true, Ordering::SeqCst);
        Ok(RusshConnection::new(
            id,
            host,
            &self.client_host,
            handle,
            status,
            self.trace.clone(),
            options.control_persist,
        ))
    }
}

#[async_trait]
impl<D: Dialer> Transport for RusshTransport<D> {
    async fn connect(
        &self,
        host: &str,
        options: &ConnectOptions,
    ) -> Result<Arc<dyn Connection>, TransportError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.trace.record_marked(
            &self.client_host,
            format!("c{id}: connect to {host}"),
            vec![Mark::begin(
                connection_span(id),
                format!("c{id} to {host}"),
                CONNECTIONS_TRACK,
            )],
        );
        let attempt = self.handshake(id, host, options);
        let result = match options.connect_timeout {
            Some(limit) => match tokio::time::timeout(limit, attempt).await {
                Ok(result) => result,
                Err(_) => Err(TransportError::new(
                    Cause::ConnectTimeout,
                    format!("Connection timed out during banner exchange with {host}"),
                )),
            },
            None => attempt.await,
        };
        match &result {
            Ok(_) => self
                .trace
                .record(&self.client_host, format!("c{id}: authenticated to {host}")),
            Err(error) => self.trace.record_marked(
                &self.client_host,
                format!("c{id}: connect failed: {}", error.message),
                vec![Mark::end(connection_span(id))],
            ),
        }
        result.map(|c| Arc::new(c) as Arc<dyn Connection>)
    }
}

/// The track the client's connections are drawn on.
const CONNECTIONS_TRACK: &str = "connections";

/// The span id of client connection `id`.
pub(crate) fn connection_span(id: u64) -> String {
    format!("c{id}")
}

/// russh client callbacks: accept the (simulated or test) host key, remember why the
/// connection ended, and trace an established connection's loss.
pub(crate) struct ClientHandler {
    status: Status,
    id: u64,
    host: String,
    client_host: String,
    trace: Trace,
    /// Authenticated: a loss from now on is the connection's end (before, the connect fails).
    established: Arc<AtomicBool>,
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Test hosts only: every run generates its host keys, so there is nothing to pin.
        Ok(true)
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let cause = match &reason {
            client::DisconnectReason::Error(russh::Error::KeepaliveTimeout) => {
                Cause::KeepaliveTimeout
            }
            _ => Cause::ConnectionLost,
        };
        if self.status.set(cause) && self.established.load(Ordering::SeqCst) {
            let why = match cause {
                Cause::KeepaliveTimeout => format!(
                    "keepalive timeout (Timeout, server {} not responding)",
                    self.host
                ),
                _ => format!("Connection to {} closed by remote host", self.host),
            };
            self.trace.record_marked(
                &self.client_host,
                format!("c{}: lost: {why}", self.id),
                vec![Mark::end(connection_span(self.id))],
            );
        }
        match reason {
            client::DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            client::DisconnectReason::Error(error) => Err(error),
        }
    }
}
