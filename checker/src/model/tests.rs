use super::*;

fn put(m: &mut KvModel, k: &str, v: &str) -> PutResponse {
    let r = PutRequest {
        key: k.into(),
        value: v.into(),
        prev_kv: true,
        ..Default::default()
    };
    match m.apply(&Request::Put(r)).unwrap() {
        Response::Put(p) => p,
        other => panic!("{other:?}"),
    }
}

fn range(m: &mut KvModel, r: RangeRequest) -> Result<RangeResponse, KvError> {
    m.apply(&Request::Range(r)).map(|r| match r {
        Response::Range(r) => r,
        other => panic!("{other:?}"),
    })
}

fn all() -> RangeRequest {
    RangeRequest {
        key: vec![0],
        range_end: vec![0],
        ..Default::default()
    }
}

#[test]
fn revisions_versions_and_prev_kv() {
    let mut m = KvModel::default();
    assert_eq!(m.rev(), 1);
    let a = put(&mut m, "a", "1");
    assert_eq!((rev(&a.header), a.prev_kv), (2, None));
    let a = put(&mut m, "a", "2");
    let prev = a.prev_kv.unwrap();
    assert_eq!(
        (prev.value, prev.version, prev.mod_revision),
        (b"1".to_vec(), 1, 2)
    );
    // Deleting nothing creates no revision.
    let d = DeleteRangeRequest {
        key: b"zz".to_vec(),
        ..Default::default()
    };
    let Response::DeleteRange(d) = m.apply(&Request::DeleteRange(d)).unwrap() else {
        panic!()
    };
    assert_eq!((d.deleted, rev(&d.header), m.rev()), (0, 3, 3));
    // A key deleted and put again starts a new life.
    let d = DeleteRangeRequest {
        key: b"a".to_vec(),
        prev_kv: true,
        ..Default::default()
    };
    m.apply(&Request::DeleteRange(d)).unwrap();
    put(&mut m, "a", "3");
    let kv = &range(&mut m, all()).unwrap().kvs[0];
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
}

fn rev(h: &Option<ResponseHeader>) -> i64 {
    h.as_ref().unwrap().revision
}

#[test]
fn ranges_filter_sort_and_limit_as_etcd() {
    let mut m = KvModel::default();
    for (k, v) in [("a", "3"), ("b", "1"), ("c", "2"), ("b", "9")] {
        put(&mut m, k, v);
    }
    let r = range(
        &mut m,
        RangeRequest {
            sort_target: range_request::SortTarget::Value as i32,
            limit: 2,
            ..all()
        },
    )
    .unwrap();
    // Sorting on a value ascends by default; count ignores the limit.
    let keys: Vec<&[u8]> = r.kvs.iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!((keys, r.more, r.count), (vec![&b"c"[..], b"a"], true, 3));
    let r = range(
        &mut m,
        RangeRequest {
            min_mod_revision: 4,
            count_only: true,
            limit: 1,
            ..all()
        },
    )
    .unwrap();
    assert_eq!((r.count, r.kvs.len(), r.more), (3, 0, false));
    let past = range(
        &mut m,
        RangeRequest {
            revision: 3,
            ..all()
        },
    )
    .unwrap();
    assert_eq!((past.count, rev(&past.header)), (2, 5));
    assert_eq!(
        range(
            &mut m,
            RangeRequest {
                revision: 9,
                ..all()
            }
        ),
        Err(KvError::FutureRev)
    );
}

#[test]
fn compaction_bounds_past_reads() {
    let mut m = KvModel::default();
    put(&mut m, "a", "1");
    put(&mut m, "a", "2");
    let c = |rev| {
        Request::Compact(CompactionRequest {
            revision: rev,
            ..Default::default()
        })
    };
    assert_eq!(m.apply(&c(5)), Err(KvError::FutureRev));
    assert_eq!(m.apply(&c(2)), Ok(Response::Compact(3)));
    assert_eq!(m.apply(&c(2)), Err(KvError::Compacted));
    let at = |rev| RangeRequest {
        revision: rev,
        ..all()
    };
    assert_eq!(range(&mut m, at(1)), Err(KvError::Compacted));
    assert_eq!(range(&mut m, at(2)).unwrap().kvs[0].value, b"1");
}

