//! A reference model of etcd's KV semantics (MVCC), written from etcd's
//! documented behaviour and independent of oxcd's `mvcc` code, so that a bug
//! there is not copied here. It predicts every response field: revisions,
//! versions, `prev_kv`, counts, `more`, txn branches and nested results,
//! compaction errors.
//!
//! Deliberately naive: the whole key space is kept at every revision (the
//! simulated key spaces are small), so a past-revision read is an index.
//!
//! Sources: etcd's API reference (`rpc.proto` comments), `server/etcdserver/
//! txn/txn.go` (range filters, sort, limit; `applyCompare`), `mvcc/
//! kvstore_txn.go` (revisions, versions, delete of nothing).

use std::collections::BTreeMap;
use std::sync::Arc;

use oxcd::pb::etcdserverpb::{
    compare, range_request, request_op, response_op, CompactionRequest, Compare,
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use oxcd::pb::mvccpb::KeyValue;

/// The key space at one revision.
pub type Space = BTreeMap<Vec<u8>, KeyValue>;

/// A request the model executes.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Range(RangeRequest),
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact(CompactionRequest),
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    Range(RangeResponse),
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    /// The revision of the store when it compacted.
    Compact(i64),
}

impl Response {
    /// The response header's revision.
    pub fn revision(&self) -> i64 {
        let h = match self {
            Response::Range(r) => &r.header,
            Response::Put(r) => &r.header,
            Response::DeleteRange(r) => &r.header,
            Response::Txn(r) => &r.header,
            Response::Compact(rev) => return *rev,
        };
        h.as_ref().map_or(0, |h| h.revision)
    }
}

/// The errors etcd's KV answers with (its messages, for reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvError {
    /// `mvcc: required revision has been compacted`
    Compacted,
    /// `mvcc: required revision is a future revision`
    FutureRev,
    /// `etcdserver: key not found` (put with ignore_value/ignore_lease)
    KeyNotFound,
    /// `etcdserver: requested lease not found`
    LeaseNotFound,
}

impl KvError {
    /// The error a gRPC status message names, if it is one of these.
    pub fn from_message(m: &str) -> Option<KvError> {
        Some(match m {
            "etcdserver: mvcc: required revision has been compacted" => KvError::Compacted,
            "etcdserver: mvcc: required revision is a future revision" => KvError::FutureRev,
            "etcdserver: key not found" => KvError::KeyNotFound,
            "etcdserver: requested lease not found" => KvError::LeaseNotFound,
            _ => return None,
        })
    }
}

/// The store: every revision's key space, and the compaction point.
#[derive(Clone, Debug)]
pub struct KvModel {
    /// `spaces[r]` is the key space at revision `r` (revision 1 is the
    /// empty store etcd starts with; index 0 is unused).
    spaces: Vec<Arc<Space>>,
    /// etcd's `compactMainRev`: -1 until the first compaction.
    compacted: i64,
    /// `(the store's revision, compacted)` after each compaction, so that
    /// [`KvModel::truncate`] forgets later ones too.
    compactions: Vec<(i64, i64)>,
}

impl Default for KvModel {
    fn default() -> Self {
        KvModel {
            spaces: vec![Arc::default(), Arc::default()],
            compacted: -1,
            compactions: Vec::new(),
        }
    }
}

/// Whether `k` is in etcd's range `[key, end)` (`end` empty: just `key`;
/// `end` = `\0`: every key from `key` on).
pub fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        e => k >= key && k < e,
    }
}

/// A write in progress: the new key space and the sub-revision count.
struct Write {
    space: Space,
    main: i64,
    sub: i64,
}

impl Write {
    fn changed(&self) -> bool {
        self.sub > 0
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) {
        let (create_revision, version) = match self.space.get(key) {
            Some(kv) => (kv.create_revision, kv.version + 1),
            None => (self.main, 1),
        };
        self.space.insert(
            key.to_vec(),
            KeyValue {
                key: key.to_vec(),
                create_revision,
                mod_revision: self.main,
                version,
                value,
                lease,
            },
        );
        self.sub += 1;
    }

    /// Deletes `[key, end)`; the deleted pairs.
    fn delete(&mut self, key: &[u8], end: &[u8]) -> Vec<KeyValue> {
        let gone: Vec<KeyValue> = self
            .space
            .values()
            .filter(|kv| in_range(&kv.key, key, end))
            .cloned()
            .collect();
        for kv in &gone {
            self.space.remove(&kv.key);
        }
        self.sub += gone.len() as i64;
        gone
    }
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

impl KvModel {
    /// The current revision.
    pub fn rev(&self) -> i64 {
        self.spaces.len() as i64 - 1
    }

