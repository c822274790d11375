//! The applier: every committed raft entry — normal entries and conf
//! changes alike — goes through [`Applier::apply`], in log order, on every
//! member. It is sans-IO and deterministic: the replicated [`State`] in,
//! and out the typed answers for waiting proposers, the one backend batch
//! that persists the entry's effects, and the [`Effect`]s the raft node
//! must run (tell raft about a conf change, add or drop a peer).
//!
//! One file per domain, as etcd's applier: [`kv`] (put, delete, txn,
//! compaction), [`lease`] (grant, revoke, checkpoint, and the keys each
//! lease holds), [`membership`] (conf changes, published attributes,
//! peer URL updates, the cluster version) and [`auth`] (users, roles,
//! tokens, and the permission check every request passes first, against
//! the user and auth revision in its header). A new domain (alarm) is a
//! new file, a field in [`State`] and one arm in [`Applier::apply_request`].

pub mod alarm;
pub mod auth;
mod kv;
mod lease;
mod membership;
mod v2;

use std::time::Duration;

use prost::Message;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfState, Entry, EntryType};

use crate::auth::{AuthError, AuthInfo, AuthStore, TokenConfig};
use crate::lease::{LeaseError, Lessor, LessorConfig};
use crate::membership::{MemberError, RaftCluster};
use crate::metrics::ApplyCounts;
use crate::mvcc::{KvStore, MvccError};
use crate::pb::etcdserverpb::{
    internal_raft_request::Request, response_op, CompactionResponse, DeleteRangeResponse,
    InternalRaftRequest, LeaseGrantResponse, LeaseRevokeResponse, Member, PutResponse, ResponseOp,
    TxnResponse,
};
use crate::storage::schema::{BackendOp, Loaded};

/// The replicated state every member holds: the key space, the leases,
/// the cluster and the auth store. (The lessor also keeps the leader's
/// lease expiries and the auth store this member's tokens, which are not
/// replicated; see [`crate::lease`] and [`crate::auth`].)
pub struct State {
    pub kv: KvStore,
    pub lessor: Lessor,
    pub cluster: RaftCluster,
    pub auth: AuthStore,
    /// The v2 keys (etcd's `v2store`), empty unless v2 clients wrote.
    pub v2: crate::v2store::Store,
    /// The raised alarms.
    pub alarms: crate::alarm::AlarmStore,
}

impl Default for State {
    fn default() -> Self {
        State {
            kv: Default::default(),
            lessor: Default::default(),
            cluster: Default::default(),
            auth: Default::default(),
            v2: crate::v2store::Store::new_etcd(),
            alarms: Default::default(),
        }
    }
}

impl State {
    /// The state a backend holds.
    pub fn recover(loaded: Loaded, lessor: LessorConfig, tokens: &TokenConfig) -> State {
        let cluster = RaftCluster::recover(&loaded);
        let auth = AuthStore::recover(&loaded, tokens);
        let alarms = crate::alarm::AlarmStore::recover(&loaded.alarms);
        let kv = KvStore::restore(loaded.revs, loaded.compact_rev);
        let mut lessor = Lessor::recover(lessor, &loaded.leases);
        for (key, id) in kv.leased_keys() {
            lessor.attach(id, &key);
        }
        let mut v2 = crate::v2store::Store::new_etcd();
        if let Some(saved) = &loaded.v2_store {
            // The backend's batches are checksummed; a store that does not
            // read back is a corrupt backend, which start-up must not hide.
            v2.recover(saved)
                .unwrap_or_else(|e| panic!("the backend's v2 store does not read back: {e:?}"));
        }
        State {
            kv,
            lessor,
            cluster,
            auth,
            v2,
            alarms,
        }
    }
}

/// Why applying a request changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    Mvcc(MvccError),
    Lease(LeaseError),
    Member(MemberError),
    Auth(AuthError),
    /// `etcdserver: mvcc: database space exceeded` (NOSPACE is raised, or
    /// this write took the backend past its quota).
    NoSpace,
    /// `etcdserver: corrupt cluster` (CORRUPT is raised).
    Corrupt,
}

