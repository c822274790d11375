//! The etcd server core: turns client requests into raft proposals (or
//! ReadIndex-guarded local reads of the shared state) and waits for their
//! typed results. Membership requests, with the checks that depend on this
//! member's view, are in [`member`].

mod auth;
pub mod compactor;
mod concurrency;
mod corrupt;
pub use concurrency::{RecipeError, SESSION_TTL};
mod lease;
pub use lease::Forwarded;
mod member;
mod v2;
mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use prost::Message;
use tokio::sync::{mpsc, oneshot};

use crate::apply::ApplyError;
use crate::auth::{AuthError, AuthInfo};
use crate::lease::LeaseError;
use crate::membership::{major_minor, MemberError};
use crate::mvcc::MvccError;
use crate::pb::etcdserverpb::{
    alarm_request, internal_raft_request::Request, AlarmRequest, AlarmResponse, AlarmType,
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    InternalRaftRequest, Member, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestHeader, ResponseHeader, TxnRequest, TxnResponse,
};
use crate::pb::membershippb::{Attributes, ClusterMemberAttrSetRequest, ClusterVersionSetRequest};
use crate::raftnode::{
    ProposeError, RaftCmd, RaftHandle, RaftStatus, Reply, Shared, TransferError, Waiter,
};
use crate::storage::backend::Backend;
use crate::transport::Reachable;

/// etcd's default request timeout (5 s) plus two election timeouts.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(7);
/// One ReadIndex attempt; raft may drop a read, so it is retried.
const READ_INDEX_ATTEMPT: Duration = Duration::from_millis(500);
/// Password hashes and checks computed at once (see `bcrypt_permits`).
const BCRYPT_CONCURRENCY: usize = 2;
/// How often a member without a cluster version checks again.
const VERSION_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// etcd's server version, reported by `/version` and `Status`.
pub const SERVER_VERSION: &str = "3.4.23";
/// The cluster version every oxcd member can run (etcd's `MinClusterVersion`
/// of its members' versions, which are all this one).
pub const CLUSTER_VERSION: &str = "3.4.0";
/// etcd's default `--quota-backend-bytes` (2 GiB), as `/metrics` reports it.
/// Server-level failures; `Display` is etcd's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerError {
    Mvcc(MvccError),
    Lease(LeaseError),
    Member(MemberError),
    Auth(AuthError),
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
    /// `etcdserver: mvcc: database space exceeded`
    NoSpace,
    /// `etcdserver: corrupt cluster`
    Corrupt,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Mvcc(e) => e.fmt(f),
            ServerError::Lease(e) => e.fmt(f),
            ServerError::Member(e) => e.fmt(f),
            ServerError::Auth(e) => e.fmt(f),
            ServerError::Timeout => f.write_str("etcdserver: request timed out"),
            ServerError::NoLeader => f.write_str("etcdserver: no leader"),
            ServerError::Stopped => f.write_str("etcdserver: server stopped"),
            ServerError::NotLeader => f.write_str("etcdserver: not leader"),
            ServerError::BadLeaderTransferee => f.write_str("etcdserver: bad leader transferee"),
            ServerError::TimeoutLeaderTransfer => {
                f.write_str("etcdserver: request timed out, leader transfer took too long")
            }
            ServerError::NoSpace => f.write_str("etcdserver: mvcc: database space exceeded"),
            ServerError::Corrupt => f.write_str("etcdserver: corrupt cluster"),
        }
    }
}

impl From<MvccError> for ServerError {
    fn from(e: MvccError) -> Self {
        ServerError::Mvcc(e)
    }
}

impl From<LeaseError> for ServerError {
    fn from(e: LeaseError) -> Self {
        ServerError::Lease(e)
    }
}

impl From<MemberError> for ServerError {
    fn from(e: MemberError) -> Self {
        ServerError::Member(e)
    }
}

impl From<AuthError> for ServerError {
    fn from(e: AuthError) -> Self {
        ServerError::Auth(e)
    }
}

impl From<ApplyError> for ServerError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Mvcc(e) => ServerError::Mvcc(e),
            ApplyError::Lease(e) => ServerError::Lease(e),
            ApplyError::Member(e) => ServerError::Member(e),
            ApplyError::Auth(e) => ServerError::Auth(e),
            ApplyError::NoSpace => ServerError::NoSpace,
            ApplyError::Corrupt => ServerError::Corrupt,
        }
    }
}

