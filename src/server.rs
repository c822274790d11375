//! The etcd server core: turns client requests into raft proposals (or
//! ReadIndex-guarded local reads) and waits for their results.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message;
use tokio::sync::{mpsc, oneshot};

use crate::apply::{
    validate_member_change, Applied, ApplyError, ClusterVersionSet, InternalRequest, MemberChange,
    MemberError, Op,
};
use crate::mvcc::{KvStore, MvccError};
use crate::pb::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, Member,
    PutRequest, PutResponse, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use crate::raftnode::{ProposeError, RaftCmd, RaftHandle, RaftStatus, TransferError};
use crate::storage::backend::Backend;
use crate::transport::Reachable;

/// etcd's default request timeout (5 s) plus two election timeouts.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(7);
/// One ReadIndex attempt; raft may drop a read, so it is retried.
const READ_INDEX_ATTEMPT: Duration = Duration::from_millis(500);

/// Server-level failures; `Display` is etcd's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerError {
    Mvcc(MvccError),
    Member(MemberError),
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
            ServerError::Member(e) => e.fmt(f),
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

impl From<MemberError> for ServerError {
    fn from(e: MemberError) -> Self {
        ServerError::Member(e)
    }
}

impl From<ApplyError> for ServerError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Mvcc(e) => ServerError::Mvcc(e),
            ApplyError::Member(e) => ServerError::Member(e),
        }
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
    /// This member as configured.
    pub me: MemberInfo,
    pub member_id: u64,
    pub version: &'static str,
    tx: mpsc::Sender<RaftCmd>,
    kv: Arc<Mutex<KvStore>>,
    status: Arc<Mutex<RaftStatus>>,
    /// The replicated member table.
    members: Arc<Mutex<BTreeMap<u64, Member>>>,
    /// The version the cluster agreed on (replicated).
    cluster_version: Arc<Mutex<Option<String>>>,
    reachable: Reachable,
    learner: Arc<std::sync::atomic::AtomicBool>,
    backend: Arc<dyn Backend>,
    next_id: AtomicU64,
    /// `--strict-reconfig-check`.
    pub strict_reconfig: bool,
}

/// How often a member without a cluster version checks again.
const VERSION_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// etcd's server version, reported by `/version` and `Status`.
pub const SERVER_VERSION: &str = "3.4.23";
/// The cluster version every oxcd member can run (etcd's `MinClusterVersion`
/// of its members' versions, which are all this one).
pub const CLUSTER_VERSION: &str = "3.4.0";

