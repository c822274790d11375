//! The runtime seam for listening sockets and serving gRPC on them.
//!
//! On real networks a listener is bound up front (so a port in use fails
//! start-up with Go's message before anything else happens), each accepted
//! connection is handed straight to hyper/tonic, which owns it until it
//! closes (one owner, closed on every error path), and plain HTTP on the
//! same port goes to an [`HttpHandler`] (etcd's `/health`, `/version`). In
//! simulation madsim-tonic binds inside `serve` and speaks gRPC only.
//!
//! TLS ([`Listener::with_tls`], [`Dialer`], `tls.rs`) exists on real
//! networks only: in simulation asking for it is an error, never plain text.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[cfg(not(madsim))]
mod accept;
pub mod dns;
pub mod http1;
#[cfg(not(madsim))]
mod mux;
#[cfg(not(madsim))]
mod observe;
#[cfg(not(madsim))]
mod tls;

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

/// Go's text for an OS error: `address already in use` (Rust's, less its
/// capital and its `(os error N)`).
#[cfg_attr(madsim, allow(dead_code))]
fn go_text(e: &io::Error) -> String {
    let mut text = e.to_string();
    if let Some(i) = text.find(" (os error") {
        text.truncate(i);
    }
    match text.get(..1) {
        Some(first) => first.to_lowercase() + &text[1..],
        None => text,
    }
}

/// Go's text for a system call error: `bind: address already in use`.
#[cfg_attr(madsim, allow(dead_code))]
fn go_error(op: &str, addr: &ListenAddr, e: &io::Error) -> io::Error {
    let text = go_text(e);
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
    #[cfg(not(madsim))]
    tls: Option<Arc<tls::ServerTls>>,
    /// A TLS listener that also serves plain text (its port listed as both
    /// `http://` and `https://`): told apart by the first byte.
    #[cfg(not(madsim))]
    plain_too: bool,
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
            Ok(Listener {
                addr,
                bound,
                tls: None,
                plain_too: false,
            })
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

    /// Serves TLS described by `info` on this listener: every accepted
    /// connection does a TLS handshake first (on its own task, bounded).
    /// The certificate, key and CA files are read now; an error is etcd's
    /// text (`open x.crt: no such file or directory`). Real networks only.
    pub fn with_tls(self, info: &TlsInfo) -> io::Result<Listener> {
        #[cfg(not(madsim))]
        {
            let server = tls::ServerTls::new(info).map_err(io::Error::other)?;
            Ok(Listener {
                tls: Some(Arc::new(server)),
                ..self
            })
        }
        #[cfg(madsim)]
        {
            let _ = info;
            Err(io::Error::other(
                "TLS is not simulated; use http:// URLs in simulation",
            ))
        }
    }

    /// A TLS listener that serves plain-text clients too, as etcd 3.4 does
    /// for a port given as both `http://` and `https://` (a connection
    /// whose first byte starts no TLS record is served as it is).
    pub fn also_plain(self) -> Listener {
        #[cfg(not(madsim))]
        return Listener {
            plain_too: true,
            ..self
        };
        #[cfg(madsim)]
        self
    }

    /// Whether this listener serves TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(not(madsim))]
        return self.tls.is_some();
        #[cfg(madsim)]
        return false;
    }
}