impl From<ProposeError> for ServerError {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::NoLeader => ServerError::NoLeader,
            // Only conf changes can meet it, and they retry (see member.rs).
            ProposeError::ConfChangePending => ServerError::Timeout,
            ProposeError::Refused(e) => e.into(),
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

pub struct EtcdServer {
    pub cluster_id: u64,
    /// This member as configured.
    pub me: MemberInfo,
    pub member_id: u64,
    pub version: &'static str,
    tx: mpsc::Sender<RaftCmd>,
    /// The replicated state and raft's progress, written by the raft loop.
    shared: Arc<RwLock<Shared>>,
    reachable: Reachable,
    learner: Arc<std::sync::atomic::AtomicBool>,
    clock: crate::raftnode::NodeClock,
    /// The watchers (the raft loop notifies them).
    pub watchable: Arc<crate::mvcc::watchable_store::WatchableStore>,
    metrics: Arc<crate::metrics::Metrics>,
    /// Woken when the raft loop changed the v2 store.
    v2_changed: Arc<tokio::sync::Notify>,
    /// When this member started, unix nanoseconds (`/v2/stats/self`).
    started_unix_nanos: i64,
    backend: Arc<dyn Backend>,
    /// The backend quota (`None`: none).
    quota_max: Option<u64>,
    next_id: AtomicU64,
    /// `--strict-reconfig-check`.
    pub strict_reconfig: bool,
    /// What this member forwards to the leader goes over one connection.
    leader_conn: crate::transport::LeaderConn,
    /// How this member dials its peers (the corruption checks ask them).
    peer_dialer: crate::rt::net::Dialer,
    /// `--bcrypt-cost`, for the passwords this member hashes.
    pub bcrypt_cost: u32,
    /// `--client-cert-auth`: a client certificate's CN names the user of a
    /// request without a token.
    pub client_cert_auth: bool,
    /// At most this many bcrypt checks run at once: each takes tens of
    /// milliseconds of CPU, and password guesses must not starve the rest.
    bcrypt_permits: tokio::sync::Semaphore,
    /// v2 auth's `ensuredOnce`: this member has made sure the v2 store has
    /// `/2`, `/2/users/`, `/2/roles/` and `/2/enabled`.
    v2auth_ensured: std::sync::atomic::AtomicBool,
}

impl EtcdServer {
    pub fn new(
        cluster_id: u64,
        me: MemberInfo,
        tx: mpsc::Sender<RaftCmd>,
        handle: RaftHandle,
        backend: Arc<dyn Backend>,
        id_seed: u64,
    ) -> Self {
        let member_id = me.id;
        EtcdServer {
            cluster_id,
            member_id,
            me,
            version: SERVER_VERSION,
            tx,
            shared: handle.shared,
            reachable: handle.reachable,
            learner: handle.learner,
            clock: handle.clock,
            watchable: handle.watchable,
            metrics: handle.metrics,
            v2_changed: handle.v2_changed,
            quota_max: handle.quota_max,
            started_unix_nanos: crate::rt::time::unix_nanos(),
            backend,
            // etcd's idutil: the member's low 16 bits, then 40 bits of the
            // start time in ms, then a counter that may carry into them. An
            // id must not repeat across restarts: a proposal of the last
            // incarnation still in the log would answer a new waiter, and a
            // lease id could be granted twice.
            next_id: AtomicU64::new(
                ((member_id & 0xffff) << 48) | ((id_seed & ((1 << 40) - 1)) << 8),
            ),
            strict_reconfig: true,
            leader_conn: Default::default(),
            peer_dialer: Default::default(),
            bcrypt_cost: crate::auth::BCRYPT_COST_DEFAULT,
            client_cert_auth: false,
            bcrypt_permits: tokio::sync::Semaphore::new(BCRYPT_CONCURRENCY),
            v2auth_ensured: Default::default(),
        }
    }

    /// Dials the leader (for forwarded requests) with the peer TLS.
    pub fn set_peer_dialer(&mut self, dialer: crate::rt::net::Dialer) {
        self.leader_conn = crate::transport::LeaderConn::new(dialer.clone());
        self.peer_dialer = dialer;
    }

