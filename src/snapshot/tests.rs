use proptest::prelude::*;

use super::*;
use crate::pb::etcdserverpb::AlarmMember;
use crate::pb::mvccpb::KeyValue;
use crate::pb::{authpb, leasepb};

/// `etcdctl snapshot save` of a real etcd 3.4.23 (five puts, one lease),
/// with its digest.
const ETCD_SNAPSHOT: &[u8] = include_bytes!("testdata/etcd-3.4.23.snapshot");

fn db_of(file: &[u8]) -> &[u8] {
    verify_trailer(file, false).unwrap()
}

#[test]
fn status_is_what_etcdctl_printed_for_the_file() {
    // `etcdctl snapshot status -w json`:
    // {"hash":83826618,"revision":6,"totalKey":10,"totalSize":20480}
    let st = status(ETCD_SNAPSHOT).unwrap();
    assert_eq!(
        st,
        Status {
            hash: 83826618,
            revision: 6,
            total_key: 10,
            total_size: 20480,
        }
    );
}

#[test]
fn etcds_file_maps_to_oxcd_pairs_and_back() {
    let pairs = from_etcd_db(db_of(ETCD_SNAPSHOT)).unwrap();
    let loaded = s::decode_all(pairs.iter().map(|p| (&p.key[..], &p.value[..]))).unwrap();
    assert_eq!(loaded.revs.len(), 5);
    assert_eq!(loaded.revs[4].2.key, b"k5");
    assert_eq!(loaded.leases.len(), 1);
    assert_eq!((loaded.consistent_index, loaded.auth_revision), (9, 1));
    assert_eq!(loaded.cluster_version.as_deref(), Some("3.4.0"));
    let m = &loaded.members[0];
    assert_eq!((m.id, m.name.as_str()), (0xbdae9bbc11dd390d, "e1"));
    assert_eq!(m.peer_ur_ls, ["http://127.0.0.1:23801"]);
    assert_eq!(m.client_ur_ls, ["http://127.0.0.1:23791"]);
    // Back to etcd's buckets: the very same keys and values (the member's
    // JSON too), so the same status hash.
    let again = to_etcd_db(&pairs);
    let orig = bolt::read(db_of(ETCD_SNAPSHOT)).unwrap();
    assert_eq!(bolt::read(&again).unwrap(), orig);
    let st = status(&again).unwrap();
    assert_eq!((st.hash, st.revision, st.total_key), (83826618, 6, 10));
}

#[test]
fn member_json_is_etcds() {
    let m = Member {
        id: 0x2a,
        name: "a<b".into(),
        peer_ur_ls: vec!["http://x:1".into()],
        client_ur_ls: vec![],
        is_learner: true,
    };
    let j = member_json(&m);
    assert_eq!(
        j,
        r#"{"id":42,"peerURLs":["http://x:1"],"isLearner":true,"name":"a\u003cb"}"#
    );
    assert_eq!(member_from_json(j.as_bytes()).unwrap(), m);
    let unstarted = Member {
        id: 7,
        peer_ur_ls: vec!["http://y:2".into()],
        ..Member::default()
    };
    assert_eq!(
        member_json(&unstarted),
        r#"{"id":7,"peerURLs":["http://y:2"]}"#
    );
}

#[test]
fn the_trailer_is_checked_as_etcd_checks_it() {
    let db = db_of(ETCD_SNAPSHOT);
    assert_eq!(
        verify_trailer(db, false).unwrap_err(),
        "snapshot missing hash but --skip-hash-check=false"
    );
    assert_eq!(verify_trailer(db, true).unwrap(), db);
    let mut bad = ETCD_SNAPSHOT.to_vec();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let e = verify_trailer(&bad, false).unwrap_err();
    assert!(e.starts_with("expected sha256 [6 148 118 98 "), "{e}");
    assert_eq!(verify_trailer(&bad, true).unwrap(), db);
    // The streaming check agrees, whatever the chunking.
    for chunk in [1, 31, 32, 33, 4096, 1 << 20] {
        let mut c = TrailerCheck::default();
        ETCD_SNAPSHOT.chunks(chunk).for_each(|b| c.update(b));
        assert_eq!(c.size(), ETCD_SNAPSHOT.len() as u64);
        c.verify().unwrap();
        let mut c = TrailerCheck::default();
        bad.chunks(chunk).for_each(|b| c.update(b));
        assert_eq!(c.verify().unwrap_err(), e);
    }
}

#[test]
fn a_restore_makes_a_new_cluster_of_the_data() {
    let members: Vec<Member> = [3u64, 1, 2]
        .iter()
        .map(|&id| Member {
            id,
            peer_ur_ls: vec![format!("http://127.0.0.1:{id}")],
            ..Member::default()
        })
        .collect();
    let r = restore(db_of(ETCD_SNAPSHOT), &members).unwrap();
    let l = s::decode_all(r.pairs.iter().map(|p| (&p.key[..], &p.value[..]))).unwrap();
    assert_eq!(l.consistent_index, 3);
    assert_eq!(l.storage_version, Some(s::STORAGE_VERSION));
    let mut ids: Vec<u64> = l.members.iter().map(|m| m.id).collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!((l.revs.len(), l.leases.len()), (5, 1));
    assert_eq!(r.entries.len(), 3);
    assert_eq!((r.hard_state.term, r.hard_state.commit), (1, 3));
    assert_eq!(r.conf_state.voters, [1, 2, 3]);
    let cs = raft::eraftpb::ConfState::parse_from_bytes(&l.conf_state.unwrap()).unwrap();
    assert_eq!(cs.voters, [1, 2, 3]);
}

