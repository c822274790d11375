//! The applier: committed raft entries in, state changes and responses out.
//!
//! Sans-IO and deterministic: every member applies the same entries in the
//! same order and reaches the same state. Persisting the resulting backend
//! ops (with the entry's index as consistent index) is the caller's job.

use prost::Message;

use std::collections::BTreeMap;

use crate::mvcc::{BackendOp, KvStore, MvccError};
use crate::pb::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, Member,
    PutRequest, PutResponse, TxnRequest, TxnResponse,
};

/// The payload of a normal raft entry.
#[derive(Clone, PartialEq, Message)]
pub struct InternalRequest {
    /// Proposer-chosen id, unique per proposer, used to find the waiting caller.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(oneof = "Op", tags = "3, 4, 5, 6, 7, 8, 1300")]
    pub op: Option<Op>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Op {
    #[prost(message, tag = "3")]
    Put(PutRequest),
    #[prost(message, tag = "4")]
    DeleteRange(DeleteRangeRequest),
    #[prost(message, tag = "5")]
    Txn(TxnRequest),
    #[prost(message, tag = "6")]
    Compaction(CompactionRequest),
    /// A member announces its name and client URLs (etcd's `publish`).
    #[prost(message, tag = "7")]
    Publish(Member),
    /// New peer URLs for a member (etcd's MemberUpdate).
    #[prost(message, tag = "8")]
    UpdateMember(Member),
    /// The leader sets the cluster version (etcd 3.5's
    /// `cluster_version_set`, with its field number).
    #[prost(message, tag = "1300")]
    ClusterVersionSet(ClusterVersionSet),
}

/// etcd's `membershippb.ClusterVersionSetRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct ClusterVersionSet {
    #[prost(string, tag = "1")]
    pub ver: String,
}

/// `3.4.0` → `3.4`, as etcd logs a cluster version.
pub fn major_minor(ver: &str) -> &str {
    match ver.match_indices('.').nth(1) {
        Some((i, _)) => &ver[..i],
        None => ver,
    }
}

/// Logs the lines etcd prints when a cluster version takes effect.
pub fn log_cluster_version(previous: Option<&str>, ver: &str) {
    match previous {
        None => tracing::info!(
            target: "etcdserver/membership",
            notice = true,
            "set the initial cluster version to {}",
            major_minor(ver)
        ),
        Some(p) => tracing::info!(
            target: "etcdserver/membership",
            notice = true,
            "updated the cluster version from {} to {}",
            major_minor(p),
            major_minor(ver)
        ),
    }
    tracing::info!(
        target: "etcdserver/api",
        "enabled capabilities for version {}",
        major_minor(ver)
    );
}

/// What applying one request produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    Published,
    ClusterVersionSet,
    /// A membership change took effect; the members afterwards.
    Members(Vec<Member>),
}

pub type ApplyResult = Result<Applied, ApplyError>;

/// Why applying a request failed (the request changed nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    Mvcc(MvccError),
    Member(MemberError),
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

/// A refused membership change; `Display` is etcd's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberError {
    NotFound,
    Exists,
    PeerUrlExists,
    NotLearner,
    TooManyLearners,
    LearnerNotReady,
    NotEnoughStarted,
    Unhealthy,
    BadUrls,
}

impl MemberError {
    pub const ALL: [MemberError; 9] = [
        MemberError::NotFound,
        MemberError::Exists,
        MemberError::PeerUrlExists,
        MemberError::NotLearner,
        MemberError::TooManyLearners,
        MemberError::LearnerNotReady,
        MemberError::NotEnoughStarted,
        MemberError::Unhealthy,
        MemberError::BadUrls,
    ];
}

impl std::fmt::Display for MemberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemberError::NotFound => "etcdserver: member not found",
            MemberError::Exists => "etcdserver: member ID already exist",
            MemberError::PeerUrlExists => "etcdserver: Peer URLs already exists",
            MemberError::NotLearner => "etcdserver: can only promote a learner member",
            MemberError::TooManyLearners => "etcdserver: too many learner members in cluster",
            MemberError::LearnerNotReady => {
                "etcdserver: can only promote a learner member which is in sync with leader"
            }
            MemberError::NotEnoughStarted => {
                "etcdserver: re-configuration failed due to not enough started members"
            }
            MemberError::Unhealthy => "etcdserver: unhealthy cluster",
            MemberError::BadUrls => "etcdserver: given member URLs are invalid",
        })
    }
}

/// The replicated state: the key space and the members' published attributes.
pub struct StateMachine<'a> {
    pub kv: &'a mut KvStore,
    pub members: &'a mut BTreeMap<u64, Member>,
    /// The version the cluster agreed on.
    pub cluster_version: &'a mut Option<String>,
    /// Backend writes for state outside MVCC (member attributes).
    pub meta_ops: &'a mut Vec<BackendOp>,
}