impl From<LeaseError> for ApplyError {
    fn from(e: LeaseError) -> Self {
        ApplyError::Lease(e)
    }
}

impl From<MvccError> for ApplyError {
    fn from(e: MvccError) -> Self {
        ApplyError::Mvcc(e)
    }
}

impl From<MemberError> for ApplyError {
    fn from(e: MemberError) -> Self {
        ApplyError::Member(e)
    }
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::Mvcc(e) => e.fmt(f),
            ApplyError::Lease(e) => e.fmt(f),
            ApplyError::Member(e) => e.fmt(f),
            ApplyError::Auth(e) => e.fmt(f),
            ApplyError::NoSpace => f.write_str("etcdserver: mvcc: database space exceeded"),
            ApplyError::Corrupt => f.write_str("etcdserver: corrupt cluster"),
        }
    }
}

/// The typed answer to one proposal, for whoever waits on its id.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Put(Result<PutResponse, ApplyError>),
    DeleteRange(Result<DeleteRangeResponse, ApplyError>),
    Txn(Result<TxnResponse, ApplyError>),
    Compaction(Result<CompactionResponse, ApplyError>),
    LeaseGrant(Result<LeaseGrantResponse, ApplyError>),
    LeaseRevoke(Result<LeaseRevokeResponse, ApplyError>),
    /// A membership change: the members afterwards.
    Members(Result<Vec<Member>, ApplyError>),
    /// A request with nothing to return (published attributes, the cluster
    /// version).
    Done(Result<(), ApplyError>),
    Auth(Result<auth::AuthAnswer, ApplyError>),
    V2(Result<crate::v2http::V2Answer, ApplyError>),
    Alarm(Result<crate::pb::etcdserverpb::AlarmResponse, ApplyError>),
}

/// What the raft node must do after the batch that produced it is persisted.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Tell raft the conf change took effect; `conf_state` is the
    /// configuration the applier computed (raft must agree).
    ConfChange {
        cc: ConfChange,
        conf_state: ConfState,
    },
    /// Start sending to a new member.
    PeerAdded { id: u64, url: String },
    /// Stop sending to a member that left.
    PeerRemoved(u64),
    /// This member was removed from the cluster: it must stop.
    Removed,
}

/// Everything applying a run of entries produced.
#[derive(Debug, Default, PartialEq)]
pub struct Output {
    /// `(proposal id, answer)`, in log order.
    pub answers: Vec<(u64, Answer)>,
    /// The backend batch, to commit with the last entry's index.
    pub ops: Vec<BackendOp>,
    pub effects: Vec<Effect>,
    /// Every key change, as watch events in revision order.
    pub events: Vec<crate::pb::mvccpb::Event>,
    /// A v2 request changed the v2 store (save it; wake its watchers).
    pub v2_changed: bool,
}

/// Applies committed entries; remembers what it needs between them.
pub struct Applier {
    /// This member (its own removal is an effect of its own).
    me: u64,
    /// The raft configuration as of the last applied entry.
    conf_state: ConfState,
    /// Index of the last applied entry.
    applied: u64,
    /// The node clock as the batch is applied (a lease granted on the
    /// primary expires its TTL from then).
    now: Duration,
    /// Unix nanoseconds as the batch is applied: v2 answers show TTLs
    /// from it (expirations themselves come in the requests).
    unix_now: i64,
    counts: ApplyCounts,
    /// The backend's size and quota as this batch is applied (member-local,
    /// as etcd's quota applier reads its own backend).
    quota: alarm::Quota,
}

