//! Assembles a running member from a [`Config`]: storage, raft node, server
//! and client listener. Used by the `etcd` binary and by the simulator (which
//! passes its own disk and backend).

use std::io;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::lease::{LessorConfig, CHECKPOINT_INTERVAL};
use crate::membership::{compute_cluster_id, compute_member_id};
use crate::pb::etcdserverpb::Member as PbMember;
use crate::raftnode::{MemberRemoved, NodeConfig, RaftNode};
use crate::rt::disk::Disk;
use crate::rt::net::{Dialer, ListenAddr, Listener, ServeOptions, TlsInfo};
use crate::server::{EtcdServer, MemberInfo};
use crate::storage::backend::Backend;
use crate::transport::{PeerHost, RaftSink};
use crate::v3rpc::{self, Limits};

/// Proposals waiting for the raft loop.
const PROPOSAL_QUEUE_MAX: usize = 8192;

/// The member's identity as derived from its configuration.
pub struct Identity {
    pub member_id: u64,
    pub cluster_id: u64,
    pub members: Vec<MemberInfo>,
}

/// Works out member and cluster IDs like etcd, refusing what it cannot serve.
pub fn identity(cfg: &Config) -> Result<Identity, String> {
    let mut by_name: Vec<(String, Vec<String>)> = Vec::new();
    for (n, u) in &cfg.initial_cluster {
        match by_name.iter_mut().find(|(m, _)| m == n) {
            Some((_, urls)) => urls.push(u.clone()),
            None => by_name.push((n.clone(), vec![u.clone()])),
        }
    }
    let Some((_, own_urls)) = by_name.iter().find(|(n, _)| *n == cfg.name) else {
        return Err(format!(
            "couldn't find local name {:?} in the initial cluster configuration",
            cfg.name
        ));
    };
    let mut want = cfg.initial_advertise_peer_urls.clone();
    let mut have = own_urls.clone();
    want.sort();
    have.sort();
    if want != have {
        return Err(format!(
            "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={} (resolved urls: {:?} != {:?})",
            cfg.name,
            have.join(","),
            cfg.initial_advertise_peer_urls.join(","),
            have,
            want
        ));
    }
    let members: Vec<MemberInfo> = by_name
        .iter()
        .map(|(n, urls)| MemberInfo {
            id: compute_member_id(urls, &cfg.initial_cluster_token),
            name: n.clone(),
            peer_urls: urls.clone(),
            client_urls: if *n == cfg.name {
                cfg.advertise_client_urls.clone()
            } else {
                vec![]
            },
        })
        .collect();
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    let member_id = members
        .iter()
        .find(|m| m.name == cfg.name)
        .expect("found above")
        .id;
    Ok(Identity {
        member_id,
        cluster_id: compute_cluster_id(&ids),
        members,
    })
}

/// etcd's `PeerURLsMapAndToken` for `--discovery-srv`: a member not yet
/// initialized (no WAL) takes its initial cluster from DNS SRV records
/// (`srv::dns_cluster_names`), logging what it found as etcd does; one
/// that is needs none (etcd skips the lookup: the WAL knows the cluster).
/// Runs after [`listen`], as etcd's, and may name the domain as the one
/// peers' certificates are verified for (`listeners.peer_tls`). The error
/// is etcd's reason, which the binary logs after "error setting up
/// initial cluster: ".
pub async fn discover(
    cfg: &Config,
    listeners: &mut Listeners,
    disk: &dyn Disk,
) -> Result<Config, String> {
    let mut cfg = cfg.clone();
    if cfg.discovery_srv.is_empty() {
        return Ok(cfg);
    }
    let initialized = crate::storage::wal::Wal::read_metadata(disk, &cfg.wal_dir())
        .map_err(|e| e.to_string())?
        .is_some();
    if initialized {
        // `identity` wants this member in the initial cluster; the rest of
        // the cluster comes from the WAL.
        cfg.initial_cluster = (cfg.initial_advertise_peer_urls.iter())
            .map(|u| (cfg.name.clone(), u.clone()))
            .collect();
        return Ok(cfg);
    }
    let found = crate::srv::dns_cluster_names(
        &crate::rt::net::dns::Resolver::system(),
        &cfg.name,
        &cfg.discovery_srv,
        &cfg.discovery_srv_name,
        &cfg.initial_advertise_peer_urls,
    )
    .await
    .inspect_err(|e| {
        tracing::error!(target: "embed", "couldn't resolve during SRV discovery ({e})");
    })?;
    for (n, u) in &found {
        tracing::info!(target: "embed", notice = true, "got bootstrap from DNS for etcd-server at {n}={u}");
    }
    if found.iter().any(|(_, u)| u.starts_with("https://"))
        && cfg.peer_tls.trusted_ca_file.is_empty()
    {
        listeners.peer_tls.server_name = cfg.discovery_srv.clone();
    }
    if !found.iter().any(|(n, _)| *n == cfg.name) {
        return Err(format!(
            "cannot find local etcd member {:?} in SRV records",
            cfg.name
        ));
    }
    cfg.initial_cluster = found;
    Ok(cfg)
}

