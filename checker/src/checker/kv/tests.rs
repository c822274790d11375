use oxcd::pb::etcdserverpb::{
    CompactionRequest, DeleteRangeRequest, DeleteRangeResponse, PutRequest, RangeRequest,
    ResponseHeader,
};
use oxcd::pb::mvccpb::KeyValue;

use super::*;

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

fn put_req(k: &str, v: &str) -> Request {
    Request::Put(PutRequest {
        key: k.into(),
        value: v.into(),
        ..Default::default()
    })
}

fn put(client: usize, call: u64, ret: u64, k: &str, v: &str, rev: i64) -> KvOp {
    KvOp {
        client,
        call,
        ret: Some(ret),
        req: put_req(k, v),
        out: Some(Ok(Response::Put(PutResponse {
            header: header(rev),
            prev_kv: None,
        }))),
    }
}

fn lost_put(client: usize, call: u64, k: &str, v: &str) -> KvOp {
    KvOp {
        client,
        call,
        ret: None,
        req: put_req(k, v),
        out: None,
    }
}

fn kv(k: &str, v: &str, create: i64, m: i64, version: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
        create_revision: create,
        mod_revision: m,
        version,
        lease: 0,
    }
}

fn get(client: usize, call: u64, ret: u64, k: &str, rev: i64, kvs: Vec<KeyValue>) -> KvOp {
    KvOp {
        client,
        call,
        ret: Some(ret),
        req: Request::Range(RangeRequest {
            key: k.into(),
            ..Default::default()
        }),
        out: Some(Ok(Response::Range(RangeResponse {
            header: header(rev),
            count: kvs.len() as i64,
            kvs,
            more: false,
        }))),
    }
}

const BUDGET: u64 = 10_000;

#[test]
fn a_sequential_history_is_linearizable() {
    let h = vec![
        put(0, 1, 2, "a", "1", 2),
        get(1, 3, 4, "a", 2, vec![kv("a", "1", 2, 2, 1)]),
        put(1, 5, 6, "a", "2", 3),
        get(0, 7, 8, "a", 3, vec![kv("a", "2", 2, 3, 2)]),
    ];
    assert_eq!(check(&h, BUDGET).unwrap().revisions, 3);
}

#[test]
fn a_lost_write_fills_the_revision_it_took() {
    let h = vec![
        lost_put(0, 1, "a", "lost"),
        put(1, 2, 3, "b", "1", 3),
        get(1, 4, 5, "a", 3, vec![kv("a", "lost", 2, 2, 1)]),
    ];
    assert_eq!(check(&h, BUDGET).unwrap().filled, 1);
    // A lost write may also never have happened.
    let h = vec![
        lost_put(0, 1, "a", "lost"),
        put(1, 2, 3, "b", "1", 2),
        get(1, 4, 5, "a", 2, vec![]),
    ];
    check(&h, BUDGET).unwrap();
}

#[test]
fn a_stale_read_breaks_real_time() {
    let h = vec![
        put(0, 1, 2, "a", "1", 2),
        put(0, 3, 4, "a", "2", 3),
        // Called after the second put returned, it reads the first.
        get(1, 5, 6, "a", 2, vec![kv("a", "1", 2, 2, 1)]),
    ];
    let v = check(&h, BUDGET).unwrap_err();
    assert!(v.why.contains("answered at revision 2"), "{v:?}");
    assert_eq!(v.ops, vec![1, 2]);
}

#[test]
fn a_wrong_value_or_version_is_caught_by_the_model() {
    let h = vec![
        put(0, 1, 2, "a", "1", 2),
        get(1, 3, 4, "a", 2, vec![kv("a", "1", 2, 2, 2)]),
    ];
    let v = check(&h, BUDGET).unwrap_err();
    assert!(v.why.contains("but the model"), "{v:?}");
}

#[test]
fn two_writers_of_one_revision_are_impossible() {
    let h = vec![put(0, 1, 2, "a", "1", 2), put(1, 1, 2, "b", "1", 2)];
    assert!(check(&h, BUDGET)
        .unwrap_err()
        .why
        .contains("two writes claim"));
}