impl Applier {
    /// An applier whose state is as of entry `applied` with `conf_state`.
    pub fn new(me: u64, conf_state: ConfState, applied: u64) -> Applier {
        Applier {
            me,
            conf_state,
            applied,
            now: Duration::ZERO,
            unix_now: 0,
            counts: ApplyCounts::default(),
            quota: alarm::Quota::default(),
        }
    }

    /// The node clock's reading, and the wall clock's in unix nanoseconds,
    /// for the entries applied next.
    pub fn set_now(&mut self, now: Duration, unix_now: i64) {
        self.now = now;
        self.unix_now = unix_now;
    }

    /// The backend's size and the quota, for the entries applied next.
    pub fn set_quota(&mut self, quota: alarm::Quota) {
        self.quota = quota;
    }

    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// What this applier has applied, by kind, since it started (etcd's
    /// mvcc and lease counters; a txn's ops count as their kinds too).
    pub fn counts(&self) -> ApplyCounts {
        self.counts
    }

    /// Counts what a request did, by its answer; a txn's executed ops (as
    /// its response lists them, nested txns included) count as their kinds.
    fn count(&mut self, answer: &Answer) {
        fn ops(c: &mut ApplyCounts, done: &[ResponseOp]) {
            for op in done {
                match &op.response {
                    Some(response_op::Response::ResponseRange(_)) => c.ranges += 1,
                    Some(response_op::Response::ResponsePut(_)) => c.puts += 1,
                    Some(response_op::Response::ResponseDeleteRange(_)) => c.deletes += 1,
                    Some(response_op::Response::ResponseTxn(t)) => ops(c, &t.responses),
                    None => {}
                }
            }
        }
        let c = &mut self.counts;
        match answer {
            Answer::Put(Ok(_)) => c.puts += 1,
            Answer::DeleteRange(Ok(_)) => c.deletes += 1,
            Answer::Txn(Ok(t)) => {
                c.txns += 1;
                ops(c, &t.responses);
            }
            Answer::LeaseGrant(Ok(_)) => c.leases_granted += 1,
            Answer::LeaseRevoke(Ok(_)) => c.leases_revoked += 1,
            _ => {}
        }
    }

    /// Ends a batch of entries: what must be written once per batch rather
    /// than per entry (the v2 store, saved whole).
    pub fn finish_batch(&mut self, st: &mut State, out: &mut Output) {
        v2::finish_batch(st, out);
    }

    /// After a snapshot replaced the state.
    pub fn reset(&mut self, conf_state: ConfState, applied: u64) {
        self.conf_state = conf_state;
        self.applied = applied;
    }

    /// Applies one committed entry. Entries at or below the applied index
    /// are already in the backend (a replay after restart) and are skipped:
    /// that is what makes replay idempotent.
    pub fn apply(&mut self, st: &mut State, e: &Entry, out: &mut Output) {
        if e.index <= self.applied {
            return;
        }
        assert_eq!(
            e.index,
            self.applied + 1,
            "committed entries are applied in order, without gaps"
        );
        self.applied = e.index;
        match e.get_entry_type() {
            EntryType::EntryNormal if e.data.is_empty() => {} // a new leader's empty entry
            EntryType::EntryNormal => {
                let req = InternalRaftRequest::decode(&e.data[..])
                    .expect("a raft entry written by this storage version decodes");
                let id = req.header.as_ref().map_or(req.id, |h| h.id);
                // Every request a member takes from a client has a header
                // (with no user when it came without a token); only the
                // raft loop's own proposals (expired leases' revokes,
                // checkpoints) have none, and act as the server itself,
                // as etcd's `WithRoot` has them do.
                let ai = req.header.map(|h| AuthInfo {
                    username: h.username,
                    revision: h.auth_revision,
                });
                if let Some(answer) = self.apply_request(st, ai.as_ref(), req.request, out) {
                    out.answers.push((id, answer));
                }
                lease::track_changes(st, &mut out.events);
            }
            EntryType::EntryConfChange => {
                let cc = ConfChange::parse_from_bytes(&e.data)
                    .expect("a conf change written by us decodes");
                let answer = membership::conf_change(st, &mut self.conf_state, self.me, cc, out);
                if let Some(a) = answer {
                    out.answers.push(a);
                }
            }
            EntryType::EntryConfChangeV2 => {
                panic!("oxcd proposes only simple conf changes (entry {})", e.index)
            }
        }
        out.ops.append(&mut st.kv.take_ops());
        out.ops.append(&mut st.lessor.take_ops());
        out.ops.append(&mut st.auth.take_ops());
        out.ops.append(&mut st.alarms.take_ops());
    }

