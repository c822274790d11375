//! The MVCC key-value store: etcd's `kvstore` + the v3 applier's KV logic.

use std::collections::BTreeMap;

use prost::Message;

use super::crc32c::Crc32c;
use super::key_index::KeyIndex;
use super::revision::Revision;
use crate::pb::etcdserverpb::{
    compare, range_request, request_op, response_op, Compare, DeleteRangeRequest,
    DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, ResponseHeader,
    ResponseOp, TxnRequest, TxnResponse,
};
use crate::pb::mvccpb::{event, Event, KeyValue};
use crate::storage::schema::BackendOp;

/// Errors of the KV state machine; `Display` is etcd's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MvccError {
    /// `mvcc: required revision has been compacted`
    Compacted,
    /// `mvcc: required revision is a future revision`
    FutureRev,
    /// `etcdserver: key not found` (ignore_value / ignore_lease on a missing key)
    KeyNotFound,
    /// `etcdserver: requested lease not found`
    LeaseNotFound,
}

impl std::fmt::Display for MvccError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MvccError::Compacted => "mvcc: required revision has been compacted",
            MvccError::FutureRev => "mvcc: required revision is a future revision",
            MvccError::KeyNotFound => "etcdserver: key not found",
            MvccError::LeaseNotFound => "etcdserver: requested lease not found",
        })
    }
}

impl std::error::Error for MvccError {}

#[derive(Clone, Debug)]
struct Stored {
    kv: KeyValue,
    tombstone: bool,
}

/// The store: current key index, every retained revision, and the pending
/// backend operations produced by writes since the last [`KvStore::take_ops`].
pub struct KvStore {
    index: BTreeMap<Vec<u8>, KeyIndex>,
    revs: BTreeMap<Revision, Stored>,
    current_rev: i64,
    compact_rev: i64,
    ops: Vec<BackendOp>,
    /// Every change since the last [`KvStore::take_changes`], in revision
    /// order, as watch events (etcd's `storeTxnWrite.changes`).
    changes: Vec<Event>,
}

/// Whether a lease exists, asked by puts that carry one (the lessor's
/// `Lookup`); a store without a lessor knows none.
pub type LeaseExists<'a> = &'a dyn Fn(i64) -> bool;

/// Knows no lease.
pub fn no_leases(_: i64) -> bool {
    false
}

/// The open write transaction: every change in it shares `main`.
struct WriteTxn {
    main: i64,
    changes: i64,
}

impl WriteTxn {
    /// Revision that reads inside this txn see: the txn's own writes count.
    fn read_rev(&self) -> i64 {
        if self.changes > 0 {
            self.main
        } else {
            self.main - 1
        }
    }

    fn next(&mut self) -> Revision {
        let r = Revision::new(self.main, self.changes);
        self.changes += 1;
        r
    }
}

/// Decoded key range: `[key, end)`, or a single key when `end` is `None`.
enum KeyRange<'a> {
    Single(&'a [u8]),
    From(&'a [u8]),
    Between(&'a [u8], &'a [u8]),
}

impl<'a> KeyRange<'a> {
    fn new(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => KeyRange::Single(key),
            [0] => KeyRange::From(key),
            end => KeyRange::Between(key, end),
        }
    }

    fn contains(&self, k: &[u8]) -> bool {
        match *self {
            KeyRange::Single(key) => k == key,
            KeyRange::From(key) => k >= key,
            KeyRange::Between(key, end) => k >= key && k < end,
        }
    }
}

/// A change as a watch event (etcd's `watchable_store_txn.End`): a delete's
/// pair carries only its key and revision.
pub fn event(rev: i64, kv: &KeyValue, tombstone: bool) -> Event {
    if tombstone {
        Event {
            r#type: event::EventType::Delete as i32,
            kv: Some(KeyValue {
                key: kv.key.clone(),
                mod_revision: rev,
                ..Default::default()
            }),
            prev_kv: None,
        }
    } else {
        Event {
            r#type: event::EventType::Put as i32,
            kv: Some(kv.clone()),
            prev_kv: None,
        }
    }
}