/// etcd's `transport.TLSInfo` for one port (client or peer): what its
/// listener serves and, for the peer port, how this member dials the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `--cert-file` / `--peer-cert-file` (PEM, the chain after the leaf).
    pub cert_file: String,
    /// `--key-file` / `--peer-key-file` (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key_file: String,
    /// `--trusted-ca-file`: setting it alone already makes client
    /// certificates required (etcd 3.4's `ServerConfig` does the same).
    pub trusted_ca_file: String,
    /// `--client-cert-auth`: client certificates required and verified.
    pub client_cert_auth: bool,
    /// `--client-crl-file`: read on every handshake; a listed leaf is refused.
    pub crl_file: String,
    /// `--peer-cert-allowed-cn`: the client certificate's CN must be this.
    pub allowed_cn: String,
    /// `--peer-cert-allowed-hostname` / `--client-cert-allowed-hostname`:
    /// the client certificate must be valid for this host name.
    pub allowed_hostname: String,
    /// The peer port's `checkSAN`: a client certificate's SANs must name the
    /// remote address (off with
    /// `--experimental-peer-skip-client-san-verification`, and on the client
    /// port).
    pub check_client_san: bool,
    /// `--cipher-suites` (Go's names; TLS 1.2 only, as in Go).
    pub cipher_suites: Vec<String>,
    /// Generated by `--auto-tls` / `--peer-auto-tls`: peers then dial
    /// without verifying (etcd's `selfCert`).
    pub self_cert: bool,
    /// etcd's `ServerName`: the name a dialed peer's certificate is
    /// verified for (DNS discovery sets its domain when no CA is given);
    /// empty: the URL's host.
    pub server_name: String,
}

impl TlsInfo {
    /// etcd's `Empty`: neither certificate nor key given.
    pub fn is_empty(&self) -> bool {
        self.cert_file.is_empty() && self.key_file.is_empty()
    }

    /// How this member dials its peers with this (peer) TLS: its own
    /// certificate as the client certificate, the trusted CA for theirs.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls {
            ca_file: self.trusted_ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            insecure_skip_verify: self.self_cert,
            server_name: self.server_name.clone(),
        }
    }
}

impl fmt::Display for TlsInfo {
    /// As etcd logs it: `cert = …, key = …, trusted-ca = …, client-cert-auth = …, crl-file = …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cert = {}, key = {}, trusted-ca = {}, client-cert-auth = {}, crl-file = {}",
            self.cert_file,
            self.key_file,
            self.trusted_ca_file,
            self.client_cert_auth,
            self.crl_file
        )
    }
}

/// etcd's `SelfCert` (`--auto-tls`, `--peer-auto-tls`): a self-signed
/// certificate and key in `dir` (`<data-dir>/fixtures/client` or `peer`),
/// made if either file is missing, kept otherwise. `hosts` are the listen
/// URLs' `host:port`s, whose hosts become its SANs. Real networks only.
pub fn self_cert(dir: &std::path::Path, hosts: &[String], peer: bool) -> Result<TlsInfo, String> {
    #[cfg(not(madsim))]
    return tls::self_cert(dir, hosts, peer);
    #[cfg(madsim)]
    {
        let _ = (dir, hosts, peer);
        Err("TLS is not simulated".to_string())
    }
}

/// Go's names of the TLS 1.2 cipher suites oxcd can offer (`--cipher-suites`).
pub const CIPHER_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// How a client dials `https://` endpoints (etcdctl's `--cacert`, `--cert`,
/// `--key`, `--insecure-skip-tls-verify`; a member's peer TLS).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA that signed the server's certificate; empty: the system's roots.
    pub ca_file: String,
    /// A client certificate and its key, for servers that ask for one.
    pub cert_file: String,
    pub key_file: String,
    /// Accept any server certificate (the handshake is still encrypted).
    pub insecure_skip_verify: bool,
    /// The name to verify the server's certificate for; empty: the URL's host.
    pub server_name: String,
}

/// What a connection's accept layer knows about its client, put in every
/// request's extensions (tonic's `Connected::ConnectInfo`).
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    pub local_addr: Option<SocketAddr>,
    pub remote_addr: Option<SocketAddr>,
    /// The Subject CN of the client certificate the TLS handshake verified
    /// (only with `--client-cert-auth` or `--trusted-ca-file`).
    pub client_cn: Option<String>,
}

/// The Subject CN of the verified TLS client certificate of the connection
/// `req` came on, if any: what etcd's `AuthInfoFromTLS` takes as the user
/// name when auth is on and the request carries no token. `None` for plain
/// connections, certificates without a CN, and in simulation.
pub fn client_cert_cn<T>(req: &tonic::Request<T>) -> Option<&str> {
    req.extensions()
        .get::<ConnInfo>()
        .and_then(|i| i.client_cn.as_deref())
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
    /// The `Authorization` header (the JSON gateway's token).
    pub authorization: Option<String>,
    /// The `Content-Type` header (v2's form bodies).
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The port's own gRPC services (real networks only).
    pub grpc: Option<GrpcLoopback>,
}