    /// The one dispatch on the request kind.
    fn apply_request(
        &mut self,
        st: &mut State,
        ai: Option<&AuthInfo>,
        req: Option<Request>,
        out: &mut Output,
    ) -> Option<Answer> {
        let req = req?;
        if let Some(Err(e)) = ai.map(|ai| auth::check(st, ai, &req)) {
            return Some(refused(&req, e));
        }
        if let Err(e) = alarm::gate(st, &req) {
            return Some(refused(&req, e));
        }
        // etcd's quota applier: a write that finds the backend past its
        // quota is applied all the same, and answered NOSPACE.
        let fits = self.quota.available(alarm::cost(&req));
        let answer = match req {
            Request::Put(r) => Answer::Put(alarm::over_quota(fits, kv::put(st, &r))),
            Request::DeleteRange(r) => Answer::DeleteRange(Ok(kv::delete_range(st, &r))),
            Request::Txn(r) => Answer::Txn(alarm::over_quota(fits, kv::txn(st, &r))),
            Request::Compaction(r) => Answer::Compaction(kv::compaction(st, &r)),
            Request::LeaseGrant(r) => {
                Answer::LeaseGrant(alarm::over_quota(fits, lease::grant(st, &r, self.now)))
            }
            Request::Alarm(r) => Answer::Alarm(Ok(alarm::apply(st, &r))),
            Request::LeaseRevoke(r) => Answer::LeaseRevoke(lease::revoke(st, &r)),
            Request::LeaseCheckpoint(r) => {
                lease::checkpoint(st, &r, self.now);
                Answer::Done(Ok(()))
            }
            Request::ClusterMemberAttrSet(r) => {
                membership::set_attributes(st, &r, out);
                Answer::Done(Ok(()))
            }
            Request::OxcdMemberUpdate(r) => {
                Answer::Members(membership::update_peer_urls(st, &r, out))
            }
            Request::ClusterVersionSet(r) => {
                membership::set_version(st, &r, out);
                Answer::Done(Ok(()))
            }
            Request::V2(r) => Answer::V2(Ok(v2::apply(st, &r, self.unix_now, out))),
            r => Answer::Auth(auth::apply(st, r, self.applied, self.now)),
        };
        self.count(&answer);
        Some(answer)
    }
}

/// The answer to a request its permission check refused, of its kind.
fn refused(req: &Request, e: ApplyError) -> Answer {
    match req {
        Request::Put(_) => Answer::Put(Err(e)),
        Request::DeleteRange(_) => Answer::DeleteRange(Err(e)),
        Request::Txn(_) => Answer::Txn(Err(e)),
        Request::Compaction(_) => Answer::Compaction(Err(e)),
        Request::LeaseGrant(_) => Answer::LeaseGrant(Err(e)),
        Request::LeaseRevoke(_) => Answer::LeaseRevoke(Err(e)),
        Request::OxcdMemberUpdate(_) => Answer::Members(Err(e)),
        Request::V2(_) => Answer::V2(Err(e)),
        Request::Alarm(_) => Answer::Alarm(Err(e)),
        Request::LeaseCheckpoint(_)
        | Request::ClusterMemberAttrSet(_)
        | Request::ClusterVersionSet(_) => Answer::Done(Err(e)),
        _ => Answer::Auth(Err(e)),
    }
}

#[cfg(test)]
mod tests;