/// The bound listeners of a member: peers first, then clients, as etcd
/// binds them (so a port in use fails before the data dir is touched;
/// `--auto-tls` / `--peer-auto-tls` write their certificates into it
/// first, as etcd does).
pub struct Listeners {
    pub peers: Vec<Listener>,
    pub clients: Vec<Listener>,
    /// `--listen-metrics-urls`.
    pub metrics: Vec<Listener>,
    /// The peer TLS in force (generated by `--peer-auto-tls`, or the
    /// flags'): how this member dials its peers.
    pub peer_tls: TlsInfo,
}

fn is_tls_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("unixs://")
}

/// The hosts (`host:port`) of `urls`, for a generated certificate's SANs.
fn hosts(urls: &[String]) -> Vec<String> {
    urls.iter()
        .filter_map(|u| u.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or("").to_string())
        .collect()
}

/// etcd's `ClientSelfCert` / `PeerSelfCert`: with auto TLS and no
/// certificate given, a self-signed one in `<data-dir>/fixtures/<port>`
/// (replacing the port's whole TLS info, as etcd 3.4 does; only the cipher
/// suites are kept).
fn auto_tls(cfg: &Config, peer: bool) -> io::Result<TlsInfo> {
    let (info, auto, urls, side) = if peer {
        (
            &cfg.peer_tls,
            cfg.peer_auto_tls,
            &cfg.listen_peer_urls,
            "peer",
        )
    } else {
        (
            &cfg.client_tls,
            cfg.client_auto_tls,
            &cfg.listen_client_urls,
            "client",
        )
    };
    if !auto {
        return Ok(info.clone());
    }
    if !info.is_empty() {
        tracing::warn!(target: "embed", "ignoring {side} auto TLS since certs given");
        return Ok(info.clone());
    }
    let dir = std::path::Path::new(&cfg.data_dir)
        .join("fixtures")
        .join(side);
    let generated =
        crate::rt::net::self_cert(&dir, &hosts(urls), peer).map_err(io::Error::other)?;
    Ok(TlsInfo {
        cipher_suites: info.cipher_suites.clone(),
        ..generated
    })
}