    /// The store as it was at revision `rev` (later revisions, and
    /// compactions made after it, forgotten).
    pub fn truncate(&mut self, rev: i64) {
        self.spaces.truncate(rev.max(1) as usize + 1);
        while self.compactions.last().is_some_and(|&(at, _)| at > rev) {
            self.compactions.pop();
        }
        self.compacted = self.compactions.last().map_or(-1, |&(_, c)| c);
    }

    /// Every state the store was in at revision `rev`: before each of the
    /// compactions made at it, and after the last.
    pub fn states_at(&self, rev: i64) -> Vec<KvModel> {
        let mut m = self.clone();
        m.truncate(rev);
        let mut states = vec![m.clone()];
        while m.compactions.last().is_some_and(|&(at, _)| at == rev) {
            m.compactions.pop();
            m.compacted = m.compactions.last().map_or(-1, |&(_, c)| c);
            states.push(m.clone());
        }
        states
    }

    pub fn compacted(&self) -> i64 {
        self.compacted
    }

    /// The key space at the current revision.
    pub fn space(&self) -> &Space {
        self.spaces.last().expect("revision 1 always exists")
    }

    /// Executes `req`; a request that writes creates one new revision.
    pub fn apply(&mut self, req: &Request) -> Result<Response, KvError> {
        match req {
            Request::Range(r) => self.range(r, self.space()).map(Response::Range),
            Request::Put(r) => {
                // A put of its own checks the lease first (etcd's
                // `applierV3backend.Put`); in a txn the key comes first.
                if r.lease != 0 {
                    return Err(KvError::LeaseNotFound);
                }
                let mut w = self.begin();
                let resp = put(&mut w, r)?;
                self.commit(w);
                Ok(Response::Put(resp))
            }
            Request::DeleteRange(r) => {
                let mut w = self.begin();
                let mut resp = delete_range(&mut w, r);
                let changed = w.changed();
                self.commit(w);
                if !changed {
                    resp.header = header(self.rev());
                }
                Ok(Response::DeleteRange(resp))
            }
            Request::Txn(r) => {
                // etcd's `compareToPath`: every compare on the path, nested
                // ones included, reads the store as the txn began; then the
                // puts and the ranges on that path are checked (in that
                // order) before anything is written.
                let path = compare_to_path(r, self.space());
                self.check_txn(r, &path)?;
                let mut w = self.begin();
                let mut resp = self.txn(&mut w, r, &mut path.into_iter())?;
                self.commit(w);
                resp.header = header(self.rev());
                Ok(Response::Txn(resp))
            }
            Request::Compact(r) => self.compact(r.revision),
        }
    }

    fn begin(&self) -> Write {
        Write {
            space: self.space().clone(),
            main: self.rev() + 1,
            sub: 0,
        }
    }

    fn commit(&mut self, w: Write) {
        if w.changed() {
            self.spaces.push(Arc::new(w.space));
        }
    }

    fn compact(&mut self, rev: i64) -> Result<Response, KvError> {
        if rev <= self.compacted {
            return Err(KvError::Compacted);
        }
        if rev > self.rev() {
            return Err(KvError::FutureRev);
        }
        self.compacted = rev;
        self.compactions.push((self.rev(), rev));
        Ok(Response::Compact(self.rev()))
    }

    /// etcd's range, at `r.revision` (0: the current key space, `now`).
    fn range(&self, r: &RangeRequest, now: &Space) -> Result<RangeResponse, KvError> {
        if r.revision > self.rev() {
            return Err(KvError::FutureRev);
        }
        let space: &Space = if r.revision <= 0 {
            now
        } else if r.revision < self.compacted {
            return Err(KvError::Compacted);
        } else {
            &self.spaces[r.revision as usize]
        };
        Ok(range_of(r, space, self.rev()))
    }

