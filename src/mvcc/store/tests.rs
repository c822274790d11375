//! Txn semantics from etcd 3.4's `etcdserver/apply.go` that the differential
//! test (through etcdctl) cannot reach: nested txns and the order of checks.

use super::*;
use crate::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::pb::etcdserverpb::RequestOp;

fn put(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })),
    }
}

fn version_is(key: &str, version: i64) -> Compare {
    Compare {
        key: key.into(),
        target: CompareTarget::Version as i32,
        result: CompareResult::Equal as i32,
        target_union: Some(TargetUnion::Version(version)),
        ..Default::default()
    }
}

fn nested(t: TxnRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestTxn(t)),
    }
}

fn get(store: &KvStore, key: &str) -> Option<Vec<u8>> {
    let r = store
        .range(&RangeRequest {
            key: key.into(),
            ..Default::default()
        })
        .unwrap();
    r.kvs.first().map(|kv| kv.value.clone())
}

#[test]
fn nested_compares_read_the_store_as_the_txn_began() {
    // etcd's compareToPath evaluates every compare on the path before any
    // op runs: the nested txn sees k0 absent although the outer branch has
    // just put it.
    let mut store = KvStore::new();
    let inner = TxnRequest {
        compare: vec![version_is("k0", 0)],
        success: vec![put("k1", "inner-success")],
        failure: vec![put("k1", "inner-failure")],
    };
    let resp = store
        .txn(&TxnRequest {
            compare: vec![],
            success: vec![put("k0", "v"), nested(inner)],
            failure: vec![],
        })
        .unwrap();
    assert!(resp.succeeded);
    let Some(response_op::Response::ResponseTxn(t)) = &resp.responses[1].response else {
        panic!("a nested txn response");
    };
    assert!(t.succeeded, "the nested compare saw the outer put");
    assert_eq!(get(&store, "k1").as_deref(), Some(&b"inner-success"[..]));
    assert_eq!(resp.header.unwrap().revision, 2);
}

#[test]
fn a_txn_checks_its_puts_before_its_ranges_and_the_key_before_the_lease() {
    let mut store = KvStore::new();
    let future_range = RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: "k0".into(),
            revision: 100,
            ..Default::default()
        })),
    };
    let ignore_value_with_lease = PutRequest {
        key: "missing".into(),
        ignore_value: true,
        lease: 7,
        ..Default::default()
    };
    let err = store
        .txn(&TxnRequest {
            compare: vec![],
            success: vec![
                future_range,
                RequestOp {
                    request: Some(request_op::Request::RequestPut(
                        ignore_value_with_lease.clone(),
                    )),
                },
            ],
            failure: vec![],
        })
        .unwrap_err();
    assert_eq!(err, MvccError::KeyNotFound);
    // A put of its own asks for the lease first.
    assert_eq!(
        store.put(&ignore_value_with_lease).unwrap_err(),
        MvccError::LeaseNotFound
    );
    assert_eq!(store.rev(), 1, "nothing was written");
}

/// Found by the `kv_apply` fuzz target: etcd 3.4 checks an `ignore_lease`
/// put against the store as the txn began, then panics applying it after
/// the txn's own delete removed the key. oxcd answers "key not found" for
/// the whole txn and writes nothing.
#[test]
fn a_txn_put_keeping_the_lease_of_a_key_it_deleted_fails_whole() {
    let mut store = KvStore::new();
    store
        .put(&PutRequest {
            key: "d".into(),
            value: "yy".into(),
            ..Default::default()
        })
        .unwrap();
    let op = |r| RequestOp { request: Some(r) };
    let txn = |then: Vec<RequestOp>| TxnRequest {
        compare: vec![],
        success: then,
        failure: vec![],
    };
    let delete_from_c = op(request_op::Request::RequestDeleteRange(
        DeleteRangeRequest {
            key: "c".into(),
            range_end: vec![0],
            ..Default::default()
        },
    ));
    let keep_lease = op(request_op::Request::RequestPut(PutRequest {
        key: "d".into(),
        value: "x".into(),
        ignore_lease: true,
        ..Default::default()
    }));
    let plain_put = op(request_op::Request::RequestPut(PutRequest {
        key: "d".into(),
        value: "z".into(),
        ..Default::default()
    }));
    let err = store
        .txn(&txn(vec![delete_from_c.clone(), keep_lease.clone()]))
        .unwrap_err();
    assert_eq!(err, MvccError::KeyNotFound);
    assert_eq!(store.rev(), 2, "nothing was written");
    assert_eq!(get(&store, "d").as_deref(), Some(&b"yy"[..]));
    // Put again in a nested txn after the delete: the key exists again.
    let nested = op(request_op::Request::RequestTxn(txn(vec![keep_lease])));
    let resp = store
        .txn(&txn(vec![delete_from_c, plain_put, nested]))
        .unwrap();
    assert!(resp.succeeded);
    assert_eq!(get(&store, "d").as_deref(), Some(&b"x"[..]));
}