/// Binds every `--listen-peer-urls` and `--listen-client-urls` address,
/// `https://` ones with their port's TLS (etcd's messages for a TLS URL
/// without a certificate, and its warning for a certificate on a plain URL).
pub async fn listen(cfg: &Config) -> io::Result<Listeners> {
    let peer_tls = auto_tls(cfg, true)?;
    if !peer_tls.is_empty() {
        tracing::info!(target: "embed", "peerTLS: {peer_tls}");
    }
    let mut peers = Vec::new();
    for url in &cfg.listen_peer_urls {
        let addr = ListenAddr::parse(url).map_err(io::Error::other)?;
        let l = Listener::bind(addr).await?;
        if !is_tls_url(url) {
            if !peer_tls.is_empty() {
                tracing::warn!(target: "embed", "The scheme of peer url {url} is HTTP while peer key/cert files are presented. Ignored peer key/cert files.");
            }
            peers.push(l);
            continue;
        }
        if peer_tls.is_empty() {
            return Err(io::Error::other(format!(
                "cannot listen on TLS for {}: KeyFile and CertFile are not presented",
                l.addr()
            )));
        }
        peers.push(l.with_tls(&peer_tls)?);
    }
    let client_tls = auto_tls(cfg, false)?;
    if !client_tls.is_empty() {
        tracing::info!(target: "embed", "ClientTLS: {client_tls}");
    }
    let mut clients = Vec::new();
    for url in &cfg.listen_client_urls {
        let addr = ListenAddr::parse(url).map_err(io::Error::other)?;
        if is_tls_url(url) && client_tls.is_empty() {
            return Err(io::Error::other(format!(
                "TLS key/cert (--cert-file, --key-file) must be provided for client url {url} with HTTPS scheme"
            )));
        }
        if !is_tls_url(url) && !client_tls.is_empty() {
            // etcd's own words, "peer" included.
            tracing::warn!(target: "embed", "The scheme of client url {url} is HTTP while peer key/cert files are presented. Ignored key/cert files.");
        }
        // One port as both http:// and https://: etcd 3.4 serves both on
        // it (plain text and TLS told apart per connection).
        if let Some(i) = clients.iter().position(|l: &Listener| *l.addr() == addr) {
            let l = clients.remove(i);
            let both = match (l.is_tls(), is_tls_url(url)) {
                (false, true) => l.with_tls(&client_tls)?.also_plain(),
                (true, false) => l.also_plain(),
                _ => {
                    return Err(io::Error::other(format!(
                        "listen {addr}: the same address is given twice in --listen-client-urls"
                    )))
                }
            };
            tracing::warn!(target: "embed", "serving insecure client requests on {addr}, this is strongly discouraged!");
            clients.insert(i, both);
            continue;
        }
        let l = Listener::bind(addr).await?;
        clients.push(if is_tls_url(url) {
            l.with_tls(&client_tls)?
        } else {
            l
        });
    }
    let mut metrics = Vec::new();
    for url in &cfg.listen_metrics_urls {
        let l = Listener::bind(ListenAddr::parse(url).map_err(io::Error::other)?).await?;
        metrics.push(if is_tls_url(url) {
            l.with_tls(&client_tls)?
        } else {
            l
        });
    }
    Ok(Listeners {
        peers,
        clients,
        metrics,
        peer_tls,
    })
}

/// How this member dials peers: with the peer TLS when there is one.
fn peer_dialer(peer_tls: &TlsInfo) -> io::Result<Dialer> {
    if peer_tls.is_empty() {
        return Ok(Dialer::default());
    }
    Dialer::new(Some(&peer_tls.client_tls())).map_err(io::Error::other)
}

/// Why a member stopped without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// `shutdown` resolved; everything was flushed.
    Shutdown,
    /// The member was removed from the cluster (now, or before this start).
    Removed,
}