#[test]
fn oxcds_own_bookkeeping_stays_out_of_etcds_file() {
    let ops = [
        BackendOp::SetConfState(vec![1, 2]),
        BackendOp::SetStorageVersion,
        BackendOp::SetV2Store(b"v2".to_vec()),
        BackendOp::SetCompacted(4),
    ];
    let pairs: Vec<Pair> = s::raw_writes(&ops, 9)
        .into_iter()
        .map(|(key, v)| Pair {
            key,
            value: v.unwrap(),
        })
        .collect();
    let b = to_etcd_buckets(&pairs);
    let meta = &b[META];
    assert_eq!(meta.len(), 3, "{meta:?}");
    assert_eq!(meta[CONSISTENT_INDEX], 9u64.to_be_bytes());
    assert_eq!(meta[FINISHED_COMPACT_REV], rev_bytes(4));
    assert_eq!(meta[SCHEDULED_COMPACT_REV], rev_bytes(4));
    assert_eq!(b.values().map(BTreeMap::len).sum::<usize>(), 3);
    assert_eq!(b.len(), BUCKETS.len());
}

/// An oxcd backend's ops, of every kind etcd's layout has a place for.
fn arb_ops() -> impl Strategy<Value = (Vec<BackendOp>, u64)> {
    let bytes = |n| proptest::collection::vec(any::<u8>(), 0..n);
    let name = "[a-z<&\"]{1,8}";
    let revs = proptest::collection::vec((1i64..4, 0i64..3, bytes(20), any::<bool>()), 0..40);
    let leases = proptest::collection::vec((any::<i64>(), 1i64..1000), 0..5);
    let users = proptest::collection::vec((name, bytes(30)), 0..4);
    let members = proptest::collection::vec((any::<u64>(), name, any::<bool>()), 0..4);
    let alarms = proptest::collection::vec((any::<u64>(), 0i32..3), 0..3);
    (
        (revs, leases, users),
        (members, alarms, proptest::option::of(0i64..100)),
        (any::<u64>(), any::<u64>(), any::<bool>()),
    )
        .prop_map(
            |((revs, leases, users), (members, alarms, compact), (ci, auth_rev, on))| {
                let mut ops = Vec::new();
                let mut main = 1;
                for (step, sub, key, tombstone) in revs {
                    main += step;
                    ops.push(BackendOp::PutRev {
                        rev: Revision::new(main, sub),
                        tombstone,
                        kv: KeyValue {
                            key,
                            mod_revision: main,
                            ..Default::default()
                        },
                    });
                }
                for (id, ttl) in leases {
                    ops.push(BackendOp::PutLease(leasepb::Lease {
                        id,
                        ttl,
                        remaining_ttl: 0,
                    }));
                }
                for (n, password) in users {
                    ops.push(BackendOp::PutAuthUser(authpb::User {
                        name: n.clone().into_bytes(),
                        password,
                        ..Default::default()
                    }));
                    ops.push(BackendOp::PutAuthRole(authpb::Role {
                        name: n.into_bytes(),
                        ..Default::default()
                    }));
                }
                for (id, n, removed) in members {
                    ops.push(BackendOp::SetMember(Member {
                        id,
                        name: n,
                        peer_ur_ls: vec![format!("http://h{id}:2380")],
                        client_ur_ls: vec![format!("http://h{id}:2379")],
                        is_learner: id % 2 == 0,
                    }));
                    if removed {
                        ops.push(BackendOp::DeleteMember(id));
                    }
                }
                for (member_id, alarm) in alarms {
                    ops.push(BackendOp::PutAlarm(AlarmMember { member_id, alarm }));
                }
                if let Some(c) = compact {
                    ops.push(BackendOp::SetCompacted(c));
                }
                ops.push(BackendOp::SetAuthEnabled(on));
                ops.push(BackendOp::SetAuthRevision(auth_rev));
                ops.push(BackendOp::SetClusterVersion("3.4.0".into()));
                ops.push(BackendOp::SetStorageVersion);
                ops.push(BackendOp::SetConfState(vec![8, 1]));
                (ops, ci)
            },
        )
}

/// The pairs a backend holds after `ops`.
fn backend_pairs(ops: &[BackendOp], ci: u64) -> Vec<Pair> {
    let mut m = BTreeMap::new();
    for (k, v) in s::raw_writes(ops, ci) {
        match v {
            Some(v) => m.insert(k, v),
            None => m.remove(&k),
        };
    }
    m.into_iter()
        .map(|(key, value)| Pair { key, value })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Everything etcd's layout has a place for comes back as it was.
    #[test]
    fn oxcd_pairs_round_trip_through_etcds_file((ops, ci) in arb_ops()) {
        let pairs = backend_pairs(&ops, ci);
        let file = to_etcd_db(&pairs);
        prop_assert_eq!(bolt::Db::open(&file).unwrap().check(), Vec::<String>::new());
        let back = from_etcd_db(&file).unwrap();
        let kept: Vec<Pair> = pairs
            .into_iter()
            .filter(|p| p.key != b"m/conf_state" && p.key != b"m/storage_version")
            .collect();
        prop_assert_eq!(back, kept);
        // And the status counts every key etcd's file has.
        let st = status(&file).unwrap();
        prop_assert_eq!(st.total_size, file.len() as u64);
    }
}
