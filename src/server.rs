//! The etcd server core: turns client requests into raft proposals (or
//! ReadIndex-guarded local reads) and waits for their results.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use tokio::sync::{mpsc, oneshot};

use crate::apply::{Applied, InternalRequest, Op};
use crate::mvcc::{KvStore, MvccError};
use crate::pb::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, Member,
    PutRequest, PutResponse, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use crate::raftnode::{ProposeError, RaftCmd, RaftHandle, RaftStatus, TransferError};
use crate::storage::backend::Backend;

/// etcd's default request timeout (5 s) plus two election timeouts.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(7);
/// One ReadIndex attempt; raft may drop a read, so it is retried.
const READ_INDEX_ATTEMPT: Duration = Duration::from_millis(500);

/// Server-level failures; `Display` is etcd's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerError {
    Mvcc(MvccError),
    /// `etcdserver: request timed out`
    Timeout,
    /// `etcdserver: no leader`
    NoLeader,
    /// `etcdserver: server stopped`
    Stopped,
    /// `etcdserver: not leader`
    NotLeader,
    /// `etcdserver: bad leader transferee`
    BadLeaderTransferee,
    /// `etcdserver: request timed out, leader transfer took too long`
    TimeoutLeaderTransfer,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Mvcc(e) => e.fmt(f),
            ServerError::Timeout => f.write_str("etcdserver: request timed out"),
            ServerError::NoLeader => f.write_str("etcdserver: no leader"),
            ServerError::Stopped => f.write_str("etcdserver: server stopped"),
            ServerError::NotLeader => f.write_str("etcdserver: not leader"),
            ServerError::BadLeaderTransferee => f.write_str("etcdserver: bad leader transferee"),
            ServerError::TimeoutLeaderTransfer => {
                f.write_str("etcdserver: request timed out, leader transfer took too long")
            }
        }
    }
}

impl From<MvccError> for ServerError {
    fn from(e: MvccError) -> Self {
        ServerError::Mvcc(e)
    }
}

/// One member of the cluster, as etcd identifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// etcd's member ID: the first 8 bytes of SHA-1 over the sorted peer URLs
/// joined, then the cluster token (etcdserver/api/membership `computeMemberId`).
pub fn compute_member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let mut b = urls.concat().into_bytes();
    b.extend_from_slice(token.as_bytes());
    let d = sha1_smol::Sha1::from(b).digest().bytes();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// etcd's cluster ID: SHA-1 over the sorted member IDs, big-endian.
pub fn compute_cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let b: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    let d = sha1_smol::Sha1::from(b).digest().bytes();
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

pub struct EtcdServer {
    pub cluster_id: u64,
    pub members: Vec<MemberInfo>,
    pub member_id: u64,
    pub version: &'static str,
    tx: mpsc::Sender<RaftCmd>,
    kv: Arc<Mutex<KvStore>>,
    status: Arc<Mutex<RaftStatus>>,
    /// Attributes members published through raft (name, client URLs).
    published: Arc<Mutex<BTreeMap<u64, Member>>>,
    backend: Arc<dyn Backend>,
    next_id: AtomicU64,
}

/// etcd's server version, reported by `/version` and `Status`.
pub const SERVER_VERSION: &str = "3.4.23";
/// The cluster version reported by `/version`.
pub const CLUSTER_VERSION: &str = "3.4.0";

impl EtcdServer {
    pub fn new(
        cluster_id: u64,
        member_id: u64,
        members: Vec<MemberInfo>,
        tx: mpsc::Sender<RaftCmd>,
        handle: RaftHandle,
        backend: Arc<dyn Backend>,
        id_seed: u64,
    ) -> Self {
        let RaftHandle {
            kv,
            status,
            members: published,
        } = handle;
        EtcdServer {
            cluster_id,
            member_id,
            members,
            version: SERVER_VERSION,
            tx,
            kv,
            status,
            published,
            backend,
            // Top 16 bits from the member, the rest a per-incarnation counter.
            next_id: AtomicU64::new((member_id << 48) | (id_seed & 0xffff_ffff) << 16),
        }
    }

