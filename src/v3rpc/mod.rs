//! v3rpc: the gRPC face of the server, one file per etcd service ([`kv`],
//! [`lease`], [`watch`], [`maintenance`], [`cluster`], [`lock`],
//! [`election`], [`auth`]). Thin: admit the request ([`interceptor`]: the learner check,
//! and the caller's user), validate like etcd's `v3rpc/key.go` ([`validation`]), call
//! [`EtcdServer`], map errors to etcd's status codes ([`errors`]).

mod auth;
mod cluster;
mod election;
pub mod errors;
mod gateway;
pub mod http;
mod interceptor;
mod kv;
mod lease;
mod lock;
mod maintenance;
pub mod unimplemented;
mod v2client;
pub mod validation;
mod watch;

use std::sync::Arc;
use std::time::Duration;

pub use self::cluster::Cluster;
pub use self::errors::to_status;
pub use self::kv::Kv;
pub use self::lease::Lease;
pub use self::maintenance::Maintenance;
use crate::pb::etcdserverpb::{self, cluster_server, kv_server, maintenance_server};
use crate::pb::{v3electionpb, v3lockpb};
use crate::rt::net::{self, Listener, ServeOptions};
use crate::server::EtcdServer;

/// Limits the API enforces before anything reaches raft, and the pace of
/// what it sends unasked.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
    /// How often a watcher created with `progress_notify` hears the current
    /// revision when it had no events (etcd's `progressReportInterval`,
    /// plus up to a tenth of it as jitter).
    pub watch_progress_interval: Duration,
}

/// etcd's default `progressReportInterval`.
pub const WATCH_PROGRESS_INTERVAL: Duration = Duration::from_secs(600);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 1536 * 1024,
            max_txn_ops: 128,
            watch_progress_interval: WATCH_PROGRESS_INTERVAL,
        }
    }
}

/// gRPC adds framing around a request; etcd allows this much on top of
/// `--max-request-bytes` before the transport itself refuses a message.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The decoder's own hard bound; sizes between the configured limit and this
/// are refused by [`Kv::check_size`] with grpc-go's message.
pub const DECODE_BYTES_MAX: usize = 64 << 20;

/// Serves every gRPC service (and, on real networks, etcd's HTTP endpoints)
/// on `listener` until `shutdown` resolves.
pub async fn serve(
    server: Arc<EtcdServer>,
    limits: Limits,
    listener: Listener,
    opts: &ServeOptions,
    face: http::ClientFace,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = (limits.max_request_bytes + GRPC_OVERHEAD_BYTES).max(DECODE_BYTES_MAX);
    let kv = kv_server::KvServer::new(Kv {
        server: server.clone(),
        limits,
    })
    .max_decoding_message_size(max);
    let maint = maintenance_server::MaintenanceServer::new(Maintenance {
        server: server.clone(),
    });
    let cluster = cluster_server::ClusterServer::new(Cluster {
        server: server.clone(),
    });
    let lease = etcdserverpb::lease_server::LeaseServer::new(Lease {
        server: server.clone(),
    });
    let watch = etcdserverpb::watch_server::WatchServer::new(watch::Watch {
        server: server.clone(),
        // etcd's watch server adds gRPC's overhead to the limit too.
        fragment_bytes: limits.max_request_bytes + GRPC_OVERHEAD_BYTES,
        progress_interval: limits.watch_progress_interval,
    });
    let lock = v3lockpb::lock_server::LockServer::new(lock::Lock {
        server: server.clone(),
    });
    let election = v3electionpb::election_server::ElectionServer::new(election::Election {
        server: server.clone(),
    });
    let http = Arc::new(http::ClientHttp {
        server: server.clone(),
        face,
    });
    let router = net::grpc_server(opts, http)
        .add_service(kv)
        .add_service(maint)
        .add_service(cluster)
        .add_service(watch)
        .add_service(lease)
        .add_service(
            etcdserverpb::auth_server::AuthServer::new(auth::Auth {
                server: server.clone(),
                limits,
            })
            .max_decoding_message_size(max),
        )
        .add_service(lock)
        .add_service(election);
    net::serve(router, listener, opts.drain, shutdown).await
}

/// Serves a `--listen-metrics-urls` port: `/metrics` and `/health` over
/// plain HTTP, and no gRPC service at all.
pub async fn serve_metrics(
    server: Arc<EtcdServer>,
    listener: Listener,
    opts: &ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let http = Arc::new(http::MetricsHttp { server });
    let router = net::http_only_router(opts, http);
    net::serve(router, listener, opts.drain, shutdown).await
}
