//! The KV domain of the applier: etcd's `applierV3backend` Put, DeleteRange,
//! Txn and Compaction, on the MVCC store.

use super::{ApplyError, State};
use crate::pb::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, TxnRequest, TxnResponse,
};

pub(super) fn put(st: &mut State, r: &PutRequest) -> Result<PutResponse, ApplyError> {
    Ok(st.kv.put_with(r, &|id| st.lessor.lookup(id).is_some())?)
}

pub(super) fn delete_range(st: &mut State, r: &DeleteRangeRequest) -> DeleteRangeResponse {
    st.kv.delete_range(r)
}

pub(super) fn txn(st: &mut State, r: &TxnRequest) -> Result<TxnResponse, ApplyError> {
    Ok(st.kv.txn_with(r, &|id| st.lessor.lookup(id).is_some())?)
}

pub(super) fn compaction(
    st: &mut State,
    r: &CompactionRequest,
) -> Result<CompactionResponse, ApplyError> {
    Ok(CompactionResponse {
        header: Some(st.kv.compact(r.revision)?),
    })
}
