//! The runtime seam for listening sockets and serving gRPC on them.
//!
//! On real networks a listener is bound up front (so a port in use fails
//! start-up with Go's message before anything else happens), each accepted
//! connection is handed straight to hyper/tonic, which owns it until it
//! closes (one owner, closed on every error path), and plain HTTP on the
//! same port goes to an [`HttpHandler`] (etcd's `/health`, `/version`). In
//! simulation madsim-tonic binds inside `serve` and speaks gRPC only.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[cfg(not(madsim))]
mod accept;
#[cfg(not(madsim))]
mod mux;

/// Where a listener listens, from one of etcd's listen URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    /// A unix socket file: etcd names it after the URL's `host:port`
    /// (`unix://localhost:2379` is the file `localhost:2379` in the working
    /// directory).
    Unix(PathBuf),
}

impl ListenAddr {
    /// Parses `http://host:port`, `https://host:port` or `unix://host:port`
    /// (`localhost` is 127.0.0.1, as etcd resolves it).
    pub fn parse(url: &str) -> Result<ListenAddr, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("URL scheme must be http, https, unix, or unixs: {url}"))?;
        if matches!(scheme, "unix" | "unixs") {
            if rest.is_empty() {
                return Err(format!("unix socket URL needs a path: {url}"));
            }
            return Ok(ListenAddr::Unix(PathBuf::from(rest)));
        }
        if !matches!(scheme, "http" | "https") {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {url}"
            ));
        }
        let hostport = rest.split('/').next().unwrap_or("");
        let (host, port) = hostport
            .rsplit_once(':')
            .ok_or_else(|| format!("address {hostport}: missing port in address"))?;
        let host = match host {
            "localhost" | "" => "127.0.0.1",
            h => h.trim_start_matches('[').trim_end_matches(']'),
        };
        format!("{host}:{port}")
            .parse()
            .or_else(|_| format!("[{host}]:{port}").parse())
            .map(ListenAddr::Tcp)
            .map_err(|_| format!("listen tcp {hostport}: invalid address"))
    }

    /// The TCP address, for the transports that only speak TCP.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Tcp(a) => Some(*a),
            ListenAddr::Unix(_) => None,
        }
    }

    #[cfg_attr(madsim, allow(dead_code))]
    fn network(&self) -> &'static str {
        match self {
            ListenAddr::Tcp(_) => "tcp",
            ListenAddr::Unix(_) => "unix",
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Go's text for a system call error: `bind: address already in use`.
#[cfg_attr(madsim, allow(dead_code))]
fn go_error(op: &str, addr: &ListenAddr, e: &io::Error) -> io::Error {
    let mut text = e.to_string();
    if let Some(i) = text.find(" (os error") {
        text.truncate(i);
    }
    let text = match text.get(..1) {
        Some(first) => first.to_lowercase() + &text[1..],
        None => text,
    };
    io::Error::new(
        e.kind(),
        format!("listen {} {addr}: {op}: {text}", addr.network()),
    )
}

/// A bound listening socket (in simulation, only its address).
pub struct Listener {
    addr: ListenAddr,
    #[cfg(not(madsim))]
    bound: accept::Bound,
}

impl Listener {
    /// Binds now, so that a port in use fails start-up with Go's message
    /// (`listen tcp 127.0.0.1:2379: bind: address already in use`).
    pub async fn bind(addr: ListenAddr) -> io::Result<Listener> {
        #[cfg(not(madsim))]
        {
            let bound = accept::Bound::bind(&addr)
                .await
                .map_err(|e| go_error("bind", &addr, &e))?;
            Ok(Listener { addr, bound })
        }
        #[cfg(madsim)]
        {
            if addr.tcp().is_none() {
                return Err(io::Error::other(
                    "unix sockets are not simulated; use http:// URLs",
                ));
            }
            Ok(Listener { addr })
        }
    }

    pub fn addr(&self) -> &ListenAddr {
        &self.addr
    }
}

/// How connections are served (etcd's flags of the same names).
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// `--max-concurrent-streams`: streams one client connection may open.
    pub max_concurrent_streams: u32,
    /// `--grpc-keepalive-interval`: idle time before the server pings.
    pub keepalive_interval: Duration,
    /// `--grpc-keepalive-timeout`: how long a ping may go unanswered.
    pub keepalive_timeout: Duration,
    /// `--grpc-keepalive-min-time`: clients pinging more often are cut off.
    pub keepalive_min_time: Duration,
    /// Largest plain HTTP request body read.
    pub http_body_bytes_max: usize,
    /// After shutdown begins, how long in-flight requests may still finish.
    pub drain: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_concurrent_streams: u32::MAX,
            keepalive_interval: Duration::from_secs(2 * 60 * 60),
            keepalive_timeout: Duration::from_secs(20),
            keepalive_min_time: Duration::from_secs(5),
            http_body_bytes_max: 2 << 20,
            drain: Duration::from_secs(2),
        }
    }
}