/// A response body sent as it is produced (the gateway's streams): each
/// item goes out as it comes, and the body ends with the stream.
pub type BodyStream = futures::stream::BoxStream<'static, Vec<u8>>;

/// The answer to an [`HttpRequest`].
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Sent after `body`, when set.
    pub stream: Option<BodyStream>,
}

impl HttpResponse {
    pub fn new(status: u16, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers,
            body,
            stream: None,
        }
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("stream", &self.stream.is_some())
            .finish()
    }
}

/// The replies of a [`GrpcLoopback`] call, encoded; an error ends them.
pub type GrpcReplies = futures::stream::BoxStream<'static, Result<Vec<u8>, tonic::Status>>;

/// The port's own gRPC services, called in-process with encoded messages:
/// the JSON gateway's way in. etcd's grpc-gateway dials its own port; this
/// skips the socket but not the services, so every call passes the same
/// interceptors, checks and limits as one from a gRPC client.
#[derive(Clone)]
pub struct GrpcLoopback {
    #[cfg(not(madsim))]
    svc: mux::Loopback,
}

impl fmt::Debug for GrpcLoopback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GrpcLoopback")
    }
}

impl GrpcLoopback {
    /// Calls the method at `path` (`/etcdserverpb.KV/Range`) with
    /// `requests` as its request stream (closed after the last), and the
    /// `metadata` given. A unary method takes exactly one request.
    pub async fn call(
        &self,
        path: &str,
        metadata: Vec<(&'static str, String)>,
        requests: Vec<Vec<u8>>,
    ) -> Result<GrpcReplies, tonic::Status> {
        #[cfg(not(madsim))]
        {
            self.svc.call(path, metadata, requests).await
        }
        #[cfg(madsim)]
        {
            let _ = (path, metadata, requests);
            Err(tonic::Status::unimplemented("no HTTP face in simulation"))
        }
    }
}

/// Answers the plain HTTP requests of a port.
#[tonic::async_trait]
pub trait HttpHandler: Send + Sync + 'static {
    async fn handle(&self, req: HttpRequest) -> HttpResponse;

    /// Who is told of the port's gRPC calls (real networks only).
    fn grpc_observer(&self) -> Option<Arc<dyn GrpcObserver>> {
        None
    }
}