/// `id_seed`: the start time, in ms since the Unix epoch, from which request
/// and lease ids count (etcd's `idutil`; they must not repeat after a
/// restart).
///
/// Starts a member on `listeners` and serves until `shutdown` resolves or
/// the member is removed; returns once the raft loop has flushed and
/// stopped. Shutdown is bounded: listeners stop accepting, in-flight
/// requests get [`ServeOptions::drain`], then the raft loop stops.
pub async fn run(
    cfg: &Config,
    listeners: Listeners,
    disk: Arc<dyn Disk>,
    backend: Arc<dyn Backend>,
    id_seed: u64,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<Stopped> {
    let ident = identity(cfg).map_err(io::Error::other)?;
    let dialer = peer_dialer(&listeners.peer_tls)?;
    let wal_dir = cfg.wal_dir();
    let recorded = crate::storage::wal::Wal::read_metadata(&*disk, &wal_dir)?;
    let join_existing = cfg.initial_cluster_state == "existing";
    // A new cluster's IDs come from the flags; a member that joined an
    // existing cluster gets them from the cluster. Either keeps them in its
    // WAL, and a restart takes them from there, whatever the flags say now
    // (etcd ignores --initial-cluster* once the data dir has a WAL: a member
    // added by MemberAdd and restarted with the cluster's original flags,
    // or with another token, is the member its data says).
    let (member_id, cluster_id, peers) = match (recorded, join_existing) {
        (Some((m, c)), _) => (m, c, vec![]),
        (None, true) => join_cluster(cfg, &ident, &dialer).await?,
        (None, false) => {
            let peers = ident
                .members
                .iter()
                .filter(|m| m.id != ident.member_id)
                .map(|m| (m.id, m.peer_urls[0].clone()))
                .collect();
            (ident.member_id, ident.cluster_id, peers)
        }
    };
    let mut node_cfg = node_config(cfg, &ident, member_id, cluster_id, peers);
    node_cfg.peer_dialer = dialer.clone();
    let verb = if recorded.is_some() {
        "restarting"
    } else {
        "starting"
    };
    tracing::info!(target: "etcdserver", "{verb} member {member_id:x} in cluster {cluster_id:x}");
    let (node, handle) = match RaftNode::open(&node_cfg, disk, &wal_dir, backend.clone()) {
        Ok(opened) => opened,
        Err(e) if e.get_ref().is_some_and(|e| e.is::<MemberRemoved>()) => {
            tracing::error!(target: "etcdserver", "{e}");
            return Ok(Stopped::Removed);
        }
        Err(e) => return Err(e),
    };
    let (tx, rx) = mpsc::channel(PROPOSAL_QUEUE_MAX);
    let raft_stop = CancellationToken::new();
    let raft = tokio::spawn(node.run(rx, tx.clone(), raft_stop.clone()));
    let me = ident
        .members
        .iter()
        .find(|m| m.id == ident.member_id)
        .expect("identity finds this member")
        .clone();
    let mut server = EtcdServer::new(
        cluster_id,
        MemberInfo {
            id: member_id,
            ..me
        },
        tx,
        handle,
        backend,
        id_seed,
    );
    server.strict_reconfig = cfg.strict_reconfig_check;
    server.bcrypt_cost = cfg.bcrypt_cost;
    server.client_cert_auth = cfg.client_tls.client_cert_auth;
    server.set_peer_dialer(dialer);
    let server = Arc::new(server);
    let member = Member {
        cfg,
        server,
        listeners: Serving::default(),
        raft,
        raft_stop,
        monitor: None,
    };
    member.serve(listeners, shutdown).await
}

fn node_config(
    cfg: &Config,
    ident: &Identity,
    id: u64,
    cluster_id: u64,
    peers: Vec<(u64, String)>,
) -> NodeConfig {
    let tick_ms = cfg.heartbeat_ms.max(1);
    NodeConfig {
        id,
        cluster_id,
        initial_members: ident
            .members
            .iter()
            .map(|m| PbMember {
                id: m.id,
                peer_ur_ls: m.peer_urls.clone(),
                ..Default::default()
            })
            .collect(),
        peers,
        join_existing: cfg.initial_cluster_state == "existing",
        tick_ms,
        election_ticks: (cfg.election_ms / tick_ms).max(2) as usize,
        snapshot_count: cfg.snapshot_count.max(1),
        lessor: LessorConfig {
            min_ttl: LessorConfig::min_ttl_for(cfg.election_ms, tick_ms),
            checkpoint_interval: cfg.lease_checkpoint.then_some(CHECKPOINT_INTERVAL),
            checkpoint_persist: cfg.lease_checkpoint_persist,
        },
        auth_tokens: cfg.auth_tokens.clone(),
        peer_dialer: Dialer::default(),
        metrics: cfg.metrics,
        quota_backend_bytes: cfg.quota_backend_bytes,
        force_new_cluster: cfg.force_new_cluster,
    }
}

/// The listener tasks of a running member, and the signal that stops them.
struct Serving {
    stop: CancellationToken,
    tasks: Vec<(String, JoinHandle<io::Result<()>>)>,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            stop: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }
}

impl Serving {
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.stop.clone().cancelled_owned()
    }

    /// Resolves when a listener task ends by itself (it failed).
    async fn failed(&mut self) -> io::Error {
        if self.tasks.is_empty() {
            return std::future::pending().await;
        }
        let (res, i, _) = futures::future::select_all(self.tasks.iter_mut().map(|(_, t)| t)).await;
        let (name, _) = self.tasks.swap_remove(i);
        match res {
            Ok(Ok(())) => io::Error::other(format!("{name} stopped serving")),
            Ok(Err(e)) => e,
            Err(e) => io::Error::other(format!("{name}: {e}")),
        }
    }

    /// Stops every listener; each returns within its drain bound.
    async fn stop(self) {
        self.stop.cancel();
        for (_, t) in self.tasks {
            let _ = t.await;
        }
    }
}

/// A member between start-up and stop.
struct Member<'a> {
    cfg: &'a Config,
    server: Arc<EtcdServer>,
    listeners: Serving,
    raft: JoinHandle<io::Result<bool>>,
    raft_stop: CancellationToken,
    /// Decides the cluster version once this member leads.
    monitor: Option<JoinHandle<()>>,
}