#[test]
fn a_revision_nobody_wrote_is_a_lost_acknowledged_write() {
    // Revision 2 is skipped: nothing in flight could have written it.
    let h = vec![put(0, 1, 2, "a", "1", 3)];
    let v = check(&h, BUDGET).unwrap_err();
    assert!(
        v.why.contains("revision 2 was written, but by no request"),
        "{v:?}"
    );
}

#[test]
fn a_delete_of_nothing_reads_at_the_current_revision() {
    let del = |call, ret, rev, deleted| KvOp {
        client: 0,
        call,
        ret: Some(ret),
        req: Request::DeleteRange(DeleteRangeRequest {
            key: b"a".to_vec(),
            ..Default::default()
        }),
        out: Some(Ok(Response::DeleteRange(DeleteRangeResponse {
            header: header(rev),
            deleted,
            prev_kvs: vec![],
        }))),
    };
    let h = vec![put(0, 1, 2, "a", "1", 2), del(3, 4, 3, 1), del(5, 6, 3, 0)];
    check(&h, BUDGET).unwrap();
    // Claiming a deletion that wrote nothing is caught.
    let h = vec![del(1, 2, 2, 1)];
    assert!(check(&h, BUDGET).is_err());
}

#[test]
fn errors_must_be_possible_while_the_request_ran() {
    let compact = |call, ret, rev, out| KvOp {
        client: 0,
        call,
        ret: Some(ret),
        req: Request::Compact(CompactionRequest {
            revision: rev,
            ..Default::default()
        }),
        out: Some(out),
    };
    let old_read = |call, ret, out| KvOp {
        client: 1,
        call,
        ret: Some(ret),
        req: Request::Range(RangeRequest {
            key: b"a".to_vec(),
            revision: 2,
            ..Default::default()
        }),
        out: Some(out),
    };
    let base = vec![put(0, 1, 2, "a", "1", 2), put(0, 3, 4, "a", "2", 3)];
    // Compacted after a compaction to 3 was issued: fine.
    let mut h = base.clone();
    h.push(compact(5, 6, 3, Ok(Response::Compact(3))));
    h.push(old_read(7, 8, Err(KvError::Compacted)));
    check(&h, BUDGET).unwrap();
    // Compacted with no compaction anywhere: impossible.
    let mut h = base.clone();
    h.push(old_read(7, 8, Err(KvError::Compacted)));
    assert!(check(&h, BUDGET).unwrap_err().why.contains("Compacted"));
    // A future revision while revision 3 was already visible: impossible.
    let mut h = base;
    h.push(KvOp {
        client: 1,
        call: 7,
        ret: Some(8),
        req: Request::Range(RangeRequest {
            key: b"a".to_vec(),
            revision: 3,
            ..Default::default()
        }),
        out: Some(Err(KvError::FutureRev)),
    });
    assert!(check(&h, BUDGET).is_err());
}

#[test]
fn a_read_may_not_see_a_write_that_started_after_it_returned() {
    let h = vec![
        get(1, 1, 2, "a", 2, vec![kv("a", "1", 2, 2, 1)]),
        put(0, 3, 4, "a", "1", 2),
    ];
    assert!(check(&h, BUDGET).is_err());
}

fn compact(client: usize, call: u64, ret: Option<u64>, rev: i64, out: Option<Response>) -> KvOp {
    KvOp {
        client,
        call,
        ret,
        req: Request::Compact(CompactionRequest {
            revision: rev,
            ..Default::default()
        }),
        out: out.map(Ok),
    }
}

fn read_at(client: usize, call: u64, ret: u64, at: i64, out: Result<Response, KvError>) -> KvOp {
    KvOp {
        client,
        call,
        ret: Some(ret),
        req: Request::Range(RangeRequest {
            key: b"a".to_vec(),
            revision: at,
            ..Default::default()
        }),
        out: Some(out),
    }
}

fn four_puts() -> Vec<KvOp> {
    (0..4)
        .map(|i| put(0, 2 * i + 1, 2 * i + 2, "a", &format!("v{i}"), i as i64 + 2))
        .collect()
}

