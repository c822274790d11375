//! Real sockets: binding, the accept loop and serving (not simulated).
//!
//! * **One owner per connection.** An accepted socket goes straight to
//!   tonic/hyper, whose connection task owns it: a reset, a protocol error,
//!   a timeout or the end of the stream drops it, and dropping closes it.
//! * **Accept errors back off** as Go's `net/http` does (5 ms doubling to
//!   1 s) instead of spinning, and a burst is logged once.
//! * **A connection cap** ([`connection_cap`]): beyond it a connection is
//!   accepted and closed at once (refused, never queued), so clients cannot
//!   take the descriptors the WAL, the backend and the peers need.
//! * **TLS handshakes off the accept loop.** On a TLS listener each
//!   accepted connection (already holding its permit) does its handshake on
//!   a task of its own, bounded by `tls::HANDSHAKE_TIMEOUT`; only finished
//!   handshakes reach tonic. A plain-text, silent or refused client costs
//!   one task until the timeout, never the loop.
//! * **Bounded shutdown.** On the signal the listener closes, connections
//!   get GOAWAY (HTTP/2) or close when idle (HTTP/1), in-flight requests
//!   have `drain` to finish, and then serving returns regardless.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::Connected;

use super::tls::ServerTls;
use super::{ConnInfo, GrpcRouter, ListenAddr, Listener};

/// Descriptors kept back from clients for the WAL, backend, peers and logs.
const RESERVED_FDS: u64 = 128;
/// The fewest client connections allowed, however low the fd limit.
const CONNECTIONS_MIN: u64 = 16;
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// Finished TLS handshakes waiting for tonic to take them.
const HANDSHAKES_DONE_MAX: usize = 64;

pub(super) enum Bound {
    Tcp(TcpListener),
    /// The socket file is removed when the listener closes (as Go's is).
    Unix(UnixListener, std::path::PathBuf),
}

impl Bound {
    pub(super) async fn bind(addr: &ListenAddr) -> io::Result<Bound> {
        match addr {
            ListenAddr::Tcp(a) => Ok(Bound::Tcp(TcpListener::bind(a).await?)),
            // Like etcd's client listener, a file already at the path (a
            // stale socket after a SIGKILL, too) fails the bind.
            ListenAddr::Unix(path) => Ok(Bound::Unix(UnixListener::bind(path)?, path.clone())),
        }
    }

    async fn accept(&self) -> io::Result<(Io, ConnInfo)> {
        match self {
            Bound::Tcp(l) => {
                let (s, remote) = l.accept().await?;
                // gRPC answers are small: don't let Nagle hold them back.
                let _ = s.set_nodelay(true);
                let info = ConnInfo {
                    local_addr: s.local_addr().ok(),
                    remote_addr: Some(remote),
                    client_cn: None,
                };
                Ok((Io::Tcp(s), info))
            }
            Bound::Unix(l, _) => Ok((Io::Unix(l.accept().await?.0), ConnInfo::default())),
        }
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        if let Bound::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// How many client connections the whole process may hold at once: the
/// soft `RLIMIT_NOFILE` less [`RESERVED_FDS`].
pub(super) fn connection_cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    };
    soft.saturating_sub(RESERVED_FDS)
        .clamp(CONNECTIONS_MIN, 1 << 20) as usize
}

/// One semaphore for every listener of the process: descriptors are shared.
fn connection_permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS
        .get_or_init(|| Arc::new(Semaphore::new(connection_cap())))
        .clone()
}

enum Io {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// A finished server handshake over one of the others.
    Tls(Box<tokio_rustls::server::TlsStream<Io>>),
}