/// A plain HTTP request (anything on the port that is not gRPC).
#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The `Origin` header, for CORS.
    pub origin: Option<String>,
    pub body: Vec<u8>,
}

/// The answer to an [`HttpRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Answers the plain HTTP requests of a port.
#[tonic::async_trait]
pub trait HttpHandler: Send + Sync + 'static {
    async fn handle(&self, req: HttpRequest) -> HttpResponse;
}

/// Puts the HTTP face in front of the gRPC services (real networks only).
#[derive(Clone)]
pub struct HttpLayer {
    #[cfg_attr(madsim, allow(dead_code))]
    http: Arc<dyn HttpHandler>,
    #[cfg_attr(madsim, allow(dead_code))]
    body_bytes_max: usize,
}

#[cfg(not(madsim))]
type GrpcLayers = tower_layer::Stack<HttpLayer, tower_layer::Identity>;
/// The tonic server every port is built from.
#[cfg(not(madsim))]
pub type GrpcServer = tonic::transport::Server<GrpcLayers>;
#[cfg(not(madsim))]
pub type GrpcRouter = tonic::transport::server::Router<GrpcLayers>;
// madsim-tonic keeps its layer types private and ignores layers anyway.
#[cfg(madsim)]
pub type GrpcServer = tonic::transport::Server;
#[cfg(madsim)]
pub type GrpcRouter = tonic::transport::server::Router;

/// A gRPC server configured from `opts`, with `http` answering plain HTTP.
pub fn grpc_server(opts: &ServeOptions, http: Arc<dyn HttpHandler>) -> GrpcServer {
    let layer = HttpLayer {
        http,
        body_bytes_max: opts.http_body_bytes_max,
    };
    #[cfg(not(madsim))]
    let builder = {
        h2::server::set_keepalive_enforcement(Some(opts.keepalive_min_time));
        tonic::transport::Server::builder().layer(layer)
    };
    #[cfg(madsim)]
    let builder = {
        drop(layer);
        tonic::transport::Server::builder()
    };
    let keepalive = (!opts.keepalive_interval.is_zero()).then_some(opts.keepalive_interval);
    builder
        .accept_http1(true)
        .max_concurrent_streams(opts.max_concurrent_streams)
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(opts.keepalive_timeout))
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish for at most `drain`, and
/// returns (connections still open then are abandoned to the process exit).
pub async fn serve(
    router: GrpcRouter,
    listener: Listener,
    drain: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    #[cfg(madsim)]
    {
        let _ = drain;
        let addr = listener.addr.tcp().expect("bind refuses unix sockets");
        router
            .serve_with_shutdown(addr, shutdown)
            .await
            .map_err(io::Error::other)
    }
    #[cfg(not(madsim))]
    {
        accept::serve(router, listener, drain, shutdown).await
    }
}

/// Opens a gRPC channel to an etcd endpoint URL: `http://host:port`, or
/// `unix://host:port` / `unix:///path` (a socket file; the simulator has
/// none). `timeout` bounds the connect.
pub async fn dial(url: &str, timeout: Duration) -> Result<tonic::transport::Channel, String> {
    if let Some(path) = url.strip_prefix("unix://") {
        #[cfg(not(madsim))]
        return accept::dial_unix(path.to_string(), timeout).await;
        #[cfg(madsim)]
        return Err(format!("unix sockets are not simulated: {path}"));
    }
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("bad endpoint {url:?}: {e}"))?
        .connect_timeout(timeout);
    match tokio::time::timeout(timeout, endpoint.connect()).await {
        Ok(Ok(ch)) => Ok(ch),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("context deadline exceeded".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_urls() {
        let p = |u| ListenAddr::parse(u).map(|a| a.to_string());
        assert_eq!(p("http://localhost:2379").unwrap(), "127.0.0.1:2379");
        assert_eq!(p("https://0.0.0.0:2379").unwrap(), "0.0.0.0:2379");
        assert_eq!(p("http://[::1]:2379").unwrap(), "[::1]:2379");
        assert_eq!(p("unix://localhost:2379").unwrap(), "localhost:2379");
        assert_eq!(
            p("foo").unwrap_err(),
            "URL scheme must be http, https, unix, or unixs: foo"
        );
        assert_eq!(
            p("http://host").unwrap_err(),
            "address host: missing port in address"
        );
    }

    #[test]
    fn go_error_text() {
        let e = io::Error::from_raw_os_error(98);
        let addr = ListenAddr::parse("http://127.0.0.1:2379").unwrap();
        assert_eq!(
            go_error("bind", &addr, &e).to_string(),
            "listen tcp 127.0.0.1:2379: bind: address already in use"
        );
    }
}