#[test]
fn a_lost_compaction_cannot_both_have_happened_and_not() {
    // Compaction to 4, answer lost: a read at 2 failing as compacted says it
    // happened, a later read at 3 succeeding says it did not.
    let mut h = four_puts();
    h.push(compact(1, 10, None, 4, None));
    h.push(read_at(2, 20, 21, 2, Err(KvError::Compacted)));
    let ok_at_3 = Response::Range(RangeResponse {
        header: header(5),
        kvs: vec![kv("a", "v1", 2, 3, 2)],
        count: 1,
        more: false,
    });
    h.push(read_at(2, 30, 31, 3, Ok(ok_at_3.clone())));
    let v = check(&h, BUDGET).unwrap_err();
    assert!(v.why.contains("compacted to at least 4"), "{v:?}");
    // Read the other way round, both are fine.
    let mut h = four_puts();
    h.push(compact(1, 10, None, 4, None));
    h.push(read_at(2, 20, 21, 3, Ok(ok_at_3)));
    h.push(read_at(2, 30, 31, 2, Err(KvError::Compacted)));
    check(&h, BUDGET).unwrap();
}

#[test]
fn a_compaction_applied_after_a_read_returned_cannot_explain_its_error() {
    // The compaction answered at revision 5, which a put called after the
    // read returned created: it ran after the read.
    let mut h: Vec<KvOp> = four_puts().into_iter().take(3).collect();
    h.push(read_at(2, 7, 8, 2, Err(KvError::Compacted)));
    h.push(put(0, 9, 10, "a", "v3", 5));
    h.push(compact(1, 6, Some(12), 3, Some(Response::Compact(5))));
    let v = check(&h, BUDGET).unwrap_err();
    assert!(v.why.contains("Compacted"), "{v:?}");
}

#[test]
fn no_answer_sits_below_the_first_revision() {
    assert!(check(&[put(0, 1, 2, "a", "1", 1)], BUDGET).is_err());
    assert!(check(&[get(0, 1, 2, "a", 0, vec![])], BUDGET).is_err());
    check(&[get(0, 1, 2, "a", 1, vec![])], BUDGET).unwrap();
}

#[test]
fn ranges_compare_exactly_ties_included() {
    // "a" and "b" both at version 1: sorted on version with limit 1, etcd
    // answers "a" (a stable sort keeps key order); "b" is another answer.
    let base = vec![put(0, 1, 2, "a", "1", 2), put(0, 3, 4, "b", "2", 3)];
    let by_version = |kvs: Vec<KeyValue>| KvOp {
        client: 1,
        call: 5,
        ret: Some(6),
        req: Request::Range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            limit: 1,
            sort_target: range_request::SortTarget::Version as i32,
            keys_only: true,
            ..Default::default()
        }),
        out: Some(Ok(Response::Range(RangeResponse {
            header: header(3),
            kvs,
            count: 2,
            more: true,
        }))),
    };
    let mut h = base.clone();
    h.push(by_version(vec![kv("a", "", 2, 2, 1)]));
    check(&h, BUDGET).unwrap();
    let mut h = base;
    h.push(by_version(vec![kv("b", "", 3, 3, 1)]));
    assert!(check(&h, BUDGET).is_err());
}

#[test]
fn a_lost_delete_after_the_last_answer_explains_a_missing_key() {
    let blind = KvOp {
        client: 2,
        call: 5,
        ret: Some(8),
        req: Request::Put(PutRequest {
            key: b"a".to_vec(),
            ignore_value: true,
            ..Default::default()
        }),
        out: Some(Err(KvError::KeyNotFound)),
    };
    let lost_delete = KvOp {
        client: 1,
        call: 4,
        ret: None,
        req: Request::DeleteRange(DeleteRangeRequest {
            key: b"a".to_vec(),
            ..Default::default()
        }),
        out: None,
    };
    let h = vec![put(0, 1, 2, "a", "1", 2), lost_delete, blind.clone()];
    check(&h, BUDGET).unwrap();
    // Without the delete, "a" was there all along.
    let h = vec![put(0, 1, 2, "a", "1", 2), blind];
    assert!(check(&h, BUDGET).is_err());
}