#[test]
fn txns_compare_every_key_and_see_their_own_writes() {
    let mut m = KvModel::default();
    put(&mut m, "a", "1");
    put(&mut m, "b", "2");
    let cmp = |target: compare::CompareTarget, result: compare::CompareResult, u| Compare {
        key: b"a".to_vec(),
        range_end: b"c".to_vec(),
        target: target as i32,
        result: result as i32,
        target_union: Some(u),
    };
    // Every key in [a, c) has version 1; no key has a value, so a value
    // compare on an empty range fails.
    let v1 = cmp(
        compare::CompareTarget::Version,
        compare::CompareResult::Equal,
        compare::TargetUnion::Version(1),
    );
    assert!(compare_holds(&v1, m.space()));
    let gt = cmp(
        compare::CompareTarget::Create,
        compare::CompareResult::Greater,
        compare::TargetUnion::CreateRevision(2),
    );
    assert!(!compare_holds(&gt, m.space()));
    let mut none = cmp(
        compare::CompareTarget::Value,
        compare::CompareResult::NotEqual,
        compare::TargetUnion::Value(b"x".to_vec()),
    );
    none.key = b"x".to_vec();
    none.range_end = vec![];
    assert!(!compare_holds(&none, m.space()));
    let put_z = RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: b"z".to_vec(),
            value: b"new".to_vec(),
            ..Default::default()
        })),
    };
    let read_z = RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: b"z".to_vec(),
            ..Default::default()
        })),
    };
    let t = TxnRequest {
        compare: vec![v1],
        success: vec![put_z, read_z],
        failure: vec![],
    };
    let Response::Txn(t) = m.apply(&Request::Txn(t)).unwrap() else {
        panic!()
    };
    assert!(t.succeeded);
    assert_eq!(rev(&t.header), 4);
    let Some(response_op::Response::ResponseRange(r)) = &t.responses[1].response else {
        panic!()
    };
    assert_eq!(r.kvs[0].mod_revision, 4);
}

fn txn_put(k: &str, v: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: k.into(),
            value: v.into(),
            ..Default::default()
        })),
    }
}

#[test]
fn nested_compares_read_the_store_as_the_txn_began() {
    // etcd's compareToPath: the nested txn sees "a" absent although the
    // outer branch has just put it (the gRPC differential test shows etcd
    // 3.4 answers so).
    let mut m = KvModel::default();
    let absent = Compare {
        key: b"a".to_vec(),
        target: compare::CompareTarget::Version as i32,
        result: compare::CompareResult::Equal as i32,
        target_union: Some(compare::TargetUnion::Version(0)),
        ..Default::default()
    };
    let inner = TxnRequest {
        compare: vec![absent],
        success: vec![txn_put("b", "inner-success")],
        failure: vec![txn_put("b", "inner-failure")],
    };
    let t = TxnRequest {
        compare: vec![],
        success: vec![
            txn_put("a", "outer"),
            RequestOp {
                request: Some(request_op::Request::RequestTxn(inner)),
            },
        ],
        failure: vec![],
    };
    m.apply(&Request::Txn(t)).unwrap();
    let b = range(
        &mut m,
        RangeRequest {
            key: b"b".to_vec(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(b.kvs[0].value, b"inner-success");
}

#[test]
fn a_txn_checks_puts_then_ranges_and_a_put_its_lease_first() {
    let mut m = KvModel::default();
    put(&mut m, "a", "1");
    let future_range = RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: b"a".to_vec(),
            revision: 50,
            ..Default::default()
        })),
    };
    let blind = PutRequest {
        key: b"missing".to_vec(),
        ignore_value: true,
        lease: 7,
        ..Default::default()
    };
    let t = TxnRequest {
        compare: vec![],
        success: vec![
            future_range.clone(),
            RequestOp {
                request: Some(request_op::Request::RequestPut(blind.clone())),
            },
        ],
        failure: vec![],
    };
    assert_eq!(m.apply(&Request::Txn(t)), Err(KvError::KeyNotFound));
    assert_eq!(m.apply(&Request::Put(blind)), Err(KvError::LeaseNotFound));
    let t = TxnRequest {
        compare: vec![],
        success: vec![future_range],
        failure: vec![],
    };
    assert_eq!(m.apply(&Request::Txn(t)), Err(KvError::FutureRev));
    assert_eq!(m.rev(), 2, "failed txns write nothing");
}

#[test]
fn a_txn_range_reads_a_past_revision() {
    let mut m = KvModel::default();
    put(&mut m, "a", "1");
    put(&mut m, "a", "2");
    let t = TxnRequest {
        compare: vec![],
        success: vec![
            txn_put("a", "3"),
            RequestOp {
                request: Some(request_op::Request::RequestRange(RangeRequest {
                    key: b"a".to_vec(),
                    revision: 2,
                    ..Default::default()
                })),
            },
        ],
        failure: vec![],
    };
    let Response::Txn(t) = m.apply(&Request::Txn(t)).unwrap() else {
        panic!("a txn answer")
    };
    let Some(response_op::Response::ResponseRange(r)) = &t.responses[1].response else {
        panic!("a range answer")
    };
    assert_eq!(r.kvs[0].value, b"1");
}

#[test]
fn a_descending_sort_keeps_ties_in_key_order() {
    // Go's insertion sort on the reversed comparison: stable.
    let mut m = KvModel::default();
    for k in ["a", "b", "c"] {
        put(&mut m, k, "same");
    }
    put(&mut m, "b", "again");
    let r = range(
        &mut m,
        RangeRequest {
            sort_target: range_request::SortTarget::Version as i32,
            sort_order: range_request::SortOrder::Descend as i32,
            ..all()
        },
    )
    .unwrap();
    let keys: Vec<&[u8]> = r.kvs.iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!(keys, vec![&b"b"[..], b"a", b"c"]);
}