    /// etcd's `checkRequests`, with `checkRequestPut` over the whole path
    /// and then `checkRequestRange`, against the store as the txn began.
    fn check_txn(&self, r: &TxnRequest, path: &[bool]) -> Result<(), KvError> {
        let now = self.space();
        for_path(r, path, &mut |op| match op {
            request_op::Request::RequestPut(p) => {
                if (p.ignore_value || p.ignore_lease) && !now.contains_key(&p.key) {
                    return Err(KvError::KeyNotFound);
                }
                if p.lease != 0 {
                    return Err(KvError::LeaseNotFound);
                }
                Ok(())
            }
            _ => Ok(()),
        })?;
        for_path(r, path, &mut |op| match op {
            request_op::Request::RequestRange(q) if q.revision > 0 => {
                if q.revision > self.rev() {
                    Err(KvError::FutureRev)
                } else if q.revision < self.compacted {
                    Err(KvError::Compacted)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        })
        .map(drop)
    }

    /// Executes the branches `path` (from [`compare_to_path`]) chose.
    fn txn(
        &self,
        w: &mut Write,
        r: &TxnRequest,
        path: &mut impl Iterator<Item = bool>,
    ) -> Result<TxnResponse, KvError> {
        let succeeded = path.next().expect("a path step for every txn on it");
        let ops = if succeeded { &r.success } else { &r.failure };
        let mut responses = Vec::new();
        for op in ops {
            responses.push(ResponseOp {
                response: Some(self.txn_op(w, op, path)?),
            });
        }
        Ok(TxnResponse {
            header: None,
            succeeded,
            responses,
        })
    }

    fn txn_op(
        &self,
        w: &mut Write,
        op: &RequestOp,
        path: &mut impl Iterator<Item = bool>,
    ) -> Result<response_op::Response, KvError> {
        use response_op::Response as R;
        Ok(match &op.request {
            Some(request_op::Request::RequestRange(r)) => {
                // A range in a txn sees the txn's own writes so far, or a
                // past revision (checked against the store before the txn).
                let now = if w.changed() { w.main } else { w.main - 1 };
                let space = if r.revision > 0 {
                    &self.spaces[r.revision as usize]
                } else {
                    &w.space
                };
                R::ResponseRange(RangeResponse {
                    header: None,
                    ..range_of(r, space, now)
                })
            }
            Some(request_op::Request::RequestPut(p)) => R::ResponsePut(PutResponse {
                header: None,
                ..put(w, p)?
            }),
            Some(request_op::Request::RequestDeleteRange(d)) => {
                R::ResponseDeleteRange(DeleteRangeResponse {
                    header: None,
                    ..delete_range(w, d)
                })
            }
            Some(request_op::Request::RequestTxn(t)) => R::ResponseTxn(self.txn(w, t, path)?),
            None => R::ResponseRange(RangeResponse::default()),
        })
    }
}

/// etcd's `compareToPath`: whether each txn on the path taken succeeded,
/// the outer one first, then each nested txn of the branch taken, depth
/// first — all compared against `space`, the store before the txn.
pub fn compare_to_path(r: &TxnRequest, space: &Space) -> Vec<bool> {
    let succeeded = r.compare.iter().all(|c| compare_holds(c, space));
    let mut path = vec![succeeded];
    for op in if succeeded { &r.success } else { &r.failure } {
        if let Some(request_op::Request::RequestTxn(t)) = &op.request {
            path.extend(compare_to_path(t, space));
        }
    }
    path
}

/// Calls `f` on every non-txn op of the branches `path` chose.
fn for_path(
    r: &TxnRequest,
    path: &[bool],
    f: &mut impl FnMut(&request_op::Request) -> Result<(), KvError>,
) -> Result<usize, KvError> {
    let mut used = 1;
    for op in if path[0] { &r.success } else { &r.failure } {
        match &op.request {
            Some(request_op::Request::RequestTxn(t)) => used += for_path(t, &path[used..], f)?,
            Some(other) => f(other)?,
            None => {}
        }
    }
    Ok(used)
}

/// A put (checked already, in a txn).
fn put(w: &mut Write, r: &PutRequest) -> Result<PutResponse, KvError> {
    let prev = w.space.get(&r.key).cloned();
    if (r.ignore_value || r.ignore_lease) && prev.is_none() {
        return Err(KvError::KeyNotFound);
    }
    if r.lease != 0 {
        // No lease exists (the lessor is not built).
        return Err(KvError::LeaseNotFound);
    }
    let value = match (&prev, r.ignore_value) {
        (Some(p), true) => p.value.clone(),
        _ => r.value.clone(),
    };
    let lease = match (&prev, r.ignore_lease) {
        (Some(p), true) => p.lease,
        _ => r.lease,
    };
    w.put(&r.key, value, lease);
    Ok(PutResponse {
        header: header(w.main),
        prev_kv: if r.prev_kv { prev } else { None },
    })
}

fn delete_range(w: &mut Write, r: &DeleteRangeRequest) -> DeleteRangeResponse {
    let gone = w.delete(&r.key, &r.range_end);
    DeleteRangeResponse {
        header: header(w.main),
        deleted: gone.len() as i64,
        prev_kvs: if r.prev_kv { gone } else { vec![] },
    }
}

/// etcd's `applyCompare`: every key in the compare's range must satisfy it;
/// with no key, a value compare fails and the others compare zero values.
pub fn compare_holds(c: &Compare, space: &Space) -> bool {
    let kvs: Vec<&KeyValue> = space
        .values()
        .filter(|kv| in_range(&kv.key, &c.key, &c.range_end))
        .collect();
    let target = compare::CompareTarget::try_from(c.target);
    if kvs.is_empty() {
        if target == Ok(compare::CompareTarget::Value) {
            return false;
        }
        return compare_kv(c, &KeyValue::default());
    }
    kvs.iter().all(|kv| compare_kv(c, kv))
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    use compare::{CompareResult, CompareTarget, TargetUnion};
    let ord = match (CompareTarget::try_from(c.target), &c.target_union) {
        (Ok(CompareTarget::Value), Some(TargetUnion::Value(v))) => kv.value.cmp(v),
        (Ok(CompareTarget::Value), _) => kv.value.as_slice().cmp(&[][..]),
        (Ok(CompareTarget::Create), Some(TargetUnion::CreateRevision(r))) => {
            kv.create_revision.cmp(r)
        }
        (Ok(CompareTarget::Mod), Some(TargetUnion::ModRevision(r))) => kv.mod_revision.cmp(r),
        (Ok(CompareTarget::Version), Some(TargetUnion::Version(v))) => kv.version.cmp(v),
        (Ok(CompareTarget::Lease), Some(TargetUnion::Lease(l))) => kv.lease.cmp(l),
        (Ok(CompareTarget::Create), _) => kv.create_revision.cmp(&0),
        (Ok(CompareTarget::Mod), _) => kv.mod_revision.cmp(&0),
        (Ok(CompareTarget::Version), _) => kv.version.cmp(&0),
        (Ok(CompareTarget::Lease), _) => kv.lease.cmp(&0),
        (Err(_), _) => return true,
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ord.is_eq(),
        Ok(CompareResult::NotEqual) => ord.is_ne(),
        Ok(CompareResult::Greater) => ord.is_gt(),
        Ok(CompareResult::Less) => ord.is_lt(),
        Err(_) => true,
    }
}

/// etcd's range over one key space (its 3.4 `applierV3backend.Range`): the
/// pairs in range, then the revision filters, the sort, the limit (`more`),
/// `keys_only`, `count_only`.
fn range_of(r: &RangeRequest, space: &Space, rev: i64) -> RangeResponse {
    use range_request::{SortOrder, SortTarget};
    let all: Vec<KeyValue> = space
        .values()
        .filter(|kv| in_range(&kv.key, &r.key, &r.range_end))
        .cloned()
        .collect();
    // etcd counts before the revision filters.
    let count = all.len() as i64;
    if r.count_only {
        // etcd's limit compares the (empty) list of pairs: never `more`.
        return RangeResponse {
            header: header(rev),
            kvs: vec![],
            more: false,
            count,
        };
    }
    // etcd 3.4 fetches only `limit + 1` pairs (in key order) unless the
    // request asks for an order or filters on revisions, and sorts what it
    // fetched: a sort target with no order sorts just those.
    let filtered = r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0;
    let fetch = if r.sort_order != SortOrder::None as i32 || filtered || r.limit <= 0 {
        all.len()
    } else {
        all.len().min(r.limit as usize + 1)
    };
    let mut kvs: Vec<KeyValue> = all
        .into_iter()
        .take(fetch)
        .filter(|kv| r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
        .filter(|kv| r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
        .filter(|kv| r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
        .filter(|kv| r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
        .collect();
    let target = SortTarget::try_from(r.sort_target).unwrap_or(SortTarget::Key);
    let mut order = SortOrder::try_from(r.sort_order).unwrap_or(SortOrder::None);
    if target != SortTarget::Key && order == SortOrder::None {
        order = SortOrder::Ascend;
    }
    // Go's `sort.Sort` is an insertion sort for up to 12 pairs (the
    // simulated key spaces hold 5): stable, ties stay in key order, for a
    // descending sort too (it reverses the comparison, not the result).
    debug_assert!(kvs.len() <= 12, "the model sorts as etcd only small ranges");
    match order {
        SortOrder::Ascend => kvs.sort_by_key(|kv| sort_key(target, kv)),
        SortOrder::Descend => kvs.sort_by_key(|kv| std::cmp::Reverse(sort_key(target, kv))),
        SortOrder::None => {}
    }
    let more = r.limit > 0 && kvs.len() as i64 > r.limit;
    if more {
        kvs.truncate(r.limit as usize);
    }
    if r.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    RangeResponse {
        header: header(rev),
        kvs,
        more,
        count,
    }
}

/// What a range sorts on, for a target.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    Bytes(Vec<u8>),
    Int(i64),
}

pub fn sort_key(target: range_request::SortTarget, kv: &KeyValue) -> SortKey {
    use range_request::SortTarget;
    match target {
        SortTarget::Key => SortKey::Bytes(kv.key.clone()),
        SortTarget::Value => SortKey::Bytes(kv.value.clone()),
        SortTarget::Version => SortKey::Int(kv.version),
        SortTarget::Create => SortKey::Int(kv.create_revision),
        SortTarget::Mod => SortKey::Int(kv.mod_revision),
    }
}

#[cfg(test)]
mod tests;