impl Default for KvStore {
    /// An empty store is at revision 1 and not compacted (etcd's `-1`).
    fn default() -> Self {
        KvStore {
            index: BTreeMap::new(),
            revs: BTreeMap::new(),
            current_rev: 1,
            compact_rev: -1,
            ops: Vec::new(),
            changes: Vec::new(),
        }
    }
}

impl KvStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Current (latest) main revision.
    pub fn rev(&self) -> i64 {
        self.current_rev
    }

    /// Main revision the store is compacted to.
    pub fn compact_rev(&self) -> i64 {
        self.compact_rev
    }

    /// How many keys exist at the current revision (etcd's keys gauge).
    /// Counted when asked, which is once per `/metrics` scrape.
    pub fn keys_total(&self) -> i64 {
        let rev = self.current_rev;
        self.index
            .values()
            .filter(|ki| ki.get(rev).is_some())
            .count() as i64
    }

    /// Backend operations produced since the last call.
    pub fn take_ops(&mut self) -> Vec<BackendOp> {
        std::mem::take(&mut self.ops)
    }

    /// Changes written since the last call, as events in revision order
    /// (the lessor attaches and detaches keys by them; watchers get them).
    pub fn take_changes(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.changes)
    }

    /// The events of revisions `from..=to` on keys in `[key, end)` (a
    /// single key when `end` is empty, every key from `key` on when it is
    /// `[0]`), in revision order: what a watcher that fell behind catches
    /// up on. Deletes carry their key and revision, as etcd's do.
    pub fn events_between(&self, key: &[u8], end: &[u8], from: i64, to: i64) -> Vec<Event> {
        let range = KeyRange::new(key, end);
        if from > to {
            return Vec::new();
        }
        self.revs
            .range(Revision::new(from, 0)..Revision::new(to + 1, 0))
            .filter(|(_, st)| range.contains(&st.kv.key))
            .map(|(rev, st)| event(rev.main, &st.kv, st.tombstone))
            .collect()
    }

    /// The pair `key` held at revision `at` (a watcher's `prev_kv`), if it
    /// existed then and that revision is not compacted.
    pub fn kv_at_rev(&self, key: &[u8], at: i64) -> Option<KeyValue> {
        if at < self.compact_rev || at < 1 {
            return None;
        }
        self.get_kv(key, at).cloned()
    }

    /// Every live key with a lease, at the current revision: `(key, lease)`
    /// (the lessor's attachments, rebuilt on recovery).
    pub fn leased_keys(&self) -> Vec<(Vec<u8>, i64)> {
        self.index
            .values()
            .filter_map(|ki| ki.get(self.current_rev))
            .map(|k| self.kv_at(k.modified))
            .filter(|kv| kv.lease != 0)
            .map(|kv| (kv.key.clone(), kv.lease))
            .collect()
    }

    /// Rebuilds a store from backend contents, given in ascending revision order.
    pub fn restore(
        entries: impl IntoIterator<Item = (Revision, bool, KeyValue)>,
        compact_rev: i64,
    ) -> Self {
        let mut s = KvStore {
            compact_rev,
            current_rev: compact_rev.max(1),
            ..Default::default()
        };
        for (rev, tombstone, kv) in entries {
            let ki = s.index.entry(kv.key.clone()).or_default();
            if tombstone {
                if ki.generations.is_empty() {
                    // Its put was compacted away: nothing live to close.
                    ki.restore(rev, rev, 0);
                    ki.generations.push(Default::default());
                } else {
                    ki.tombstone(rev);
                }
            } else if ki.generations.is_empty() {
                ki.restore(Revision::new(kv.create_revision, 0), rev, kv.version);
            } else {
                ki.put(rev);
            }
            s.current_rev = s.current_rev.max(rev.main);
            s.revs.insert(rev, Stored { kv, tombstone });
        }
        s
    }

    /// Sorted keys in `range` visible at `at`, with where to find them.
    fn visible(&self, range: &KeyRange<'_>, at: i64) -> Vec<Revision> {
        let mut out = Vec::new();
        let mut visit = |ki: &KeyIndex| {
            if let Some(k) = ki.get(at) {
                out.push(k.modified);
            }
        };
        match *range {
            KeyRange::Single(key) => {
                if let Some(ki) = self.index.get(key) {
                    visit(ki);
                }
            }
            KeyRange::From(key) => self
                .index
                .range(key.to_vec()..)
                .for_each(|(_, ki)| visit(ki)),
            KeyRange::Between(key, end) => {
                if key < end {
                    self.index
                        .range(key.to_vec()..end.to_vec())
                        .for_each(|(_, ki)| visit(ki))
                }
            }
        }
        out
    }

    fn kv_at(&self, rev: Revision) -> &KeyValue {
        &self
            .revs
            .get(&rev)
            .expect("index points at a stored revision")
            .kv
    }

    fn check_read_rev(&self, rev: i64, current: i64) -> Result<i64, MvccError> {
        let at = if rev <= 0 { current } else { rev };
        if at > current {
            return Err(MvccError::FutureRev);
        }
        if at < self.compact_rev {
            return Err(MvccError::Compacted);
        }
        Ok(at)
    }

    /// A read-only range at the current revision (serializable or linearizable
    /// alike: the caller decides when it is safe to read).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, MvccError> {
        self.range_at(req, self.current_rev)
    }

    fn range_at(&self, req: &RangeRequest, current: i64) -> Result<RangeResponse, MvccError> {
        use range_request::{SortOrder, SortTarget};
        let at = self.check_read_rev(req.revision, current)?;
        let range = KeyRange::new(&req.key, &req.range_end);
        let revs = self.visible(&range, at);
        let count = revs.len() as i64;

        let mut sort_order = SortOrder::try_from(req.sort_order).unwrap_or(SortOrder::None);
        let sort_target = SortTarget::try_from(req.sort_target).unwrap_or(SortTarget::Key);
        let filtered = req.min_mod_revision != 0
            || req.max_mod_revision != 0
            || req.min_create_revision != 0
            || req.max_create_revision != 0;
        // etcd fetches everything when it must sort or filter, else limit + 1.
        let fetch = if sort_order != SortOrder::None || filtered || req.limit <= 0 {
            revs.len()
        } else {
            revs.len().min(req.limit as usize + 1)
        };
        let mut kvs: Vec<KeyValue> = if req.count_only {
            Vec::new()
        } else {
            revs[..fetch]
                .iter()
                .map(|r| self.kv_at(*r).clone())
                .collect()
        };
        kvs.retain(|kv| {
            !(req.max_mod_revision != 0 && kv.mod_revision > req.max_mod_revision
                || req.min_mod_revision != 0 && kv.mod_revision < req.min_mod_revision
                || req.max_create_revision != 0 && kv.create_revision > req.max_create_revision
                || req.min_create_revision != 0 && kv.create_revision < req.min_create_revision)
        });
        if sort_target != SortTarget::Key && sort_order == SortOrder::None {
            sort_order = SortOrder::Ascend;
        }
        if sort_order != SortOrder::None {
            let key = |a: &KeyValue, b: &KeyValue| match sort_target {
                SortTarget::Key => a.key.cmp(&b.key),
                SortTarget::Version => a.version.cmp(&b.version),
                SortTarget::Create => a.create_revision.cmp(&b.create_revision),
                SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
                SortTarget::Value => a.value.cmp(&b.value),
            };
            // Stable, like Go's insertion sort for the small slices etcd sorts.
            if sort_order == SortOrder::Descend {
                kvs.sort_by(|a, b| key(b, a));
            } else {
                kvs.sort_by(key);
            }
        }
        let mut more = false;
        if req.limit > 0 && kvs.len() > req.limit as usize {
            kvs.truncate(req.limit as usize);
            more = true;
        }
        if req.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        Ok(RangeResponse {
            header: Some(header(current)),
            kvs,
            more,
            count,
        })
    }

    /// Applies a put as its own write transaction (no lease exists).
    pub fn put(&mut self, req: &PutRequest) -> Result<PutResponse, MvccError> {
        self.put_with(req, &no_leases)
    }

    /// Applies a put as its own write transaction; `leases` says which
    /// leases exist.
    pub fn put_with(
        &mut self,
        req: &PutRequest,
        leases: LeaseExists<'_>,
    ) -> Result<PutResponse, MvccError> {
        let mut w = self.begin();
        self.check_put(req, w.read_rev(), leases)?;
        let resp = self.put_in(&mut w, req);
        self.end(w);
        Ok(resp)
    }

    /// Deletes each of `keys` (sorted) in one write transaction, as a lease
    /// revoke does; the revision afterwards.
    pub fn delete_keys(&mut self, keys: &[Vec<u8>]) -> i64 {
        let mut w = self.begin();
        for key in keys {
            let req = DeleteRangeRequest {
                key: key.clone(),
                ..Default::default()
            };
            self.delete_in(&mut w, &req);
        }
        self.end(w);
        self.current_rev
    }

    /// Applies a delete-range as its own write transaction.
    pub fn delete_range(&mut self, req: &DeleteRangeRequest) -> DeleteRangeResponse {
        let mut w = self.begin();
        let resp = self.delete_in(&mut w, req);
        self.end(w);
        resp
    }

    /// Applies a txn: compares, then one branch, all at one revision (no
    /// lease exists).
    pub fn txn(&mut self, req: &TxnRequest) -> Result<TxnResponse, MvccError> {
        self.txn_with(req, &no_leases)
    }

    /// Applies a txn; `leases` says which leases exist.
    pub fn txn_with(
        &mut self,
        req: &TxnRequest,
        leases: LeaseExists<'_>,
    ) -> Result<TxnResponse, MvccError> {
        let mut w = self.begin();
        let mut compare_rev = w.read_rev();
        if crate::bugs::active(crate::bugs::Bug::StaleTxnCompare) {
            compare_rev -= 1;
        }
        // etcd's compareToPath: every compare on the path, nested txns'
        // included, reads the store as the txn began, not as its earlier
        // ops left it.
        let mut path = Vec::new();
        self.compare_to_path(req, compare_rev, &mut path);
        // Check every op first so a failing txn changes nothing: the puts on
        // the path, then its ranges (etcd's checkRequests, in that order).
        let at = w.read_rev();
        self.check_ops(req, &path, &mut |op| match op {
            request_op::Request::RequestPut(r) => self.check_put_in_txn(r, at, leases),
            _ => Ok(()),
        })?;
        self.check_ops(req, &path, &mut |op| match op {
            request_op::Request::RequestRange(r) => self.check_read_rev(r.revision, at).map(drop),
            _ => Ok(()),
        })?;
        // A put that keeps the old value or lease needs the key to exist
        // when it runs, after the txn's earlier ops. etcd 3.4 checks only
        // the state the txn began with (above) and then panics applying a
        // put of a key its own delete removed ("unexpected error during
        // txn"); oxcd answers "key not found" instead. The writes so far on
        // the path, in order, say which keys they left.
        let mut written: Vec<(&[u8], &[u8], bool)> = Vec::new();
        self.check_ops(req, &path, &mut |op| {
            match op {
                request_op::Request::RequestPut(r) => {
                    let deleted = written
                        .iter()
                        .rev()
                        .find(|(key, end, _)| KeyRange::new(key, end).contains(&r.key))
                        .is_some_and(|&(_, _, live)| !live);
                    if (r.ignore_value || r.ignore_lease) && deleted {
                        return Err(MvccError::KeyNotFound);
                    }
                    written.push((&r.key, &[], true));
                }
                request_op::Request::RequestDeleteRange(d) => {
                    written.push((&d.key, &d.range_end, false));
                }
                _ => {}
            }
            Ok(())
        })?;
        let mut resp = self.txn_in(&mut w, req, &mut path.into_iter());
        resp.header = Some(header(w.read_rev()));
        self.end(w);
        Ok(resp)
    }

    /// Whether each txn on the path taken succeeded, in the order
    /// [`Self::txn_in`] takes them: the txn, then each nested txn of the
    /// branch taken, depth first.
    fn compare_to_path(&self, req: &TxnRequest, at: i64, path: &mut Vec<bool>) {
        let succeeded = self.compares_hold(&req.compare, at);
        path.push(succeeded);
        let ops = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        for op in ops {
            if let Some(request_op::Request::RequestTxn(t)) = &op.request {
                self.compare_to_path(t, at, path);
            }
        }
    }

    fn txn_in(
        &mut self,
        w: &mut WriteTxn,
        req: &TxnRequest,
        path: &mut impl Iterator<Item = bool>,
    ) -> TxnResponse {
        let succeeded = path.next().expect("a path step for every txn on it");
        let ops = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let response = match &op.request {
                Some(request_op::Request::RequestRange(r)) => {
                    let resp = self
                        .range_at(r, w.read_rev())
                        .expect("checked before the txn started");
                    response_op::Response::ResponseRange(resp)
                }
                Some(request_op::Request::RequestPut(r)) => {
                    response_op::Response::ResponsePut(self.put_in(w, r))
                }
                Some(request_op::Request::RequestDeleteRange(r)) => {
                    response_op::Response::ResponseDeleteRange(self.delete_in(w, r))
                }
                Some(request_op::Request::RequestTxn(t)) => {
                    response_op::Response::ResponseTxn(self.txn_in(w, t, path))
                }
                None => continue,
            };
            responses.push(ResponseOp {
                response: Some(response),
            });
        }
        // A nested txn's header is empty in etcd (applyTxn fills in only
        // the outer one's revision).
        TxnResponse {
            header: Some(ResponseHeader::default()),
            succeeded,
            responses,
        }
    }

    /// Calls `check` on every non-txn op of the branches `path` chose;
    /// how many steps of `path` this txn used.
    fn check_ops<'r>(
        &self,
        req: &'r TxnRequest,
        path: &[bool],
        check: &mut impl FnMut(&'r request_op::Request) -> Result<(), MvccError>,
    ) -> Result<usize, MvccError> {
        let ops = if path[0] { &req.success } else { &req.failure };
        let mut used = 1;
        for op in ops {
            match &op.request {
                Some(request_op::Request::RequestTxn(t)) => {
                    used += self.check_ops(t, &path[used..], check)?;
                }
                Some(other) => check(other)?,
                None => {}
            }
        }
        Ok(used)
    }

    /// etcd's checkRequestPut: in a txn the key is looked for before the
    /// lease (a put of its own asks the lessor first, [`Self::check_put`]).
    fn check_put_in_txn(
        &self,
        req: &PutRequest,
        at: i64,
        leases: LeaseExists<'_>,
    ) -> Result<(), MvccError> {
        if (req.ignore_value || req.ignore_lease) && self.get_kv(&req.key, at).is_none() {
            return Err(MvccError::KeyNotFound);
        }
        if req.lease != 0 && !leases(req.lease) {
            return Err(MvccError::LeaseNotFound);
        }
        Ok(())
    }

    fn check_put(
        &self,
        req: &PutRequest,
        at: i64,
        leases: LeaseExists<'_>,
    ) -> Result<(), MvccError> {
        if req.lease != 0 && !leases(req.lease) {
            return Err(MvccError::LeaseNotFound);
        }
        if (req.ignore_value || req.ignore_lease) && self.get_kv(&req.key, at).is_none() {
            return Err(MvccError::KeyNotFound);
        }
        Ok(())
    }

    fn get_kv(&self, key: &[u8], at: i64) -> Option<&KeyValue> {
        let k = self.index.get(key)?.get(at)?;
        Some(self.kv_at(k.modified))
    }

    fn compares_hold(&self, cmps: &[Compare], at: i64) -> bool {
        cmps.iter().all(|c| self.compare_holds(c, at))
    }

    fn compare_holds(&self, c: &Compare, at: i64) -> bool {
        let range = KeyRange::new(&c.key, &c.range_end);
        let revs = self.visible(&range, at);
        if revs.is_empty() {
            if c.target == compare::CompareTarget::Value as i32 {
                return false;
            }
            return compare_kv(c, &KeyValue::default());
        }
        revs.iter().all(|r| compare_kv(c, self.kv_at(*r)))
    }

    fn begin(&self) -> WriteTxn {
        WriteTxn {
            main: self.current_rev + 1,
            changes: 0,
        }
    }

    fn end(&mut self, w: WriteTxn) {
        if w.changes > 0 {
            self.current_rev = w.main;
        }
    }

    fn put_in(&mut self, w: &mut WriteTxn, req: &PutRequest) -> PutResponse {
        // The previous pair is borrowed, and copied only when the answer
        // carries it: a put's value is copied once, into the new revision.
        let prev = self.get_kv(&req.key, w.read_rev());
        let value = if req.ignore_value {
            prev.map(|p| p.value.clone()).unwrap_or_default()
        } else {
            req.value.clone()
        };
        let lease = if req.ignore_lease {
            prev.map_or(0, |p| p.lease)
        } else {
            req.lease
        };
        let wrong_prev = crate::bugs::active(crate::bugs::Bug::WrongPrevKv) && prev.is_some();
        let prev = if req.prev_kv && !wrong_prev {
            prev.cloned()
        } else {
            None
        };
        let rev = w.next();
        let (create, version) = match self.index.get(&req.key).and_then(|ki| ki.get(rev.main)) {
            Some(k) => (k.created.main, k.version + 1),
            None => (rev.main, 1),
        };
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision: create,
            mod_revision: rev.main,
            version,
            value,
            lease,
        };
        match self.index.get_mut(&req.key) {
            Some(ki) => ki.put(rev),
            None => self.index.entry(req.key.clone()).or_default().put(rev),
        }
        let prev = if wrong_prev && req.prev_kv {
            Some(kv.clone())
        } else {
            prev
        };
        self.store(rev, false, kv);
        PutResponse {
            header: Some(header(rev.main)),
            prev_kv: prev,
        }
    }

    fn delete_in(&mut self, w: &mut WriteTxn, req: &DeleteRangeRequest) -> DeleteRangeResponse {
        let inclusive_end;
        let end = if crate::bugs::active(crate::bugs::Bug::DeleteRangeOffByOne)
            && !req.range_end.is_empty()
            && req.range_end != [0]
        {
            inclusive_end = [req.range_end.as_slice(), &[0]].concat();
            &inclusive_end
        } else {
            &req.range_end
        };
        let range = KeyRange::new(&req.key, end);
        let revs = self.visible(&range, w.read_rev());
        let prev: Vec<KeyValue> = revs.iter().map(|r| self.kv_at(*r).clone()).collect();
        for kv in &prev {
            let rev = w.next();
            self.index
                .get_mut(&kv.key)
                .expect("visible key is indexed")
                .tombstone(rev);
            let tomb = KeyValue {
                key: kv.key.clone(),
                ..Default::default()
            };
            self.store(rev, true, tomb);
        }
        DeleteRangeResponse {
            header: Some(header(w.read_rev())),
            deleted: prev.len() as i64,
            prev_kvs: if req.prev_kv { prev } else { Vec::new() },
        }
    }

    fn store(&mut self, rev: Revision, tombstone: bool, kv: KeyValue) {
        self.ops.push(BackendOp::PutRev {
            rev,
            tombstone,
            kv: kv.clone(),
        });
        self.changes.push(event(rev.main, &kv, tombstone));
        self.revs.insert(rev, Stored { kv, tombstone });
    }

    /// Compacts history up to main revision `rev` (physically: reads below it
    /// fail afterwards and their data is gone).
    pub fn compact(&mut self, rev: i64) -> Result<ResponseHeader, MvccError> {
        if rev <= self.compact_rev {
            return Err(MvccError::Compacted);
        }
        if rev > self.current_rev {
            return Err(MvccError::FutureRev);
        }
        let mut dropped = Vec::new();
        self.index.retain(|_, ki| {
            ki.compact(rev, &mut dropped);
            !ki.is_empty()
        });
        for r in dropped {
            let s = self.revs.remove(&r).expect("dropped revision was stored");
            self.ops.push(BackendOp::DeleteRev {
                rev: r,
                tombstone: s.tombstone,
            });
        }
        self.compact_rev = rev;
        self.ops.push(BackendOp::SetCompacted(rev));
        Ok(header(self.current_rev))
    }

    /// etcd's `HashByRev`: CRC-32C over the bucket name `key`, then every
    /// retained revision up to `rev` as the backend stores it (revision
    /// bytes, then the encoded `KeyValue`), so the hash equals etcd 3.4's for
    /// the same history.
    ///
    /// Below the compaction point etcd hashes only what `kvindex.Keep(rev)`
    /// keeps: each key's latest revision at `rev` unless it is a tombstone
    /// (and everything when nothing is kept, as etcd's `len(keep) > 0` does).
    pub fn hash_kv(&self, rev: i64) -> u32 {
        let upto = ..=Revision::new(rev, i64::MAX);
        let mut latest: std::collections::HashMap<&[u8], (Revision, bool)> = Default::default();
        for (r, s) in self.revs.range(upto) {
            latest.insert(&s.kv.key, (*r, s.tombstone));
        }
        let keep: std::collections::HashSet<Revision> = latest
            .values()
            .filter(|(_, tombstone)| !tombstone)
            .map(|(r, _)| *r)
            .collect();
        let lower = self.compact_rev + 1;
        let mut h = Crc32c::default();
        h.update(b"key");
        for (r, s) in self.revs.range(upto) {
            if r.main < lower && !keep.is_empty() && !keep.contains(r) {
                continue;
            }
            h.update(&r.to_bytes(s.tombstone));
            h.update(&s.kv.encode_to_vec());
        }
        h.finalize()
    }
}

