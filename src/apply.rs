//! The applier: committed raft entries in, state changes and responses out.
//!
//! Sans-IO and deterministic: every member applies the same entries in the
//! same order and reaches the same state. Persisting the resulting backend
//! ops (with the entry's index as consistent index) is the caller's job.

use prost::Message;

use crate::mvcc::{KvStore, MvccError};
use crate::pb::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, TxnRequest, TxnResponse,
};

/// The payload of a normal raft entry.
#[derive(Clone, PartialEq, Message)]
pub struct InternalRequest {
    /// Proposer-chosen id, unique per proposer, used to find the waiting caller.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(oneof = "Op", tags = "3, 4, 5, 6")]
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
}

/// What applying one request produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
}

pub type ApplyResult = Result<Applied, MvccError>;

/// Applies one request to the store.
pub fn apply(kv: &mut KvStore, op: &Op) -> ApplyResult {
    Ok(match op {
        Op::Put(r) => Applied::Put(kv.put(r)?),
        Op::DeleteRange(r) => Applied::DeleteRange(kv.delete_range(r)),
        Op::Txn(r) => Applied::Txn(kv.txn(r)?),
        Op::Compaction(r) => Applied::Compaction(CompactionResponse {
            header: Some(kv.compact(r.revision)?),
        }),
    })
}

/// Decodes and applies a raft entry payload; returns the request id and result.
/// An undecodable payload is a bug (we wrote it), so it panics.
pub fn apply_entry(kv: &mut KvStore, data: &[u8]) -> Option<(u64, ApplyResult)> {
    if data.is_empty() {
        return None; // the empty entry a new leader appends
    }
    let req = InternalRequest::decode(data).expect("raft entry written by us decodes");
    let op = req.op.as_ref()?;
    Some((req.id, apply(kv, op)))
}