/// One served gRPC call, as [`GrpcObserver::handled`] learns of it.
#[derive(Clone, Debug, Default)]
pub struct GrpcCallStats {
    /// The gRPC status code.
    pub code: i32,
    pub took: Duration,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Told of every gRPC call a port serves (`/metrics`' `grpc_server_*`).
pub trait GrpcObserver: Send + Sync + 'static {
    /// A call to `path` (`/etcdserverpb.KV/Range`) arrived.
    fn started(&self, path: &str);
    /// It ended (once per started call, on every path).
    fn handled(&self, path: &str, stats: &GrpcCallStats);
}

/// Puts the HTTP face in front of the gRPC services (real networks only).
#[derive(Clone)]
pub struct HttpLayer {
    #[cfg_attr(madsim, allow(dead_code))]
    http: Arc<dyn HttpHandler>,
    #[cfg_attr(madsim, allow(dead_code))]
    body_bytes_max: usize,
    #[cfg_attr(madsim, allow(dead_code))]
    observer: Option<Arc<dyn GrpcObserver>>,
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
        observer: http.grpc_observer(),
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

/// A port of plain HTTP only (`/metrics` and `/health` ports): no gRPC
/// service, so gRPC calls to it are unimplemented. Real networks only: the
/// simulator serves no plain HTTP.
pub fn http_only_router(opts: &ServeOptions, http: Arc<dyn HttpHandler>) -> GrpcRouter {
    #[cfg(not(madsim))]
    {
        grpc_server(opts, http).add_routes(tonic::service::Routes::default())
    }
    #[cfg(madsim)]
    {
        let _ = (opts, http);
        panic!("plain HTTP ports are not simulated")
    }
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

/// Opens a gRPC channel to an etcd endpoint URL: `http://host:port`,
/// `https://host:port` (verified against the system's roots; see
/// [`dial_tls`] for anything else), or `unix://host:port` /
/// `unix:///path` (a socket file; the simulator has neither TLS nor
/// sockets). `timeout` bounds the connect.
pub async fn dial(url: &str, timeout: Duration) -> Result<tonic::transport::Channel, String> {
    Dialer::default().dial(url, timeout).await
}

/// [`dial`] with a client TLS configuration for `https://` URLs (an
/// `http://` URL is dialled in plain text, as etcd's client does).
pub async fn dial_tls(
    url: &str,
    timeout: Duration,
    tls: &ClientTls,
) -> Result<tonic::transport::Channel, String> {
    Dialer::new(Some(tls))?.dial(url, timeout).await
}

/// Dials endpoints with one TLS configuration, built once (the peer
/// transport keeps one for all its peers).
#[derive(Clone, Default)]
pub struct Dialer {
    /// The client configuration and the server name to verify (empty: the
    /// URL's host).
    #[cfg(not(madsim))]
    tls: Option<(Arc<rustls::ClientConfig>, String)>,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(not(madsim))]
        return write!(f, "Dialer {{ tls: {} }}", self.tls.is_some());
        #[cfg(madsim)]
        return write!(f, "Dialer");
    }
}

impl Dialer {
    /// `tls` is read now (CA, certificate and key files); `None` dials
    /// `https://` against the system's roots.
    pub fn new(tls: Option<&ClientTls>) -> Result<Dialer, String> {
        #[cfg(not(madsim))]
        return Ok(Dialer {
            tls: tls
                .map(|t| Ok::<_, String>((tls::client_config(t)?, t.server_name.clone())))
                .transpose()?,
        });
        #[cfg(madsim)]
        match tls {
            Some(_) => Err("TLS is not simulated".to_string()),
            None => Ok(Dialer {}),
        }
    }

    /// Opens a channel to `url` (see [`dial`]); `timeout` bounds the
    /// connect and, for `https://`, the handshake.
    pub async fn dial(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<tonic::transport::Channel, String> {
        self.open(url, timeout, false).await
    }

    /// A channel to `url` that connects on its first call (and reconnects
    /// after a failure), as grpc-go's non-blocking dial: for a proxy that
    /// must start while its cluster is down. `http://` and `https://` only.
    pub async fn dial_lazy(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<tonic::transport::Channel, String> {
        if url.starts_with("unix://") {
            return Err(format!("{url}: unix sockets are dialled at once only"));
        }
        self.open(url, timeout, true).await
    }

    async fn open(
        &self,
        url: &str,
        timeout: Duration,
        lazy: bool,
    ) -> Result<tonic::transport::Channel, String> {
        if let Some(path) = url.strip_prefix("unix://") {
            #[cfg(not(madsim))]
            return accept::dial_unix(path.to_string(), timeout).await;
            #[cfg(madsim)]
            return Err(format!("unix sockets are not simulated: {path}"));
        }
        if let Some(rest) = url.strip_prefix("https://") {
            #[cfg(not(madsim))]
            {
                let (config, name) = match &self.tls {
                    Some((c, n)) => (c.clone(), n.clone()),
                    None => (tls::default_client_config()?, String::new()),
                };
                return accept::dial_https(rest, config, name, timeout, lazy).await;
            }
            #[cfg(madsim)]
            return Err(format!("TLS is not simulated: https://{rest}"));
        }
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("bad endpoint {url:?}: {e}"))?
            .connect_timeout(timeout);
        if lazy {
            return Ok(endpoint.connect_lazy());
        }
        match tokio::time::timeout(timeout, endpoint.connect()).await {
            Ok(Ok(ch)) => Ok(ch),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("context deadline exceeded".into()),
        }
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