fn header(revision: i64) -> ResponseHeader {
    ResponseHeader {
        revision,
        ..Default::default()
    }
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    use compare::{CompareResult, CompareTarget, TargetUnion};
    let ord = match (CompareTarget::try_from(c.target), &c.target_union) {
        (Ok(CompareTarget::Value), Some(TargetUnion::Value(v))) => kv.value.as_slice().cmp(v),
        (Ok(CompareTarget::Value), _) => kv.value.as_slice().cmp(&[]),
        (Ok(CompareTarget::Version), u) => kv.version.cmp(&int_target(u)),
        (Ok(CompareTarget::Create), u) => kv.create_revision.cmp(&int_target(u)),
        (Ok(CompareTarget::Mod), u) => kv.mod_revision.cmp(&int_target(u)),
        (Ok(CompareTarget::Lease), u) => kv.lease.cmp(&int_target(u)),
        (Err(_), _) => return false,
    };
    let ord = if crate::bugs::active(crate::bugs::Bug::InvertedCompare) {
        ord.reverse()
    } else {
        ord
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ord.is_eq(),
        Ok(CompareResult::NotEqual) => ord.is_ne(),
        Ok(CompareResult::Greater) => ord.is_gt(),
        Ok(CompareResult::Less) => ord.is_lt(),
        Err(_) => false,
    }
}

fn int_target(u: &Option<compare::TargetUnion>) -> i64 {
    use compare::TargetUnion;
    match u {
        Some(TargetUnion::Version(v))
        | Some(TargetUnion::CreateRevision(v))
        | Some(TargetUnion::ModRevision(v))
        | Some(TargetUnion::Lease(v)) => *v,
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