impl EtcdServer {
    pub fn new(
        cluster_id: u64,
        me: MemberInfo,
        tx: mpsc::Sender<RaftCmd>,
        handle: RaftHandle,
        backend: Arc<dyn Backend>,
        id_seed: u64,
    ) -> Self {
        let RaftHandle {
            kv,
            status,
            members,
            cluster_version,
            reachable,
            learner,
        } = handle;
        let member_id = me.id;
        EtcdServer {
            cluster_id,
            member_id,
            me,
            version: SERVER_VERSION,
            tx,
            kv,
            status,
            members,
            cluster_version,
            reachable,
            learner,
            backend,
            // Top 16 bits from the member, the rest a per-incarnation counter.
            next_id: AtomicU64::new((member_id << 48) | (id_seed & 0xffff_ffff) << 16),
            strict_reconfig: true,
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
            Ok(Ok(Err(ProposeError::ConfChangePending))) => Err(ServerError::Timeout),
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

    /// Members as etcd lists them, by id; a member that has not published
    /// its name and client URLs yet is "unstarted".
    pub fn member_list(&self) -> Vec<Member> {
        self.members
            .lock()
            .expect("members lock")
            .values()
            .cloned()
            .collect()
    }

    /// The leader's peer URL, if there is a leader this member knows.
    fn leader_peer_url(&self) -> Option<String> {
        let leader = self.raft_status().leader_id;
        let members = self.members.lock().expect("members lock");
        members.get(&leader)?.peer_ur_ls.first().cloned()
    }

    /// Announces this member's name and client URLs through raft (etcd's
    /// `publish`); a member serves clients only once this has been applied.
    pub async fn publish(&self) -> Result<(), ServerError> {
        let attrs = Member {
            id: self.me.id,
            name: self.me.name.clone(),
            peer_ur_ls: self.me.peer_urls.clone(),
            client_ur_ls: self.me.client_urls.clone(),
            is_learner: false,
        };
        self.propose(Op::Publish(attrs)).await.map(|_| ())
    }

    /// The version the cluster agreed on (`None` until it has).
    pub fn cluster_version(&self) -> Option<String> {
        self.cluster_version
            .lock()
            .expect("cluster version lock")
            .clone()
    }

    /// etcd's `monitorVersions`, while the cluster has no version yet: the
    /// leader decides one (the lowest its members run; every oxcd member
    /// runs [`CLUSTER_VERSION`]) and replicates it. Returns once a version
    /// is set.
    pub async fn monitor_versions(&self) {
        while self.cluster_version().is_none() {
            let st = self.raft_status();
            if st.leader_id == self.member_id {
                tracing::info!(
                    target: "etcdserver",
                    "setting up the initial cluster version to {}",
                    crate::apply::major_minor(CLUSTER_VERSION)
                );
                let set = ClusterVersionSet {
                    ver: CLUSTER_VERSION.to_string(),
                };
                if let Err(e) = self.propose(Op::ClusterVersionSet(set)).await {
                    tracing::warn!(target: "etcdserver", "failed to set the cluster version: {e}");
                }
            }
            if self.cluster_version().is_none() {
                tokio::time::sleep(VERSION_CHECK_INTERVAL).await;
            }
        }
    }

    /// Whether this member's own entry has been published (applied here).
    pub fn published(&self) -> bool {
        let members = self.members.lock().expect("members lock");
        members
            .get(&self.member_id)
            .is_some_and(|m| m.name == self.me.name && !m.name.is_empty())
    }

    /// Whether this member is a learner (etcd serves only serializable
    /// reads and `Status` on learners).
    pub fn is_learner(&self) -> bool {
        self.learner.load(Ordering::Relaxed)
    }

    fn reachable(&self, id: u64) -> bool {
        id == self.member_id
            || self.reachable.lock().expect("reachable lock").get(&id) == Some(&true)
    }

    /// Replicates a membership change and returns the members afterwards.
    async fn propose_conf_change(
        &self,
        change: MemberChange,
        m: Member,
    ) -> Result<Vec<Member>, ServerError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut cc = raft::eraftpb::ConfChange {
            id,
            node_id: m.id,
            ..Default::default()
        };
        cc.set_change_type(match change {
            MemberChange::AddVoter => raft::eraftpb::ConfChangeType::AddNode,
            MemberChange::AddLearner => raft::eraftpb::ConfChangeType::AddLearnerNode,
            MemberChange::Remove => raft::eraftpb::ConfChangeType::RemoveNode,
        });
        cc.context = m.encode_to_vec().into();
        let attempts = async {
            loop {
                let (reply, rx) = oneshot::channel();
                self.tx
                    .send(RaftCmd::ProposeConfChange {
                        cc: cc.clone(),
                        reply,
                    })
                    .await
                    .map_err(|_| ServerError::Stopped)?;
                match rx.await.map_err(|_| ServerError::Stopped)? {
                    Err(ProposeError::ConfChangePending) => {
                        // Another change is being applied; etcd serialises them too.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(ProposeError::NoLeader) => return Err(ServerError::NoLeader),
                    Ok(Ok(Applied::Members(list))) => return Ok(list),
                    Ok(Ok(other)) => unreachable!("conf change answered with {other:?}"),
                    Ok(Err(e)) => return Err(e.into()),
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, attempts)
            .await
            .unwrap_or(Err(ServerError::Timeout))
    }

    /// etcd's MemberAdd: a new member (or learner) with these peer URLs.
    /// Returns the new member and the members afterwards.
    pub async fn member_add(
        &self,
        peer_urls: Vec<String>,
        is_learner: bool,
    ) -> Result<(Member, Vec<Member>), ServerError> {
        check_urls(&peer_urls)?;
        // etcd salts the ID with the time; the runtime seam's randomness
        // serves the same purpose and stays deterministic in simulation.
        let salt = crate::rt::rand::gen_range(0..u64::MAX).to_string();
        let m = Member {
            id: compute_member_id(&peer_urls, &salt),
            name: String::new(),
            peer_ur_ls: peer_urls,
            client_ur_ls: vec![],
            is_learner,
        };
        let change = if is_learner {
            MemberChange::AddLearner
        } else {
            MemberChange::AddVoter
        };
        {
            let members = self.members.lock().expect("members lock");
            validate_member_change(&members, change, &m)?;
            if !is_learner && self.strict_reconfig {
                if !ready_to_add_voter(&members) {
                    return Err(MemberError::NotEnoughStarted.into());
                }
                // etcd's isConnectedFullySince.
                let mut voters = members.values().filter(|m| !m.is_learner);
                if !voters.all(|v| self.reachable(v.id)) {
                    return Err(MemberError::Unhealthy.into());
                }
            }
        }
        let list = self.propose_conf_change(change, m.clone()).await?;
        Ok((m, list))
    }

    /// etcd's MemberRemove.
    pub async fn member_remove(&self, id: u64) -> Result<Vec<Member>, ServerError> {
        let m = {
            let members = self.members.lock().expect("members lock");
            let Some(m) = members.get(&id).cloned() else {
                return Err(MemberError::NotFound.into());
            };
            if !m.is_learner && self.strict_reconfig {
                // etcd's IsReadyToRemoveVotingMember: the started voters
                // left must still be a quorum.
                let rest: Vec<&Member> = members
                    .values()
                    .filter(|v| !v.is_learner && v.id != id)
                    .collect();
                let started = rest.iter().filter(|v| !v.name.is_empty()).count();
                if started < rest.len() / 2 + 1 {
                    return Err(MemberError::NotEnoughStarted.into());
                }
                // A member that is down is safe to remove; otherwise the
                // reachable voters left must be a quorum.
                if id == self.member_id || self.reachable(id) {
                    let voters: Vec<&Member> = members.values().filter(|v| !v.is_learner).collect();
                    let active = voters.iter().filter(|v| self.reachable(v.id)).count();
                    if active - 1 < 1 + (voters.len() - 1) / 2 {
                        return Err(MemberError::NotEnoughStarted.into());
                    }
                }
            }
            m
        };
        self.propose_conf_change(MemberChange::Remove, m).await
    }

    /// etcd's MemberUpdate: new peer URLs for a member.
    pub async fn member_update(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> Result<Vec<Member>, ServerError> {
        check_urls(&peer_urls)?;
        {
            let members = self.members.lock().expect("members lock");
            if !members.contains_key(&id) {
                return Err(MemberError::NotFound.into());
            }
            let taken = members
                .values()
                .filter(|m| m.id != id)
                .flat_map(|m| m.peer_ur_ls.iter())
                .any(|u| peer_urls.contains(u));
            if taken {
                return Err(MemberError::PeerUrlExists.into());
            }
        }
        let m = Member {
            id,
            peer_ur_ls: peer_urls,
            ..Default::default()
        };
        match self.propose(Op::UpdateMember(m)).await? {
            Applied::Members(list) => Ok(list),
            other => unreachable!("member update answered with {other:?}"),
        }
    }

    /// etcd's MemberPromote: only a learner in sync with the leader; a
    /// follower asks the leader, which alone knows the learner's progress.
    pub async fn member_promote(&self, id: u64) -> Result<Vec<Member>, ServerError> {
        let mut m = {
            let members = self.members.lock().expect("members lock");
            let Some(m) = members.get(&id).cloned() else {
                return Err(MemberError::NotFound.into());
            };
            if !m.is_learner {
                return Err(MemberError::NotLearner.into());
            }
            // etcd's IsReadyToPromoteMember (the learner's progress is
            // checked below whatever --strict-reconfig-check says).
            if self.strict_reconfig && !ready_to_add_voter(&members) {
                return Err(MemberError::NotEnoughStarted.into());
            }
            m
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(RaftCmd::LearnerReady { id, reply })
            .await
            .map_err(|_| ServerError::Stopped)?;
        match rx.await.map_err(|_| ServerError::Stopped)? {
            Ok(true) => {}
            Ok(false) => return Err(MemberError::LearnerNotReady.into()),
            Err(_) => {
                let Some(url) = self.leader_peer_url() else {
                    return Err(ServerError::NoLeader);
                };
                return match crate::transport::forward_promote(&url, id).await {
                    Err(()) => Err(ServerError::Timeout),
                    Ok(Ok(())) => Ok(self.member_list()),
                    Ok(Err(msg)) => Err(MemberError::ALL
                        .into_iter()
                        .find(|e| e.to_string() == msg)
                        .map(ServerError::Member)
                        .unwrap_or(ServerError::Timeout)),
                };
            }
        }
        m.is_learner = false;
        self.propose_conf_change(MemberChange::AddVoter, m).await
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
        // etcd: a revision at or below the compaction point is compacted.
        if rev > 0 && at <= kv.compact_rev() {
            return Err(MvccError::Compacted.into());
        }
        Ok((kv.hash_kv(at), kv.rev(), kv.compact_rev()))
    }
}

/// etcd's `IsReadyToAddVotingMember` (and `IsReadyToPromoteMember`, the
/// same count): with one more voter, the started voters must still be a
/// quorum, except that a single started member may add a second.
fn ready_to_add_voter(members: &BTreeMap<u64, Member>) -> bool {
    let voters = members.values().filter(|m| !m.is_learner);
    let (n, started) = voters.fold((1, 0), |(n, started), m| {
        (n + 1, started + usize::from(!m.name.is_empty()))
    });
    let quorum = n / 2 + 1;
    (started == 1 && n == 2) || started >= quorum
}

/// etcd's `types.NewURLs` check on member URLs: scheme, host and port.
fn check_urls(urls: &[String]) -> Result<(), MemberError> {
    let ok = |u: &str| {
        let Some(rest) = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"))
            .or_else(|| u.strip_prefix("unix://"))
            .or_else(|| u.strip_prefix("unixs://"))
        else {
            return false;
        };
        let Some((host, port)) = rest.rsplit_once(':') else {
            return false;
        };
        !host.is_empty() && !rest.contains('/') && port.parse::<u16>().is_ok()
    };
    if urls.is_empty() || !urls.iter().all(|u| ok(u)) {
        return Err(MemberError::BadUrls);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_urls_are_checked_like_etcd() {
        assert!(check_urls(&["http://10.0.0.1:2380".into()]).is_ok());
        assert!(check_urls(&["10.0.0.1:2380".into()]).is_err());
        assert!(check_urls(&["http://10.0.0.1".into()]).is_err());
        assert!(check_urls(&["http://10.0.0.1:2380/x".into()]).is_err());
        assert!(check_urls(&[]).is_err());
    }

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
