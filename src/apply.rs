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
    #[prost(oneof = "Op", tags = "3, 4, 5, 6, 7")]
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
}

/// What applying one request produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    Published,
}

pub type ApplyResult = Result<Applied, MvccError>;

/// The replicated state: the key space and the members' published attributes.
pub struct StateMachine<'a> {
    pub kv: &'a mut KvStore,
    pub members: &'a mut BTreeMap<u64, Member>,
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
            sm.members.insert(m.id, m.clone());
            sm.meta_ops.push(BackendOp::SetMember(m.clone()));
            Applied::Published
        }
    })
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
