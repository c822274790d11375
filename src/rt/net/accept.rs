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
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::{GrpcRouter, ListenAddr, Listener};

/// Descriptors kept back from clients for the WAL, backend, peers and logs.
const RESERVED_FDS: u64 = 128;
/// The fewest client connections allowed, however low the fd limit.
const CONNECTIONS_MIN: u64 = 16;
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

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

    async fn accept(&self) -> io::Result<Io> {
        match self {
            Bound::Tcp(l) => {
                let (s, _) = l.accept().await?;
                // gRPC answers are small: don't let Nagle hold them back.
                let _ = s.set_nodelay(true);
                Ok(Io::Tcp(s))
            }
            Bound::Unix(l, _) => Ok(Io::Unix(l.accept().await?.0)),
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
}

/// An accepted connection; its permit goes back when it is dropped.
pub(super) struct Conn {
    io: Io,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match &self.io {
            Io::Tcp(s) => s.connect_info(),
            Io::Unix(_) => TcpConnectInfo {
                local_addr: None,
                remote_addr: None,
            },
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_flush(cx),
            Io::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
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
            let io = match self.listener.bound.accept().await {
                Ok(io) => io,
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
    let acceptor = Acceptor {
        listener,
        permits: connection_permits(),
        failures: 0,
        refused: 0,
    };
    let incoming = futures::stream::unfold(acceptor, |mut a| async move {
        let conn = a.next().await;
        Some((Ok::<_, io::Error>(conn), a))
    });
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