    /// The replicated state and raft's progress, for reading.
    fn read(&self) -> RwLockReadGuard<'_, Shared> {
        self.shared.read().expect("state lock")
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
        self.read().status
    }

    pub fn db_size(&self) -> u64 {
        self.backend.size_bytes()
    }

    /// Defragments the backend (etcd's `Backend().Defrag()`), off the
    /// async workers: commits go on while it copies, and wait only while
    /// it switches to the new copy.
    pub async fn defragment(&self) -> std::io::Result<()> {
        tracing::info!("starting defragment");
        // What the loop's backend batch holds goes in first (a compaction
        // just made, say), as etcd's defragmentation commits first.
        drop(self.commit_backend().await?);
        let backend = self.backend.clone();
        let before = (backend.size_bytes(), backend.size_in_use());
        crate::rt::blocking(move || backend.defragment()).await?;
        tracing::info!(
            current_db_size_bytes = before.0,
            current_db_size_in_use_bytes = before.1,
            after_db_size_bytes = self.backend.size_bytes(),
            "finished defragmenting the storage backend"
        );
        Ok(())
    }

    /// The backend as an etcd 3.4 backend file, as of one commit: the
    /// checkpoint is taken at once, and read and encoded off the async
    /// workers while commits go on.
    pub async fn snapshot_db(&self) -> std::io::Result<Vec<u8>> {
        let checkpoint = self.commit_backend().await?;
        crate::rt::blocking(move || {
            checkpoint
                .pairs()
                .map(|pairs| crate::snapshot::to_etcd_db(&pairs))
        })
        .await
    }

    /// Has the raft loop commit its backend batch; returns a checkpoint
    /// of the backend that holds every entry applied so far.
    async fn commit_backend(&self) -> std::io::Result<crate::storage::backend::Checkpoint> {
        let stopped = || std::io::Error::other("etcdserver: server stopped");
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(RaftCmd::CommitBackend { reply })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// The bytes the backend's live pairs take (etcd's size in use).
    pub fn db_size_in_use(&self) -> u64 {
        self.backend.size_in_use()
    }

    /// etcd's `quotaAlarmer.check`, before a write is proposed: a write
    /// that would take the backend to its quota raises NOSPACE through
    /// raft and is refused.
    async fn check_quota(&self, req: &Request) -> Result<(), ServerError> {
        let quota = crate::apply::alarm::Quota {
            backend_bytes: self.backend.size_bytes(),
            max: self.quota_max,
        };
        if quota.available(crate::apply::alarm::cost(req)) {
            return Ok(());
        }
        let raise = AlarmRequest {
            action: alarm_request::AlarmAction::Activate as i32,
            member_id: self.member_id,
            alarm: AlarmType::Nospace as i32,
        };
        // etcd ignores the outcome: the write is refused either way.
        let _ = self.alarm(raise).await;
        Err(ServerError::NoSpace)
    }

    /// Lists, raises or disarms alarms, through raft (etcd's `Alarm`).
    pub async fn alarm(&self, req: AlarmRequest) -> Result<AlarmResponse, ServerError> {
        self.propose(Request::Alarm(req), Waiter::Alarm).await
    }

    /// When this member started, unix nanoseconds.
    pub fn started_unix_nanos(&self) -> i64 {
        self.started_unix_nanos
    }

    /// This member's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// `/metrics`: the exposition, with the state-derived figures read now.
    pub fn metrics_text(&self) -> String {
        let (watchers, watch_streams, slow_watchers) = self.watchable.gauges();
        let db = self.db_size() as i64;
        let scrape = {
            let g = self.read();
            crate::metrics::Scrape {
                member_id: self.member_id,
                server_version: self.version.to_string(),
                // etcd labels it major.minor.
                cluster_version: g
                    .state
                    .cluster
                    .version()
                    .map(|v| major_minor(v).to_string()),
                has_leader: g.status.leader_id != 0,
                is_leader: g.status.is_leader,
                is_learner: self.learner.load(std::sync::atomic::Ordering::Relaxed),
                committed_index: g.status.commit_index,
                applied_index: g.status.applied_index,
                current_revision: g.state.kv.rev(),
                compact_revision: g.state.kv.compact_rev(),
                keys: g.state.kv.keys_total(),
                db_size_bytes: db,
                db_size_in_use_bytes: self.backend.size_in_use() as i64,
                watchers,
                watch_streams,
                slow_watchers,
                auth_revision: g.state.auth.revision() as i64,
                quota_backend_bytes: self.quota_max.map_or(0, |q| q as i64),
            }
        };
        self.metrics.gather(&scrape)
    }

    /// Fills the header fields the state machine does not know.
    pub fn header(&self, h: &mut Option<ResponseHeader>) {
        let h = h.get_or_insert_with(Default::default);
        h.cluster_id = self.cluster_id;
        h.member_id = self.member_id;
        h.raft_term = self.raft_status().term;
    }

    /// A response header at `revision`, with this member's ids and term
    /// (watch responses and the recipes' answers name their own revision).
    pub fn header_at(&self, revision: i64) -> ResponseHeader {
        let mut h = Some(ResponseHeader {
            revision,
            ..Default::default()
        });
        self.header(&mut h);
        h.unwrap_or_default()
    }

    pub fn current_revision(&self) -> i64 {
        self.read().state.kv.rev()
    }

    /// Replicates `req` and waits for its typed result; `waiter` says which
    /// kind of result (e.g. `Waiter::Put`).
    async fn propose<T>(
        &self,
        req: Request,
        waiter: impl FnOnce(Reply<T>) -> Waiter,
    ) -> Result<T, ServerError> {
        self.propose_as(req, None, waiter).await
    }

    /// As [`Self::propose`], on behalf of `ai`'s user: the applier checks
    /// the request against that user's permissions at `ai`'s auth revision.
    async fn propose_as<T>(
        &self,
        req: Request,
        ai: Option<&AuthInfo>,
        waiter: impl FnOnce(Reply<T>) -> Waiter,
    ) -> Result<T, ServerError> {
        let (reply, rx) = oneshot::channel();
        let pending = &self.metrics.proposals_pending;
        pending.inc();
        // Dropped on every path, a caller that goes away included.
        let _pending = scopeguard(|| pending.dec());
        let outcome = match self.submit_as(req, ai, waiter(reply)).await {
            Err(e) => Err(e),
            Ok(()) => match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
                Err(_) => Err(ServerError::Timeout),
                Ok(Err(_)) => Err(ServerError::Stopped),
                Ok(Ok(res)) => return Ok(res?),
            },
        };
        // etcd's proposals_failed_total: a proposal that never came back.
        self.metrics.proposals_failed.inc();
        outcome
    }

