//! Model test: `KvStore` against a deliberately naive reference model that
//! keeps a full copy of the key space at every revision. Random sequences of
//! puts, deletes, txns, compactions and historical ranges must produce the
//! same answers, and a store rebuilt from its backend ops must answer the
//! same as the live one.

use std::collections::BTreeMap;

use oxcd::mvcc::{KvStore, MvccError};
use oxcd::pb::etcdserverpb::{
    compare, request_op, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use oxcd::pb::mvccpb::KeyValue;
use oxcd::storage::backend::{Backend, MemBackend};
use proptest::prelude::*;

type Snapshot = BTreeMap<Vec<u8>, KeyValue>;

/// The reference: `snaps[r]` is the whole key space at revision `r`.
struct Model {
    snaps: Vec<Snapshot>,
    compacted: i64,
}

impl Model {
    fn new() -> Self {
        Model {
            snaps: vec![Snapshot::new(), Snapshot::new()],
            compacted: -1,
        }
    }
    fn rev(&self) -> i64 {
        self.snaps.len() as i64 - 1
    }
    fn put(&mut self, key: &[u8], value: &[u8]) {
        let r = self.rev() + 1;
        let mut s = self.snaps.last().unwrap().clone();
        let (create, version) = match s.get(key) {
            Some(kv) => (kv.create_revision, kv.version + 1),
            None => (r, 1),
        };
        s.insert(
            key.to_vec(),
            KeyValue {
                key: key.to_vec(),
                create_revision: create,
                mod_revision: r,
                version,
                value: value.to_vec(),
                lease: 0,
            },
        );
        self.snaps.push(s);
    }
    fn delete(&mut self, key: &[u8], end: &[u8]) -> i64 {
        let mut s = self.snaps.last().unwrap().clone();
        let before = s.len();
        s.retain(|k, _| !in_range(k, key, end));
        let n = (before - s.len()) as i64;
        if n > 0 {
            self.snaps.push(s);
        }
        n
    }
    fn range(&self, key: &[u8], end: &[u8], rev: i64) -> Result<Vec<KeyValue>, MvccError> {
        let at = if rev <= 0 { self.rev() } else { rev };
        if at > self.rev() {
            return Err(MvccError::FutureRev);
        }
        if at < self.compacted {
            return Err(MvccError::Compacted);
        }
        Ok(self.snaps[at as usize]
            .values()
            .filter(|kv| in_range(&kv.key, key, end))
            .cloned()
            .collect())
    }
}

fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        e => k >= key && k < e,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8, Option<u8>),
    /// If value(key) == v then put(key2, v2) else delete(key2).
    Txn(u8, u8, u8, u8),
    Range(u8, Option<u8>, i64),
    Compact(i64),
}

fn key(k: u8) -> Vec<u8> {
    vec![b'a' + k % 5]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v % 4)),
        2 => (any::<u8>(), proptest::option::of(any::<u8>())).prop_map(|(k, e)| Op::Delete(k, e)),
        2 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(k, v, k2, v2)| Op::Txn(k, v % 4, k2, v2 % 4)),
        3 => (any::<u8>(), proptest::option::of(any::<u8>()), -2i64..40)
            .prop_map(|(k, e, r)| Op::Range(k, e, r)),
        1 => (0i64..40).prop_map(Op::Compact),
    ]
}

fn end_of(e: Option<u8>) -> Vec<u8> {
    match e {
        None => vec![],
        Some(x) if x % 4 == 0 => vec![0],
        Some(x) => key(x),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut s = KvStore::new();
        let mut m = Model::new();
        let backend = MemBackend::new();
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Put(k, v) => {
                    let r = s.put(&PutRequest { key: key(k), value: vec![v], prev_kv: true, ..Default::default() }).unwrap();
                    let prev = m.range(&key(k), &[], 0).unwrap().pop();
                    m.put(&key(k), &[v]);
                    prop_assert_eq!(r.prev_kv, prev);
                    prop_assert_eq!(r.header.unwrap().revision, m.rev());
                }
                Op::Delete(k, e) => {
                    let r = s.delete_range(&DeleteRangeRequest { key: key(k), range_end: end_of(e), ..Default::default() });
                    prop_assert_eq!(r.deleted, m.delete(&key(k), &end_of(e)));
                    prop_assert_eq!(r.header.unwrap().revision, m.rev());
                }
                Op::Txn(k, v, k2, v2) => {
                    let cmp = Compare {
                        result: compare::CompareResult::Equal as i32,
                        target: compare::CompareTarget::Value as i32,
                        key: key(k),
                        target_union: Some(compare::TargetUnion::Value(vec![v])),
                        range_end: vec![],
                    };
                    let put = RequestOp { request: Some(request_op::Request::RequestPut(PutRequest { key: key(k2), value: vec![v2], ..Default::default() })) };
                    let del = RequestOp { request: Some(request_op::Request::RequestDeleteRange(DeleteRangeRequest { key: key(k2), ..Default::default() })) };
                    let r = s.txn(&TxnRequest { compare: vec![cmp], success: vec![put], failure: vec![del] }).unwrap();
                    let holds = m.range(&key(k), &[], 0).unwrap().first().is_some_and(|kv| kv.value == [v]);
                    prop_assert_eq!(r.succeeded, holds);
                    if holds { m.put(&key(k2), &[v2]); } else { m.delete(&key(k2), &[]); }
                    prop_assert_eq!(r.header.unwrap().revision, m.rev());
                }
                Op::Range(k, e, rev) => {
                    let got = s.range(&RangeRequest { key: key(k), range_end: end_of(e), revision: rev, ..Default::default() });
                    let want = m.range(&key(k), &end_of(e), rev);
                    match (got, want) {
                        (Ok(g), Ok(w)) => {
                            prop_assert_eq!(g.count, w.len() as i64);
                            prop_assert_eq!(g.kvs, w);
                        }
                        (Err(g), Err(w)) => prop_assert_eq!(g, w),
                        (g, w) => prop_assert!(false, "store {:?} vs model {:?}", g, w),
                    }
                }
                Op::Compact(rev) => {
                    let want = if rev <= m.compacted { Err(MvccError::Compacted) } else if rev > m.rev() { Err(MvccError::FutureRev) } else { m.compacted = rev; Ok(()) };
                    prop_assert_eq!(s.compact(rev).map(|_| ()), want);
                }
            }
            backend.commit(&s.take_ops(), i as u64 + 1).unwrap();
        }
        // A store rebuilt from the backend answers like the live one.
        let loaded = backend.load().unwrap();
        let restored = KvStore::restore(loaded.revs, loaded.compact_rev);
        prop_assert_eq!(restored.rev(), s.rev());
        prop_assert_eq!(restored.hash_kv(s.rev()), s.hash_kv(s.rev()));
        for rev in m.compacted.max(1)..=m.rev() {
            let all = RangeRequest { key: vec![0], range_end: vec![0], revision: rev, ..Default::default() };
            prop_assert_eq!(restored.range(&all).unwrap().kvs, m.range(&[0], &[0], rev).unwrap());
        }
    }
}