/// An accepted connection; its permit goes back when it is dropped.
pub(super) struct Conn {
    io: Io,
    info: ConnInfo,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Unix(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The accept loop's state between connections.
struct Acceptor {
    listener: Listener,
    permits: Arc<Semaphore>,
    /// Failed accepts in the current burst, and connections refused at the cap.
    failures: u64,
    refused: u64,
}

impl Acceptor {
    /// The next connection within the cap. Never fails: errors are retried
    /// with Go's backoff, connections beyond the cap are closed at once.
    async fn next(&mut self) -> Conn {
        let mut backoff = Duration::ZERO;
        loop {
            let (io, info) = match self.listener.bound.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                    if self.failures == 0 {
                        tracing::warn!(
                            "accept error on {}: {e}; retrying in {backoff:?}",
                            self.listener.addr
                        );
                    }
                    self.failures += 1;
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            if self.failures > 0 {
                tracing::warn!(
                    "accepting again on {} after {} failed accepts",
                    self.listener.addr,
                    self.failures
                );
                self.failures = 0;
            }
            backoff = Duration::ZERO;
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                if self.refused == 0 {
                    tracing::warn!(
                        "refusing connections on {}: {} client connections are open (the cap from the open-files limit)",
                        self.listener.addr,
                        connection_cap()
                    );
                }
                self.refused += 1;
                drop(io);
                continue;
            };
            if self.refused > 0 {
                tracing::warn!(
                    "accepting again on {} after refusing {} connections",
                    self.listener.addr,
                    self.refused
                );
                self.refused = 0;
            }
            return Conn {
                io,
                info,
                _permit: permit,
            };
        }
    }
}

pub(super) async fn serve(
    router: GrpcRouter,
    listener: Listener,
    drain: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr = listener.addr.clone();
    let tls = listener.tls.clone();
    let plain_too = listener.plain_too;
    let acceptor = Acceptor {
        listener,
        permits: connection_permits(),
        failures: 0,
        refused: 0,
    };
    let incoming: futures::stream::BoxStream<'static, io::Result<Conn>> = match tls {
        None => Box::pin(futures::stream::unfold(acceptor, |mut a| async move {
            let conn = a.next().await;
            Some((Ok::<_, io::Error>(conn), a))
        })),
        Some(tls) => Box::pin(tls_incoming(acceptor, tls, plain_too)),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let serving = router.serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned());
    let mut serving = std::pin::pin!(serving);
    tokio::select! {
        res = &mut serving => return res.map_err(io::Error::other),
        _ = shutdown => {}
    }
    stop.cancel();
    match tokio::time::timeout(drain, serving).await {
        Ok(res) => res.map_err(io::Error::other),
        Err(_) => {
            tracing::warn!("stopped serving {addr} with connections still open after {drain:?}");
            Ok(())
        }
    }
}

/// Accepted connections whose TLS handshakes have finished: each handshake
/// runs on a task of its own (bounded by `tls::HANDSHAKE_TIMEOUT`, holding
/// the connection's permit), and tonic gets only the finished ones.
fn tls_incoming(
    acceptor: Acceptor,
    tls: Arc<ServerTls>,
    plain_too: bool,
) -> impl futures::Stream<Item = io::Result<Conn>> + Send + 'static {
    let (done_tx, done_rx) = mpsc::channel::<Conn>(HANDSHAKES_DONE_MAX);
    futures::stream::unfold(
        (acceptor, done_tx, done_rx),
        move |(mut acceptor, done_tx, mut done_rx)| {
            let tls = tls.clone();
            async move {
                loop {
                    tokio::select! {
                        biased;
                        Some(conn) = done_rx.recv() => {
                            return Some((Ok(conn), (acceptor, done_tx, done_rx)));
                        }
                        conn = acceptor.next() => {
                            tokio::spawn(handshake(tls.clone(), conn, plain_too, done_tx.clone()));
                        }
                    }
                }
            }
        },
    )
}