    /// Hands `req` to the raft loop; `waiter` gets its result.
    async fn submit(&self, req: Request, waiter: Waiter) -> Result<(), ServerError> {
        self.submit_as(req, None, waiter).await
    }

    async fn submit_as(
        &self,
        req: Request,
        ai: Option<&AuthInfo>,
        waiter: Waiter,
    ) -> Result<(), ServerError> {
        let id = self.next_request_id();
        let ai = ai.cloned().unwrap_or_default();
        let data = InternalRaftRequest {
            header: Some(RequestHeader {
                id,
                username: ai.username,
                auth_revision: ai.revision,
            }),
            request: Some(req),
            ..Default::default()
        }
        .encode_to_vec();
        self.tx
            .send(RaftCmd::Propose { id, data, waiter })
            .await
            .map_err(|_| ServerError::Stopped)
    }

    /// A request id unique in the cluster (etcd's `reqIDGen`).
    fn next_request_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
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

    /// A range, as `ai`'s user (`None`: no token): checked against the
    /// same state it reads, so no later permission change can leak into it.
    pub async fn range(
        &self,
        req: RangeRequest,
        ai: Option<&AuthInfo>,
    ) -> Result<RangeResponse, ServerError> {
        self.metrics.range_served();
        if !req.serializable && !crate::bugs::active(crate::bugs::Bug::SkipReadIndex) {
            self.linearizable_barrier().await?;
        }
        let mut resp = {
            let shared = self.read();
            // Checked under the lock the read takes, so at the revision the
            // read sees (etcd resolves the token after the ReadIndex too).
            shared
                .state
                .auth
                .is_range_permitted_now(ai, &req.key, &req.range_end)?;
            shared.state.kv.range(&req)?
        };
        self.header(&mut resp.header);
        Ok(resp)
    }

