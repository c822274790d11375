//! Assembles a running member from a [`Config`]: storage, raft node, server
//! and client listener. Used by the `etcd` binary and by the simulator (which
//! passes its own disk and backend).

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::api::{self, Limits};
use crate::config::{bind_addr, Config};
use crate::pb::etcdserverpb::Member;
use crate::pb::oxcdpeer::MembersResponse;
use crate::raftnode::{NodeConfig, RaftNode};
use crate::rt::disk::Disk;
use crate::server::{compute_cluster_id, compute_member_id, EtcdServer, MemberInfo, ServerError};
use crate::storage::backend::Backend;
use crate::transport::PeerHost;

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

/// Starts a member and serves until `shutdown` resolves; returns once the
/// raft loop has flushed and stopped.
pub async fn run(
    cfg: &Config,
    disk: Arc<dyn Disk>,
    backend: Arc<dyn Backend>,
    id_seed: u64,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let ident = identity(cfg).map_err(io::Error::other)?;
    let addrs = cfg
        .listen_client_urls
        .iter()
        .map(|u| bind_addr(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    let peer_addrs = cfg
        .listen_peer_urls
        .iter()
        .map(|u| bind_addr(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    let wal_dir = Path::new(&cfg.data_dir).join("member").join("wal");
    let tick_ms = cfg.heartbeat_ms.max(1);
    let join_existing = cfg.initial_cluster_state == "existing";
    let me_flags = ident
        .members
        .iter()
        .find(|m| m.id == ident.member_id)
        .expect("identity finds this member")
        .clone();
    let recorded = crate::storage::wal::Wal::read_metadata(&*disk, &wal_dir)?;
    // A new cluster's IDs come from the flags; a member that joined an
    // existing cluster gets them from the cluster, and keeps them in its WAL.
    let (member_id, cluster_id, peers) = match (recorded, join_existing) {
        (Some((m, c)), true) => (m, c, vec![]),
        (None, true) => join_cluster(cfg, &ident).await?,
        (_, false) => {
            let peers = ident
                .members
                .iter()
                .filter(|m| m.id != ident.member_id)
                .map(|m| (m.id, m.peer_urls[0].clone()))
                .collect();
            (ident.member_id, ident.cluster_id, peers)
        }
    };
    let node_cfg = NodeConfig {
        id: member_id,
        cluster_id,
        initial_members: ident
            .members
            .iter()
            .map(|m| Member {
                id: m.id,
                peer_ur_ls: m.peer_urls.clone(),
                ..Default::default()
            })
            .collect(),
        peers,
        join_existing,
        tick_ms,
        election_ticks: (cfg.election_ms / tick_ms).max(2) as usize,
        snapshot_count: cfg.snapshot_count.max(1),
    };
    tracing::info!("starting member {member_id:x} in cluster {cluster_id:x}");
    let (node, handle) = RaftNode::open(&node_cfg, disk, &wal_dir, backend.clone())?;
    let (tx, rx) = mpsc::channel(PROPOSAL_QUEUE_MAX);
    let mut raft = tokio::spawn(node.run(rx, tx.clone()));
    let mut server = EtcdServer::new(
        cluster_id,
        MemberInfo {
            id: member_id,
            ..me_flags
        },
        tx,
        handle,
        backend,
        id_seed,
    );
    server.strict_reconfig = cfg.strict_reconfig_check;
    let server = Arc::new(server);
    let limits = Limits {
        max_request_bytes: cfg.max_request_bytes as usize,
        max_txn_ops: cfg.max_txn_ops as usize,
    };
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut serving = Vec::new();
    for addr in peer_addrs {
        let mut stop = stop_tx.subscribe();
        let raft_tx = server.raft_sender();
        let host: Arc<dyn PeerHost> = server.clone();
        serving.push(tokio::spawn(async move {
            crate::transport::serve_peers(raft_tx, host, addr, async move {
                let _ = stop.recv().await;
            })
            .await
        }));
        tracing::info!("listening for peers on {addr}");
    }
    // Like etcd, serve clients only once this member's attributes are in
    // the replicated state (which needs a quorum).
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stopping = false;
    // The raft loop ends early when this member is removed from the cluster.
    let mut raft_done = None;
    loop {
        tokio::select! {
            // Fixed order: tokio's random pick is unseeded in simulation.
            biased;
            _ = &mut shutdown => {
                stopping = true;
                break;
            }
            r = &mut raft, if raft_done.is_none() => {
                raft_done = Some(r);
                stopping = true;
                break;
            }
            res = server.publish() => match res {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!("failed to publish local member to cluster through raft: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }
    if !stopping {
        tracing::info!(
            "published {{Name:{} ClientURLs:[{}]}} to cluster {:x}",
            cfg.name,
            cfg.advertise_client_urls.join(" "),
            cluster_id
        );
    }
    for addr in addrs.into_iter().filter(|_| !stopping) {
        let mut stop = stop_tx.subscribe();
        let server = server.clone();
        serving.push(tokio::spawn(async move {
            api::serve(server, limits, addr, async move {
                let _ = stop.recv().await;
            })
            .await
        }));
        tracing::info!("ready to serve client requests");
        tracing::info!("serving insecure client requests on {addr}, this is strongly discouraged!");
    }
    // Stop on the signal, or as soon as a listener fails (e.g. port in use).
    let failed = if stopping || serving.is_empty() {
        None
    } else {
        tokio::select! {
            biased;
            _ = shutdown => None,
            r = &mut raft, if raft_done.is_none() => {
                raft_done = Some(r);
                None
            }
            (res, _, _) = futures::future::select_all(&mut serving) => Some(res),
        }
    };
    let _ = stop_tx.send(());
    for s in serving {
        let _ = s.await;
    }
    let failure = match failed {
        Some(Ok(Err(e))) => Some(e),
        Some(Err(e)) => Some(io::Error::other(e)),
        Some(Ok(Ok(()))) => Some(io::Error::other("client listener stopped")),
        None => None,
    };
    drop(server);
    let raft_result = match raft_done {
        Some(r) => r,
        None => raft.await,
    };
    let stopped = match raft_result {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(e)),
    };
    match failure {
        Some(e) => Err(e),
        None => stopped,
    }
}

/// `--initial-cluster-state existing` with a fresh data dir: asks the other
/// members in `--initial-cluster` for the cluster, and finds this member in
/// it by its peer URLs (it must have been added with `etcdctl member add`).
async fn join_cluster(
    cfg: &Config,
    ident: &Identity,
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
        match ask_peers(&urls, &own).await {
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
async fn ask_peers(urls: &[&String], own: &[String]) -> Option<Joined> {
    let mut last_cluster = None;
    for url in urls {
        let Some(resp) = crate::transport::fetch_members(url).await else {
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

#[tonic::async_trait]
impl PeerHost for EtcdServer {
    fn members(&self) -> MembersResponse {
        MembersResponse {
            cluster_id: self.cluster_id,
            members: self.member_list(),
        }
    }

    async fn promote(&self, id: u64) -> Result<(), String> {
        match self.member_promote(id).await {
            Ok(_) => Ok(()),
            Err(ServerError::Member(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}
