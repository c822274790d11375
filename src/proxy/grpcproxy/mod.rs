//! `etcd grpc-proxy start`: etcd 3.4's gRPC proxy (`proxy/grpcproxy`). One
//! port serves etcd's eight gRPC services (and `/metrics`, `/health`) and
//! forwards every call to the cluster over one channel, passing the
//! caller's `token`/`authorization` metadata on so auth works through it.
//! Two services do more than forward: KV answers serializable ranges from a
//! bounded cache ([`cache`]), and Watch shares one upstream watch among the
//! client watchers of a key range ([`broadcast`]).
//!
//! ```text
//! client ──▶ proxy port (rt::net::serve) ── kv.rs ── cache.rs ─┐
//!                                         ├ watch.rs ── broadcast.rs (Hub) ─┤ namespace.rs ─▶ cluster
//!                                         └ lease, cluster, maintenance,    │ (--namespace)
//!                                           auth, lock, election: forward ──┘
//! ```

pub mod cmd;

mod auth;
mod broadcast;
mod cache;
mod cluster;
mod election;
mod kv;
mod lease;
mod lock;
mod maintenance;
mod metrics;
mod namespace;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::Request;

use crate::pb::etcdserverpb::{
    auth_client::AuthClient, auth_server::AuthServer, cluster_client::ClusterClient,
    cluster_server::ClusterServer, kv_client::KvClient, kv_server::KvServer,
    lease_client::LeaseClient, lease_server::LeaseServer, maintenance_client::MaintenanceClient,
    maintenance_server::MaintenanceServer, watch_client::WatchClient, watch_server::WatchServer,
};
use crate::pb::v3electionpb::{election_client::ElectionClient, election_server::ElectionServer};
use crate::pb::v3lockpb::{lock_client::LockClient, lock_server::LockServer};
use crate::rt::net::{self, Dialer, ListenAddr, Listener, ServeOptions, TlsInfo};

use cmd::Start;
use metrics::{ProxyHttp, ProxyMetrics};
use namespace::Namespace;

/// The caller's metadata the cluster must see: its auth token (gRPC's
/// `token`, the gateway's `authorization`) and clientv3's require-leader
/// mark.
const PASSED_METADATA: &[&str] = &["token", "authorization", "hasleader"];

/// A request to the cluster carrying `msg` and what of the caller's
/// metadata `md` the cluster must see.
pub(crate) fn up<T>(md: &MetadataMap, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    for k in PASSED_METADATA {
        if let Some(v) = md.get(*k) {
            r.metadata_mut().insert(*k, v.clone());
        }
    }
    r
}

/// What every service of the proxy shares: the channel to the cluster,
/// the namespace, the limits and the proxy's metrics.
#[derive(Clone)]
pub(crate) struct Upstream {
    ch: Channel,
    pub ns: Namespace,
    pub metrics: Arc<ProxyMetrics>,
    max_send_bytes: usize,
    max_recv_bytes: usize,
}

macro_rules! client {
    ($name:ident, $client:ident) => {
        pub fn $name(&self) -> $client<Channel> {
            $client::new(self.ch.clone())
                .max_encoding_message_size(self.max_send_bytes)
                .max_decoding_message_size(self.max_recv_bytes)
        }
    };
}

impl Upstream {
    client!(kv, KvClient);
    client!(watch, WatchClient);
    client!(lease, LeaseClient);
    client!(cluster, ClusterClient);
    client!(maintenance, MaintenanceClient);
    client!(auth, AuthClient);
    client!(lock, LockClient);
    client!(election, ElectionClient);
}

/// What etcd 3.4's proxy answers for an error of the cluster that came
/// through clientv3's KV, Lease or Cluster API (rather than a raw gRPC
/// client): clientv3 turns an etcd error into a Go error without a gRPC
/// status, which grpc-go then sends as `Unknown` with the same text.
/// Clients match etcd's errors by text, so they see the same error.
pub(crate) fn via_clientv3(s: tonic::Status) -> tonic::Status {
    if s.message().starts_with("etcdserver: ") {
        tonic::Status::unknown(s.message())
    } else {
        s
    }
}

/// Implements a service by forwarding each listed unary method to the
/// same method of the cluster (`self.up.<client>()`), the caller's token
/// passed on, errors through `$map` (`via_clientv3` or `identity`); items
/// after the list (streams) are pasted in as they are.
macro_rules! forward {
    (impl $svc:path => $ty:ty, $client:ident, $map:path { $($m:ident($req:ty) -> $resp:ty;)* } $($extra:tt)*) => {
        #[tonic::async_trait]
        impl $svc for $ty {
            $(
                async fn $m(
                    &self,
                    r: tonic::Request<$req>,
                ) -> Result<tonic::Response<$resp>, tonic::Status> {
                    let (md, _, msg) = r.into_parts();
                    let answer = self
                        .up
                        .$client()
                        .$m($crate::proxy::grpcproxy::up(&md, msg))
                        .await
                        .map_err($map)?;
                    Ok(tonic::Response::new(answer.into_inner()))
                }
            )*
            $($extra)*
        }
    };
}
pub(crate) use forward;

/// A server stream from the cluster, handed to the caller as it comes
/// (dropped, and so cancelled upstream, when the caller goes away).
pub(crate) type Passed<T> = futures::stream::BoxStream<'static, Result<T, tonic::Status>>;

/// A request stream fed from a bounded queue (ends when its senders go).
pub(crate) fn receiver_stream<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) })
}

pub(crate) fn pass<T: Send + 'static>(s: tonic::Streaming<T>) -> Passed<T> {
    Box::pin(s)
}