/// What ended the serving phase.
enum Ended {
    Signal,
    RaftStopped(Result<io::Result<bool>, tokio::task::JoinError>),
    ListenerFailed(io::Error),
}

impl Member<'_> {
    async fn serve(
        mut self,
        listeners: Listeners,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> io::Result<Stopped> {
        let opts = self.cfg.serve_options();
        for l in listeners.peers {
            let raft_tx: Arc<dyn RaftSink> = Arc::new(self.server.raft_sender());
            let host: Arc<dyn PeerHost> = self.server.clone();
            let (addr, stop, opts) = (l.addr().to_string(), self.listeners.stopped(), opts.clone());
            tracing::info!(target: "embed", "listening for peers on {addr}");
            let task = tokio::spawn(async move {
                crate::transport::serve_peers(raft_tx, host, l, &opts, stop).await
            });
            self.listeners
                .tasks
                .push((format!("peer listener {addr}"), task));
        }
        let mut shutdown = std::pin::pin!(shutdown);
        // Like etcd, serve clients only once this member's attributes are in
        // the replicated state (which needs a quorum).
        let ended = loop {
            tokio::select! {
                // Fixed order: tokio's random pick is unseeded in simulation.
                biased;
                _ = &mut shutdown => break Some(Ended::Signal),
                r = &mut self.raft => break Some(Ended::RaftStopped(r)),
                e = self.listeners.failed() => break Some(Ended::ListenerFailed(e)),
                res = self.server.publish() => match res {
                    Ok(()) => break None,
                    Err(e) => {
                        tracing::warn!(target: "etcdserver", "failed to publish local member to cluster through raft: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        };
        // etcd's initial corruption check runs before clients are served;
        // a mismatch stops the member with its error.
        let ended = match ended {
            None if self.cfg.initial_corrupt_check => {
                match self.server.check_initial_hash_kv().await {
                    Ok(()) => None,
                    Err(e) => Some(Ended::ListenerFailed(io::Error::other(e))),
                }
            }
            e => e,
        };
        let ended = match ended {
            Some(e) => e,
            None => {
                self.serve_clients(listeners.clients, &opts);
                self.serve_metrics(listeners.metrics, &opts);
                tokio::select! {
                    biased;
                    _ = shutdown => Ended::Signal,
                    r = &mut self.raft => Ended::RaftStopped(r),
                    e = self.listeners.failed() => Ended::ListenerFailed(e),
                }
            }
        };
        self.stop(ended).await
    }

    fn serve_clients(&mut self, clients: Vec<Listener>, opts: &ServeOptions) {
        let cfg = self.cfg;
        let server = self.server.clone();
        let (check_every, compaction) = (cfg.corrupt_check_time, cfg.auto_compaction);
        self.monitor = Some(tokio::spawn(async move {
            tokio::join!(
                server.monitor_versions(),
                server.sync_watchers(),
                server.sync_v2_ttls(),
                server.monitor_kv_hash(check_every),
                server.run_compactor(compaction),
            );
        }));
        tracing::info!(
            target: "etcdserver",
            "published {{Name:{} ClientURLs:[{}]}} to cluster {:x}",
            cfg.name,
            cfg.advertise_client_urls.join(" "),
            self.server.cluster_id
        );
        let limits = Limits {
            max_request_bytes: cfg.max_request_bytes as usize,
            max_txn_ops: cfg.max_txn_ops as usize,
            // As etcd, 0 keeps the default.
            watch_progress_interval: Some(cfg.watch_progress_notify_interval)
                .filter(|d| !d.is_zero())
                .unwrap_or(v3rpc::WATCH_PROGRESS_INTERVAL),
        };
        tracing::info!(target: "embed", "ready to serve client requests");
        for l in clients {
            let (server, stop, opts) =
                (self.server.clone(), self.listeners.stopped(), opts.clone());
            let face = crate::v3rpc::http::ClientFace {
                cors: crate::v3rpc::http::Cors::from_list(&cfg.cors),
                gateway: cfg.grpc_gateway,
                v2: cfg.enable_v2,
            };
            let addr = l.addr().to_string();
            if l.is_tls() {
                tracing::info!(target: "embed", "serving client requests on {addr}");
            } else {
                tracing::info!(
                    target: "embed",
                    notice = true,
                    "serving insecure client requests on {addr}, this is strongly discouraged!"
                );
            }
            let task =
                tokio::spawn(
                    async move { v3rpc::serve(server, limits, l, &opts, face, stop).await },
                );
            self.listeners
                .tasks
                .push((format!("client listener {addr}"), task));
        }
    }

    /// etcd's `serveMetrics`: `/metrics` and `/health` on their own ports.
    fn serve_metrics(&mut self, ports: Vec<Listener>, opts: &ServeOptions) {
        for l in ports {
            let (server, stop, opts) =
                (self.server.clone(), self.listeners.stopped(), opts.clone());
            let addr = l.addr().to_string();
            tracing::info!(target: "embed", "serving metrics on {addr}");
            let task =
                tokio::spawn(async move { v3rpc::serve_metrics(server, l, &opts, stop).await });
            self.listeners
                .tasks
                .push((format!("metrics listener {addr}"), task));
        }
    }

    /// Stops listeners (bounded), then the raft loop (which flushes).
    async fn stop(self, ended: Ended) -> io::Result<Stopped> {
        let Member {
            server,
            listeners,
            raft,
            raft_stop,
            monitor,
            ..
        } = self;
        if let Some(m) = monitor {
            m.abort();
        }
        listeners.stop().await;
        drop(server);
        let (failure, raft_result) = match ended {
            Ended::RaftStopped(r) => (None, r),
            other => {
                raft_stop.cancel();
                let failure = match other {
                    Ended::ListenerFailed(e) => Some(e),
                    _ => None,
                };
                (failure, raft.await)
            }
        };
        let removed = raft_result.map_err(io::Error::other)??;
        if let Some(e) = failure {
            return Err(e);
        }
        if removed {
            tracing::error!(target: "etcdserver", "{MemberRemoved}");
            tracing::info!(target: "etcdserver", "the data-dir used by this member must be removed.");
            return Ok(Stopped::Removed);
        }
        Ok(Stopped::Shutdown)
    }
}

/// `--initial-cluster-state existing` with a fresh data dir: asks the other
/// members in `--initial-cluster` for the cluster, and finds this member in
/// it by its peer URLs (it must have been added with `etcdctl member add`).
async fn join_cluster(
    cfg: &Config,
    ident: &Identity,
    dialer: &Dialer,
) -> io::Result<(u64, u64, Vec<(u64, String)>)> {
    let mut own = cfg.initial_advertise_peer_urls.clone();
    own.sort();
    let urls: Vec<&String> = ident
        .members
        .iter()
        .filter(|m| m.id != ident.member_id)
        .flat_map(|m| m.peer_urls.iter())
        .collect();
    // A member may not have applied the `member add` yet: ask each a few times.
    let mut refused = None;
    for attempt in 0..JOIN_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        match ask_peers(&urls, &own, dialer).await {
            Some(Ok(found)) => return Ok(found),
            Some(Err(e)) => refused = Some(e),
            None => {}
        }
    }
    if let Some(e) = refused {
        return Err(e);
    }
    Err(io::Error::other(format!(
        "cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs ({})",
        urls.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(",")
    )))
}

/// Rounds of asking the peers before a join gives up.
const JOIN_ATTEMPTS: usize = 5;

type Joined = io::Result<(u64, u64, Vec<(u64, String)>)>;

/// One round of [`join_cluster`]: `None` if no peer knew this member.
async fn ask_peers(urls: &[&String], own: &[String], dialer: &Dialer) -> Option<Joined> {
    let mut last_cluster = None;
    for url in urls {
        let Some(resp) = crate::transport::fetch_members(url, dialer).await else {
            continue;
        };
        let found = resp.members.iter().find(|m| {
            let mut p = m.peer_ur_ls.clone();
            p.sort();
            p == own
        });
        let Some(me) = found else {
            last_cluster = Some(resp.cluster_id);
            continue;
        };
        let peers = resp
            .members
            .iter()
            .filter(|m| m.id != me.id)
            .filter_map(|m| Some((m.id, m.peer_ur_ls.first()?.clone())))
            .collect();
        return Some(Ok((me.id, resp.cluster_id, peers)));
    }
    let cluster = last_cluster?;
    Some(Err(io::Error::other(format!(
        "error validating peerURLs: cluster {cluster:x} has no member with peer URLs {} (add it first with `etcdctl member add`)",
        own.join(",")
    ))))
}
