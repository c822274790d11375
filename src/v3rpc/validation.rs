//! Request checks before anything reaches raft, as etcd's `v3rpc/key.go`:
//! empty keys, sort options, ignore_value/ignore_lease, txn op counts and
//! duplicate keys within a txn branch.

use std::collections::HashSet;

use tonic::Status;

use crate::pb::etcdserverpb::{
    range_request, request_op, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

fn empty_key() -> Status {
    Status::invalid_argument("etcdserver: key is not provided")
}

pub(super) fn too_large() -> Status {
    Status::invalid_argument("etcdserver: request is too large")
}

/// grpc-go refuses a message over `max + overhead` in the transport; etcd
/// then refuses a request over `max` before proposing it.
pub fn check_size<M: prost::Message>(limits: &super::Limits, m: &M) -> Result<(), Status> {
    let len = m.encoded_len();
    let transport_max = limits.max_request_bytes + super::GRPC_OVERHEAD_BYTES;
    if len > transport_max {
        return Err(Status::resource_exhausted(format!(
            "grpc: received message larger than max ({len} vs. {transport_max})"
        )));
    }
    if len > limits.max_request_bytes {
        return Err(too_large());
    }
    Ok(())
}

pub fn check_range(r: &RangeRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    if range_request::SortOrder::try_from(r.sort_order).is_err()
        || range_request::SortTarget::try_from(r.sort_target).is_err()
    {
        return Err(Status::invalid_argument("etcdserver: invalid sort option"));
    }
    Ok(())
}

pub fn check_put(r: &PutRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(Status::invalid_argument("etcdserver: value is provided"));
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(Status::invalid_argument("etcdserver: lease is provided"));
    }
    Ok(())
}

pub fn check_delete(r: &DeleteRangeRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    Ok(())
}

fn check_op(op: &RequestOp, max_txn_ops: usize) -> Result<(), Status> {
    match &op.request {
        Some(request_op::Request::RequestRange(r)) => check_range(r),
        Some(request_op::Request::RequestPut(r)) => check_put(r),
        Some(request_op::Request::RequestDeleteRange(r)) => check_delete(r),
        Some(request_op::Request::RequestTxn(t)) => check_txn(t, max_txn_ops),
        None => Ok(()),
    }
}

/// Every check the KV service makes on a txn before proposing it (its size
/// aside): etcd's `checkTxnRequest`, then `checkIntervals` on each branch.
pub fn check_txn_request(r: &TxnRequest, max_txn_ops: usize) -> Result<(), Status> {
    check_txn(r, max_txn_ops)?;
    check_intervals(&r.success)?;
    check_intervals(&r.failure)?;
    Ok(())
}

/// etcd's `checkTxnRequest`: op count, empty keys, nested ops.
fn check_txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), Status> {
    let opc = r.compare.len().max(r.success.len()).max(r.failure.len());
    if opc > max_txn_ops {
        return Err(Status::invalid_argument(
            "etcdserver: too many operations in txn request",
        ));
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(empty_key());
    }
    for op in r.success.iter().chain(&r.failure) {
        check_op(op, max_txn_ops - opc)?;
    }
    Ok(())
}

fn duplicate_key() -> Status {
    Status::invalid_argument("etcdserver: duplicate key given in txn request")
}

/// A delete's interval: a point when `end` is empty, else `[key, end)`.
type Interval = (Vec<u8>, Vec<u8>);

fn intersects(dels: &[Interval], k: &[u8]) -> bool {
    dels.iter().any(|(key, end)| {
        if end.is_empty() {
            key.as_slice() == k
        } else {
            key.as_slice() <= k && k < end.as_slice()
        }
    })
}

/// etcd's `checkIntervals`: within one branch, no key may be put twice or
/// be both put and deleted (then/else of a nested txn may overlap).
fn check_intervals(reqs: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Interval>), Status> {
    let mut dels: Vec<Interval> = reqs
        .iter()
        .filter_map(|r| match &r.request {
            Some(request_op::Request::RequestDeleteRange(d)) => {
                Some((d.key.clone(), d.range_end.clone()))
            }
            _ => None,
        })
        .collect();
    let mut puts = HashSet::new();
    for r in reqs {
        let Some(request_op::Request::RequestTxn(t)) = &r.request else {
            continue;
        };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || intersects(&dels, k) {
                return Err(duplicate_key());
            }
            puts.insert(k.clone());
        }
        for k in puts_else {
            if puts.contains(&k) && !puts_then.contains(&k) || intersects(&dels, &k) {
                return Err(duplicate_key());
            }
            puts.insert(k);
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for r in reqs {
        let Some(request_op::Request::RequestPut(p)) = &r.request else {
            continue;
        };
        if puts.contains(&p.key) || intersects(&dels, &p.key) {
            return Err(duplicate_key());
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}