/// Applies one request.
pub fn apply(sm: &mut StateMachine<'_>, op: &Op) -> ApplyResult {
    let kv = &mut *sm.kv;
    Ok(match op {
        Op::Put(r) => Applied::Put(kv.put(r)?),
        Op::DeleteRange(r) => Applied::DeleteRange(kv.delete_range(r)),
        Op::Txn(r) => Applied::Txn(kv.txn(r)?),
        Op::Compaction(r) => Applied::Compaction(CompactionResponse {
            header: Some(kv.compact(r.revision)?),
        }),
        Op::Publish(m) => {
            // A removed member's late announcement changes nothing.
            if let Some(cur) = sm.members.get_mut(&m.id) {
                cur.name = m.name.clone();
                cur.client_ur_ls = m.client_ur_ls.clone();
                sm.meta_ops.push(BackendOp::SetMember(cur.clone()));
            }
            Applied::Published
        }
        Op::ClusterVersionSet(v) => {
            if sm.cluster_version.as_deref() != Some(v.ver.as_str()) {
                log_cluster_version(sm.cluster_version.as_deref(), &v.ver);
                *sm.cluster_version = Some(v.ver.clone());
                sm.meta_ops
                    .push(BackendOp::SetClusterVersion(v.ver.clone()));
            }
            Applied::ClusterVersionSet
        }
        Op::UpdateMember(m) => {
            let Some(cur) = sm.members.get_mut(&m.id) else {
                return Err(MemberError::NotFound.into());
            };
            cur.peer_ur_ls = m.peer_ur_ls.clone();
            sm.meta_ops.push(BackendOp::SetMember(cur.clone()));
            Applied::Members(sm.members.values().cloned().collect())
        }
    })
}

/// A membership change carried by a raft conf change entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    AddVoter,
    AddLearner,
    Remove,
}

/// Checks a membership change against the current members (etcd's
/// `ValidateConfigurationChange`): every member applies the same check to
/// the same state, so all accept or all refuse it.
pub fn validate_member_change(
    members: &BTreeMap<u64, Member>,
    change: MemberChange,
    m: &Member,
) -> Result<(), MemberError> {
    match change {
        MemberChange::AddVoter | MemberChange::AddLearner => {
            if let Some(cur) = members.get(&m.id) {
                // Adding a learner as a voter promotes it.
                if change == MemberChange::AddVoter && cur.is_learner {
                    return Ok(());
                }
                return Err(if change == MemberChange::AddVoter {
                    MemberError::NotLearner
                } else {
                    MemberError::Exists
                });
            }
            let taken = members
                .values()
                .flat_map(|x| x.peer_ur_ls.iter())
                .any(|u| m.peer_ur_ls.contains(u));
            if taken {
                return Err(MemberError::PeerUrlExists);
            }
            if change == MemberChange::AddLearner
                && members.values().filter(|x| x.is_learner).count() >= MAX_LEARNERS
            {
                return Err(MemberError::TooManyLearners);
            }
            Ok(())
        }
        MemberChange::Remove => {
            if members.contains_key(&m.id) {
                Ok(())
            } else {
                Err(MemberError::NotFound)
            }
        }
    }
}

/// etcd allows one learner at a time.
pub const MAX_LEARNERS: usize = 1;

/// Applies a validated membership change to the member table.
pub fn apply_member_change(sm: &mut StateMachine<'_>, change: MemberChange, m: &Member) {
    match change {
        MemberChange::AddVoter | MemberChange::AddLearner => {
            let e = sm.members.entry(m.id).or_insert_with(|| m.clone());
            e.is_learner = change == MemberChange::AddLearner;
            sm.meta_ops.push(BackendOp::SetMember(e.clone()));
        }
        MemberChange::Remove => {
            sm.members.remove(&m.id);
            sm.meta_ops.push(BackendOp::DeleteMember(m.id));
        }
    }
}

/// Decodes and applies a raft entry payload; returns the request id and result.
/// An undecodable payload is a bug (we wrote it), so it panics.
pub fn apply_entry(sm: &mut StateMachine<'_>, data: &[u8]) -> Option<(u64, ApplyResult)> {
    if data.is_empty() {
        return None; // the empty entry a new leader appends
    }
    let req = InternalRequest::decode(data).expect("raft entry written by us decodes");
    let op = req.op.as_ref()?;
    Some((req.id, apply(sm, op)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_version_is_set_once_and_stored() {
        let mut kv = KvStore::default();
        let mut members = BTreeMap::new();
        let mut version = None;
        let mut ops = Vec::new();
        let mut sm = StateMachine {
            kv: &mut kv,
            members: &mut members,
            cluster_version: &mut version,
            meta_ops: &mut ops,
        };
        let set = Op::ClusterVersionSet(ClusterVersionSet {
            ver: "3.4.0".into(),
        });
        assert_eq!(apply(&mut sm, &set), Ok(Applied::ClusterVersionSet));
        assert_eq!(apply(&mut sm, &set), Ok(Applied::ClusterVersionSet));
        assert_eq!(version.as_deref(), Some("3.4.0"));
        assert_eq!(ops, vec![BackendOp::SetClusterVersion("3.4.0".into())]);
        assert_eq!(major_minor("3.4.0"), "3.4");
    }
}