    pub async fn put(
        &self,
        req: PutRequest,
        ai: Option<&AuthInfo>,
    ) -> Result<PutResponse, ServerError> {
        let req = Request::Put(req);
        self.check_quota(&req).await?;
        let mut r = self.propose_as(req, ai, Waiter::Put).await?;
        self.header(&mut r.header);
        Ok(r)
    }

    pub async fn delete_range(
        &self,
        req: DeleteRangeRequest,
        ai: Option<&AuthInfo>,
    ) -> Result<DeleteRangeResponse, ServerError> {
        let mut r = self
            .propose_as(Request::DeleteRange(req), ai, Waiter::DeleteRange)
            .await?;
        self.header(&mut r.header);
        Ok(r)
    }

    pub async fn txn(
        &self,
        req: TxnRequest,
        ai: Option<&AuthInfo>,
    ) -> Result<TxnResponse, ServerError> {
        let req = Request::Txn(req);
        self.check_quota(&req).await?;
        let mut r = self.propose_as(req, ai, Waiter::Txn).await?;
        self.header(&mut r.header);
        Ok(r)
    }

    pub async fn compact(
        &self,
        req: CompactionRequest,
        ai: Option<&AuthInfo>,
    ) -> Result<CompactionResponse, ServerError> {
        let mut r = self
            .propose_as(Request::Compaction(req), ai, Waiter::Compaction)
            .await?;
        self.header(&mut r.header);
        Ok(r)
    }

    /// Members as etcd lists them, by id; a member that has not published
    /// its name and client URLs yet is "unstarted".
    pub fn member_list(&self) -> Vec<Member> {
        self.read().state.cluster.list()
    }

    /// Announces this member's name and client URLs through raft (etcd's
    /// `publish`); a member serves clients only once this has been applied.
    pub async fn publish(&self) -> Result<(), ServerError> {
        let attrs = ClusterMemberAttrSetRequest {
            member_id: self.me.id,
            member_attributes: Some(Attributes {
                name: self.me.name.clone(),
                client_urls: self.me.client_urls.clone(),
            }),
        };
        self.propose(Request::ClusterMemberAttrSet(attrs), Waiter::Done)
            .await
    }

    /// Whether this member's own entry has been published (applied here).
    pub fn published(&self) -> bool {
        let shared = self.read();
        let me = shared.state.cluster.member(self.member_id);
        me.is_some_and(|m| m.name == self.me.name && !m.name.is_empty())
    }

    /// The version the cluster agreed on (`None` until it has).
    pub fn cluster_version(&self) -> Option<String> {
        self.read().state.cluster.version().map(str::to_string)
    }

    /// etcd's `monitorVersions`, while the cluster has no version yet: the
    /// leader decides one (the lowest its members run; every oxcd member
    /// runs [`CLUSTER_VERSION`]) and replicates it. Returns once a version
    /// is set.
    pub async fn monitor_versions(&self) {
        while self.cluster_version().is_none() {
            if self.raft_status().leader_id == self.member_id {
                tracing::info!(
                    target: "etcdserver",
                    "setting up the initial cluster version to {}",
                    major_minor(CLUSTER_VERSION)
                );
                let set = ClusterVersionSetRequest {
                    ver: CLUSTER_VERSION.to_string(),
                };
                let res = self
                    .propose(Request::ClusterVersionSet(set), Waiter::Done)
                    .await;
                if let Err(e) = res {
                    tracing::warn!(target: "etcdserver", "failed to set the cluster version: {e}");
                }
            }
            if self.cluster_version().is_none() {
                tokio::time::sleep(VERSION_CHECK_INTERVAL).await;
            }
        }
    }

    /// Whether this member is a learner (etcd serves only serializable
    /// reads and `Status` on learners).
    pub fn is_learner(&self) -> bool {
        self.learner.load(Ordering::Relaxed)
    }

    /// A digest of the KV history up to `rev` (0: the current revision), with
    /// the current and compacted revisions: `(hash, current, compacted)`.
    pub fn hash_kv(&self, rev: i64) -> Result<(u32, i64, i64), ServerError> {
        let shared = self.read();
        let kv = &shared.state.kv;
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

/// Runs `f` when dropped.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