/// One connection's server handshake; a failure is logged as etcd logs it
/// and closes the connection (dropping it returns its permit).
async fn handshake(tls: Arc<ServerTls>, conn: Conn, plain_too: bool, done: mpsc::Sender<Conn>) {
    let Conn { io, info, _permit } = conn;
    let deadline = super::super::time::now() + super::tls::HANDSHAKE_TIMEOUT;
    // As Go's: plain text is closed without an answer (rustls would send an
    // alert, which an HTTP client shows as garbage), unless the port serves
    // plain text too.
    let first = async {
        let Io::Tcp(s) = &io else {
            return Ok(true);
        };
        let mut first = [0u8; 1];
        match s.peek(&mut first).await {
            Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => Ok(true),
            Ok(1) if plain_too => Ok(false),
            Ok(1) => Err("tls: first record does not look like a TLS handshake".to_string()),
            _ => Err("EOF".to_string()),
        }
    };
    let timed_out = || "tls: handshake timed out".to_string();
    let is_tls = tokio::time::timeout_at(deadline, first)
        .await
        .unwrap_or_else(|_| Err(timed_out()));
    let accepted = match is_tls {
        Ok(false) => {
            // Plain text on a port that serves both.
            let _ = done.send(Conn { io, info, _permit }).await;
            return;
        }
        Ok(true) => tokio::time::timeout_at(deadline, tls.accept(io, info.remote_addr))
            .await
            .unwrap_or_else(|_| Err(timed_out())),
        Err(e) => Err(e),
    };
    match accepted {
        Ok(accepted) => {
            let conn = Conn {
                io: Io::Tls(Box::new(accepted.stream)),
                info: ConnInfo {
                    client_cn: accepted.client_cn,
                    ..info
                },
                _permit,
            };
            // Fails only once serving has stopped: the connection closes.
            let _ = done.send(conn).await;
        }
        Err(e) => {
            let from = info.remote_addr.map_or_else(String::new, |a| a.to_string());
            tracing::info!(target: "embed", "rejected connection from {from:?} (error {e:?})");
        }
    }
}

/// A gRPC channel over TLS to `hostport` (`host:port`, maybe followed by
/// a path), verifying the server as `config` says.
pub(super) async fn dial_https(
    hostport: &str,
    config: Arc<rustls::ClientConfig>,
    server_name: String,
    timeout: Duration,
    lazy: bool,
) -> Result<tonic::transport::Channel, String> {
    let hostport = hostport.split('/').next().unwrap_or("").to_string();
    let (host, port) = hostport
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("address {hostport}: missing port in address"))?;
    let connector = tower::service_fn(move |_: tonic::codegen::http::Uri| {
        let (config, host, name) = (config.clone(), host.clone(), server_name.clone());
        async move {
            let s = super::tls::connect(config, &host, port, &name).await?;
            Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(s))
        }
    });
    // The connector reaches the server; the URI names it in requests.
    let endpoint = tonic::transport::Endpoint::from_shared(format!("https://{hostport}"))
        .map_err(|e| format!("bad endpoint https://{hostport}: {e}"))?
        .connect_timeout(timeout);
    if lazy {
        return Ok(endpoint.connect_with_connector_lazy(connector));
    }
    match tokio::time::timeout(timeout, endpoint.connect_with_connector(connector)).await {
        Ok(Ok(ch)) => Ok(ch),
        Ok(Err(e)) => Err(tonic_error_text(&e)),
        Err(_) => Err("context deadline exceeded".into()),
    }
}

/// A tonic transport error with its causes (the TLS reason is in them).
fn tonic_error_text(e: &tonic::transport::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A gRPC channel over the unix socket at `path`.
pub(super) async fn dial_unix(
    path: String,
    timeout: Duration,
) -> Result<tonic::transport::Channel, String> {
    let connector = tower::service_fn(move |_: tonic::codegen::http::Uri| {
        let path = path.clone();
        async move {
            let s = UnixStream::connect(path).await?;
            Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(s))
        }
    });
    // The URI is not dialled; the connector reaches the socket.
    let endpoint =
        tonic::transport::Endpoint::from_static("http://localhost").connect_timeout(timeout);
    match tokio::time::timeout(timeout, endpoint.connect_with_connector(connector)).await {
        Ok(Ok(ch)) => Ok(ch),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("context deadline exceeded".into()),
    }
}