/// How long one dial of a cluster endpoint may take at start.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// The channel to the cluster: the first endpoint that answers a dial, or
/// (none answering: etcd's proxy starts anyway) the first, dialled on use.
async fn dial(s: &Start) -> Result<(Channel, String), String> {
    let dialer = Dialer::new(s.client_tls.as_ref())?;
    if s.client_tls
        .as_ref()
        .is_some_and(|t| t.insecure_skip_verify)
    {
        tracing::warn!("--insecure-skip-tls-verify was given, this grpc proxy process skips authentication of etcd server TLS certificates. This option should be enabled only for testing purposes.");
    }
    for ep in &s.endpoints {
        match dialer.dial(ep, DIAL_TIMEOUT).await {
            Ok(ch) => return Ok((ch, ep.clone())),
            Err(e) => tracing::warn!(endpoint = %ep, error = %e, "failed to dial endpoint"),
        }
    }
    let ep = &s.endpoints[0];
    Ok((dialer.dial_lazy(ep, DIAL_TIMEOUT).await?, ep.clone()))
}

/// The proxy port's TLS: its certificate flags, else `--auto-tls`'s
/// certificate in `<data-dir>/fixtures/proxy`, else none.
fn listen_tls(s: &Start) -> Result<Option<TlsInfo>, String> {
    let t = &s.listen_tls;
    let mut info =
        if !t.cert_file.is_empty() || !t.key_file.is_empty() || !t.trusted_ca_file.is_empty() {
            TlsInfo {
                cert_file: t.cert_file.clone(),
                key_file: t.key_file.clone(),
                trusted_ca_file: t.trusted_ca_file.clone(),
                ..TlsInfo::default()
            }
        } else if t.auto_tls {
            let dir = std::path::Path::new(&s.data_dir)
                .join("fixtures")
                .join("proxy");
            net::self_cert(&dir, std::slice::from_ref(&s.listen_addr), false)?
        } else {
            return Ok(None);
        };
    info.crl_file = t.crl_file.clone();
    info.cipher_suites = t.cipher_suites.clone();
    Ok(Some(info))
}

async fn bind(addr: &str, tls: Option<&TlsInfo>) -> Result<Listener, String> {
    let parsed = ListenAddr::parse(&format!("http://{addr}"))?;
    let l = Listener::bind(parsed).await.map_err(|e| e.to_string())?;
    match tls {
        Some(t) => l.with_tls(t).map_err(|e| e.to_string()),
        None => Ok(l),
    }
}

/// Runs the proxy until a listener fails; the exit code.
pub async fn start(s: Start) -> i32 {
    match run(s).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

async fn run(s: Start) -> Result<(), String> {
    for w in &s.warnings {
        tracing::warn!("{w}");
    }
    let tls = listen_tls(&s)?;
    if let Some(t) = &tls {
        tracing::info!(tls_info = %t, "gRPC proxy server TLS");
    }
    let listener = bind(&s.listen_addr, tls.as_ref()).await?;
    tracing::info!(address = %s.listen_addr, "listening for gRPC proxy client requests");
    let metrics_listener = if s.metrics_addr.is_empty() {
        None
    } else {
        let (scheme, hostport) = s
            .metrics_addr
            .split_once("://")
            .ok_or_else(|| format!("cannot parse {:?}", s.metrics_addr))?;
        let mtls = match scheme {
            "https" => Some(tls.as_ref().ok_or_else(|| {
                format!(
                    "TLS key/cert (--cert-file, --key-file) must be provided for metrics URL {}",
                    s.metrics_addr
                )
            })?),
            _ => None,
        };
        let l = bind(hostport.trim_end_matches('/'), mtls).await?;
        tracing::info!(address = %s.metrics_addr, "gRPC proxy listening for metrics");
        Some(l)
    };
    let (ch, endpoint) = dial(&s).await?;
    let up = Upstream {
        ch,
        ns: Namespace::new(&s.namespace),
        metrics: Arc::new(ProxyMetrics::default()),
        max_send_bytes: s.max_send_bytes.max(1),
        max_recv_bytes: s.max_recv_bytes.max(1),
    };
    let http = Arc::new(ProxyHttp {
        metrics: up.metrics.clone(),
        kv: up.kv(),
        endpoint,
    });
    let opts = ServeOptions {
        max_concurrent_streams: s.max_concurrent_streams,
        ..ServeOptions::default()
    };
    let router = net::grpc_server(&opts, http.clone())
        .add_service(KvServer::new(kv::KvProxy::new(up.clone())))
        .add_service(WatchServer::new(watch::WatchProxy::new(up.clone())))
        .add_service(LeaseServer::new(lease::LeaseProxy { up: up.clone() }))
        .add_service(ClusterServer::new(cluster::ClusterProxy {
            up: up.clone(),
            advertise_client_url: s.advertise_client_url.clone(),
        }))
        .add_service(MaintenanceServer::new(maintenance::MaintenanceProxy {
            up: up.clone(),
        }))
        .add_service(AuthServer::new(auth::AuthProxy { up: up.clone() }))
        .add_service(LockServer::new(lock::LockProxy { up: up.clone() }))
        .add_service(ElectionServer::new(election::ElectionProxy { up }));
    tracing::info!(address = %s.listen_addr, "started gRPC proxy");
    let never = std::future::pending::<()>;
    let grpc = net::serve(router, listener, opts.drain, never());
    let Some(ml) = metrics_listener else {
        return grpc.await.map_err(|e| e.to_string());
    };
    // A port of plain HTTP only: gRPC calls to it are unimplemented.
    let metrics_router = net::http_only_router(&opts, http);
    let metrics = net::serve(metrics_router, ml, opts.drain, never());
    tokio::select! {
        r = grpc => r.map_err(|e| e.to_string()),
        r = metrics => r.map_err(|e| e.to_string()),
    }
}