    /// Moves leadership to `target` (etcd's MoveLeader); only the leader may.
    pub async fn move_leader(&self, target: u64) -> Result<(), ServerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(RaftCmd::TransferLeader { target, reply })
            .await
            .map_err(|_| ServerError::Stopped)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Err(_) => Err(ServerError::TimeoutLeaderTransfer),
            Ok(Err(_)) => Err(ServerError::Stopped),
            Ok(Ok(Err(TransferError::NotLeader))) => Err(ServerError::NotLeader),
            Ok(Ok(Err(TransferError::BadTransferee))) => Err(ServerError::BadLeaderTransferee),
            Ok(Ok(Ok(()))) => Ok(()),
        }
    }

    /// A handle for feeding the raft loop (the peer transport uses it).
    pub fn raft_sender(&self) -> mpsc::Sender<RaftCmd> {
        self.tx.clone()
    }

    pub fn raft_status(&self) -> RaftStatus {
        *self.status.lock().expect("status lock")
    }

    pub fn db_size(&self) -> u64 {
        self.backend.size_bytes()
    }

    /// Fills the header fields the state machine does not know.
    pub fn header(&self, h: &mut Option<ResponseHeader>) {
        let h = h.get_or_insert_with(Default::default);
        h.cluster_id = self.cluster_id;
        h.member_id = self.member_id;
        h.raft_term = self.raft_status().term;
    }

    pub fn current_revision(&self) -> i64 {
        self.kv.lock().expect("kv lock").rev()
    }

    async fn propose(&self, op: Op) -> Result<Applied, ServerError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let data = InternalRequest { id, op: Some(op) }.encode_to_vec();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(RaftCmd::Propose { id, data, reply })
            .await
            .map_err(|_| ServerError::Stopped)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Err(_) => Err(ServerError::Timeout),
            Ok(Err(_)) => Err(ServerError::Stopped),
            Ok(Ok(Err(ProposeError::NoLeader))) => Err(ServerError::NoLeader),
            Ok(Ok(Ok(res))) => Ok(res?),
        }
    }

    /// Waits until a read here would be linearizable (raft ReadIndex).
    ///
    /// raft-rs drops a read request silently when there is no leader or the
    /// leader has not yet committed an entry in its term, so each attempt
    /// has a short timeout and is retried until the request timeout.
    pub async fn linearizable_barrier(&self) -> Result<(), ServerError> {
        let attempts = REQUEST_TIMEOUT.as_millis() / READ_INDEX_ATTEMPT.as_millis();
        for _ in 0..attempts {
            let (reply, rx) = oneshot::channel();
            self.tx
                .send(RaftCmd::ReadIndex { reply })
                .await
                .map_err(|_| ServerError::Stopped)?;
            match tokio::time::timeout(READ_INDEX_ATTEMPT, rx).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(_)) => return Err(ServerError::Stopped),
                Err(_) => {}
            }
        }
        Err(ServerError::Timeout)
    }

    pub async fn range(&self, req: RangeRequest) -> Result<RangeResponse, ServerError> {
        if !req.serializable {
            self.linearizable_barrier().await?;
        }
        let mut resp = self.kv.lock().expect("kv lock").range(&req)?;
        self.header(&mut resp.header);
        Ok(resp)
    }

    pub async fn put(&self, req: PutRequest) -> Result<PutResponse, ServerError> {
        match self.propose(Op::Put(req)).await? {
            Applied::Put(mut r) => {
                self.header(&mut r.header);
                Ok(r)
            }
            other => unreachable!("put answered with {other:?}"),
        }
    }

    pub async fn delete_range(
        &self,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, ServerError> {
        match self.propose(Op::DeleteRange(req)).await? {
            Applied::DeleteRange(mut r) => {
                self.header(&mut r.header);
                Ok(r)
            }
            other => unreachable!("delete answered with {other:?}"),
        }
    }

    pub async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, ServerError> {
        match self.propose(Op::Txn(req)).await? {
            Applied::Txn(mut r) => {
                self.header(&mut r.header);
                Ok(r)
            }
            other => unreachable!("txn answered with {other:?}"),
        }
    }

    pub async fn compact(&self, req: CompactionRequest) -> Result<CompactionResponse, ServerError> {
        match self.propose(Op::Compaction(req)).await? {
            Applied::Compaction(mut r) => {
                self.header(&mut r.header);
                Ok(r)
            }
            other => unreachable!("compaction answered with {other:?}"),
        }
    }

    /// Members as etcd lists them: peer URLs from the configuration, name
    /// and client URLs once the member has published them ("unstarted" until then).
    pub fn member_list(&self) -> Vec<Member> {
        let published = self.published.lock().expect("members lock");
        let mut list: Vec<Member> = self
            .members
            .iter()
            .map(|m| {
                let p = published.get(&m.id);
                Member {
                    id: m.id,
                    name: p.map(|p| p.name.clone()).unwrap_or_default(),
                    peer_ur_ls: m.peer_urls.clone(),
                    client_ur_ls: p.map(|p| p.client_ur_ls.clone()).unwrap_or_default(),
                    is_learner: false,
                }
            })
            .collect();
        list.sort_by_key(|m| m.id);
        list
    }

    /// Announces this member's name and client URLs through raft (etcd's
    /// `publish`); a member serves clients only once this has been applied.
    pub async fn publish(&self) -> Result<(), ServerError> {
        let me = self
            .members
            .iter()
            .find(|m| m.id == self.member_id)
            .expect("a member knows itself");
        let attrs = Member {
            id: me.id,
            name: me.name.clone(),
            peer_ur_ls: me.peer_urls.clone(),
            client_ur_ls: me.client_urls.clone(),
            is_learner: false,
        };
        self.propose(Op::Publish(attrs)).await.map(|_| ())
    }

    /// A digest of the KV history up to the current revision.
    /// A digest of the KV history up to `rev` (0: the current revision), with
    /// the current and compacted revisions: `(hash, current, compacted)`.
    pub fn hash_kv(&self, rev: i64) -> Result<(u32, i64, i64), ServerError> {
        let kv = self.kv.lock().expect("kv lock");
        let at = if rev <= 0 { kv.rev() } else { rev };
        if at > kv.rev() {
            return Err(MvccError::FutureRev.into());
        }
        if at < kv.compact_rev() {
            return Err(MvccError::Compacted.into());
        }
        Ok((kv.hash_kv(at), kv.rev(), kv.compact_rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_etcd_defaults() {
        // etcd with no flags: member 8e9e05c52164694d in cluster cdf818194e3a8c32.
        let id = compute_member_id(&["http://localhost:2380".to_string()], "etcd-cluster");
        assert_eq!(format!("{id:x}"), "8e9e05c52164694d");
        assert_eq!(
            format!("{:x}", compute_cluster_id(&[id])),
            "cdf818194e3a8c32"
        );
    }
}
