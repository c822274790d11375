//! The store against etcd 3.4's answers. Each expected body below is what a
//! real etcd 3.4.23 (`etcd --enable-v2`) answered to the request in the
//! comment; a fresh etcd has used indexes 1..3 for its own `/0` keys, which
//! [`etcd_like`] reproduces so the indexes match too.

use proptest::prelude::*;

use super::json::NANOS_PER_SEC as S;
use super::*;

/// 2026-12-05T17:35:53Z, a time etcd answered around.
const T0: i64 = 1_796_492_153 * S;

fn etcd_like() -> Store {
    let mut s = Store::new_etcd();
    for k in [
        "/0/members/1/raftAttributes",
        "/0/members/1/attributes",
        "/0/version",
    ] {
        s.set(k, false, "x", TtlOptions::default(), T0).unwrap();
    }
    assert_eq!(s.index(), 3);
    s
}

fn body(e: &Event) -> String {
    e.trimmed(STORE_KEYS_PREFIX).to_json()
}

fn err_body(mut e: V2Error) -> String {
    if let Some(rest) = e.cause.strip_prefix(STORE_KEYS_PREFIX) {
        e.cause = rest.to_string();
    }
    e.to_json()
}

const NONE: TtlOptions = TtlOptions {
    expire_time: None,
    refresh: false,
};

fn ttl(expire_time: i64) -> TtlOptions {
    TtlOptions {
        expire_time: Some(expire_time),
        refresh: false,
    }
}

#[test]
fn tutorial_set_update_and_missing_key() {
    let mut s = etcd_like();
    // PUT /v2/keys/testkey value=hello
    let e = s.set("/1/testkey", false, "hello", NONE, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"set","node":{"key":"/testkey","value":"hello","modifiedIndex":4,"createdIndex":4}}"#
    );
    assert!(e.is_created());
    // PUT prevExist=true value=world
    let e = s.update("/1/testkey", "world", NONE, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"update","node":{"key":"/testkey","value":"world","modifiedIndex":5,"createdIndex":4},"prevNode":{"key":"/testkey","value":"hello","modifiedIndex":4,"createdIndex":4}}"#
    );
    assert_eq!(e.etcd_index, 5);
    // PUT /v2/keys/testkey2 prevExist=true value=world → 404
    let err = s.update("/1/testkey2", "world", NONE, T0).unwrap_err();
    assert_eq!(err.status(), 404);
    assert_eq!(
        err_body(err),
        r#"{"errorCode":100,"message":"Key not found","cause":"/testkey2","index":5}"#
    );
    // prevExist=false on an existing key → 105
    let err = s
        .create("/1/testkey", false, "x", false, NONE, T0)
        .unwrap_err();
    assert_eq!(err.status(), 412);
    assert_eq!(
        err_body(err),
        r#"{"errorCode":105,"message":"Key already exists","cause":"/testkey","index":5}"#
    );
}

#[test]
fn compare_failures_name_both_sides() {
    let mut s = etcd_like();
    s.set("/1/testkey", false, "hello", NONE, T0).unwrap();
    s.update("/1/testkey", "world", NONE, T0).unwrap();
    let cases = [
        (
            "foo",
            0,
            r#"{"errorCode":101,"message":"Compare failed","cause":"[foo != world]","index":5}"#,
        ),
        (
            "",
            1,
            r#"{"errorCode":101,"message":"Compare failed","cause":"[1 != 5]","index":5}"#,
        ),
        (
            "foo",
            1,
            r#"{"errorCode":101,"message":"Compare failed","cause":"[foo != world] [1 != 5]","index":5}"#,
        ),
    ];
    for (pv, pi, want) in cases {
        let err = s
            .compare_and_swap("/1/testkey", pv, pi, "x", NONE, T0)
            .unwrap_err();
        assert_eq!(err.status(), 412);
        assert_eq!(err_body(err), want);
        let err = s.compare_and_delete("/1/testkey", pv, pi, T0).unwrap_err();
        assert_eq!(err_body(err), want);
    }
    // DELETE prevValue=world (matches) → compareAndDelete
    let e = s.compare_and_delete("/1/testkey", "world", 0, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"compareAndDelete","node":{"key":"/testkey","modifiedIndex":6,"createdIndex":4},"prevNode":{"key":"/testkey","value":"world","modifiedIndex":5,"createdIndex":4}}"#
    );
    // CAS with a TTL, then CAS again showing the old TTL.
    s.set("/1/cas", false, "1", NONE, T0).unwrap();
    let e = s
        .compare_and_swap("/1/cas", "1", 0, "2", ttl(T0 + 10 * S), T0)
        .unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"compareAndSwap","node":{"key":"/cas","value":"2","expiration":"2026-12-05T17:36:03Z","ttl":10,"modifiedIndex":8,"createdIndex":7},"prevNode":{"key":"/cas","value":"1","modifiedIndex":7,"createdIndex":7}}"#
    );
    // A directory cannot be compared: 102 with the path.
    s.set("/1/dd", true, "", NONE, T0).unwrap();
    let err = s
        .compare_and_swap("/1/dd", "x", 0, "", NONE, T0)
        .unwrap_err();
    assert_eq!(
        err_body(err),
        r#"{"errorCode":102,"message":"Not a file","cause":"/dd","index":9}"#
    );
}

#[test]
fn directories_list_sorted_hide_underscore_and_refuse_rmdir() {
    let mut s = etcd_like();
    s.set("/1/testkey", false, "hello", NONE, T0).unwrap();
    s.update("/1/testkey", "world", NONE, T0).unwrap();
    s.delete("/1/testkey", false, false, T0).unwrap();
    // PUT /v2/keys/dir1 dir=true
    let e = s.set("/1/dir1", true, "", NONE, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"set","node":{"key":"/dir1","dir":true,"modifiedIndex":7,"createdIndex":7}}"#
    );
    for (k, v) in [("b", "2"), ("a", "1"), ("_hidden", "h"), ("sub/c", "3")] {
        s.set(&format!("/1/dir1/{k}"), false, v, NONE, T0).unwrap();
    }
    // GET /v2/keys/dir1?recursive=true&sorted=true
    let e = s.get("/1/dir1", true, true, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"get","node":{"key":"/dir1","dir":true,"nodes":[{"key":"/dir1/a","value":"1","modifiedIndex":9,"createdIndex":9},{"key":"/dir1/b","value":"2","modifiedIndex":8,"createdIndex":8},{"key":"/dir1/sub","dir":true,"nodes":[{"key":"/dir1/sub/c","value":"3","modifiedIndex":11,"createdIndex":11}],"modifiedIndex":11,"createdIndex":11}],"modifiedIndex":7,"createdIndex":7}}"#
    );
    // GET /v2/keys/dir1?sorted=true
    let e = s.get("/1/dir1", false, true, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"get","node":{"key":"/dir1","dir":true,"nodes":[{"key":"/dir1/a","value":"1","modifiedIndex":9,"createdIndex":9},{"key":"/dir1/b","value":"2","modifiedIndex":8,"createdIndex":8},{"key":"/dir1/sub","dir":true,"modifiedIndex":11,"createdIndex":11}],"modifiedIndex":7,"createdIndex":7}}"#
    );
    // The hidden key is still readable by its own path.
    assert!(s.get("/1/dir1/_hidden", false, false, T0).is_ok());
    // DELETE dir=true → 108; DELETE → 102
    let err = s.delete("/1/dir1", true, false, T0).unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(
        err_body(err),
        r#"{"errorCode":108,"message":"Directory not empty","cause":"/dir1","index":11}"#
    );
    let err = s.delete("/1/dir1", false, false, T0).unwrap_err();
    assert_eq!(
        err_body(err),
        r#"{"errorCode":102,"message":"Not a file","cause":"/dir1","index":11}"#
    );
    // DELETE recursive=true
    let e = s.delete("/1/dir1", false, true, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"delete","node":{"key":"/dir1","dir":true,"modifiedIndex":12,"createdIndex":7},"prevNode":{"key":"/dir1","dir":true,"modifiedIndex":7,"createdIndex":7}}"#
    );
    assert!(s.get("/1/dir1/sub/c", false, false, T0).is_err());
    // A file under a file: 104 on the file.
    s.set("/1/esc", false, "v", NONE, T0).unwrap();
    let err = s.create("/1/esc", false, "z", true, NONE, T0).unwrap_err();
    assert_eq!(
        err_body(err),
        r#"{"errorCode":104,"message":"Not a directory","cause":"/esc","index":13}"#
    );
    // Replacing a directory with set: 102.
    s.set("/1/q", true, "", NONE, T0).unwrap();
    let err = s.set("/1/q", false, "1", NONE, T0).unwrap_err();
    assert_eq!(
        err_body(err),
        r#"{"errorCode":102,"message":"Not a file","cause":"/q","index":14}"#
    );
}

#[test]
fn in_order_keys_are_named_by_index() {
    let mut s = etcd_like();
    for _ in 0..9 {
        s.set("/0/pad", false, "", NONE, T0).unwrap();
    }
    // POST /v2/keys/queue value=job1, value=job2
    let e = s.create("/1/queue", false, "job1", true, NONE, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"create","node":{"key":"/queue/00000000000000000013","value":"job1","modifiedIndex":13,"createdIndex":13}}"#
    );
    s.create("/1/queue", false, "job2", true, NONE, T0).unwrap();
    let e = s.get("/1/queue", false, true, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"get","node":{"key":"/queue","dir":true,"nodes":[{"key":"/queue/00000000000000000013","value":"job1","modifiedIndex":13,"createdIndex":13},{"key":"/queue/00000000000000000014","value":"job2","modifiedIndex":14,"createdIndex":14}],"modifiedIndex":13,"createdIndex":13}}"#
    );
    // POST dir=true makes an in-order directory.
    let e = s.create("/1/dirx", true, "", true, NONE, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"create","node":{"key":"/dirx/00000000000000000015","dir":true,"modifiedIndex":15,"createdIndex":15}}"#
    );
}

#[test]
fn root_and_namespaces_are_read_only() {
    let mut s = etcd_like();
    let ro = r#"{"errorCode":107,"message":"Root is read only","cause":"/","index":3}"#;
    assert_eq!(err_body(s.set("/1", false, "1", NONE, T0).unwrap_err()), ro);
    assert_eq!(err_body(s.delete("/1", true, true, T0).unwrap_err()), ro);
    assert_eq!(err_body(s.update("/", "", NONE, T0).unwrap_err()), ro);
    assert_eq!(
        err_body(s.compare_and_swap("/0", "a", 0, "", NONE, T0).unwrap_err()),
        ro
    );
    assert_eq!(
        err_body(s.create("/1/../0", true, "", false, NONE, T0).unwrap_err()),
        ro
    );
    // DELETE /v2/keys?prevValue=zz: etcd has no read-only check there; the
    // root of the keys is a directory, and its trimmed cause is empty.
    let e = s.compare_and_delete("/1", "zz", 0, T0).unwrap_err();
    assert_eq!(
        err_body(e),
        r#"{"errorCode":102,"message":"Not a file","index":3}"#
    );
    // GET /v2/keys/ on an empty store.
    let e = s.get("/1", false, false, T0).unwrap();
    assert_eq!(body(&e), r#"{"action":"get","node":{"dir":true}}"#);
}

#[test]
fn ttl_expiry_makes_expire_events() {
    let mut s = etcd_like();
    // PUT /v2/keys/ttldir dir=true ttl=3, then a file in it.
    let e = s
        .set(
            "/1/ttldir",
            true,
            "",
            ttl(T0 + 3 * S + 640_701_958),
            T0 + 641_000_000,
        )
        .unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"set","node":{"key":"/ttldir","dir":true,"expiration":"2026-12-05T17:35:56.640701958Z","ttl":3,"modifiedIndex":4,"createdIndex":4}}"#
    );
    s.set("/1/ttldir/x", false, "1", NONE, T0).unwrap();
    s.set("/1/k", false, "v", ttl(T0 + 100 * S), T0).unwrap();
    assert!(s.has_ttl_keys());
    let w = s.watch("/1/ttldir/x", false, false, 0).unwrap();
    // Nothing expires before its time.
    assert!(s.delete_expired_keys(T0 + 3 * S, T0 + 3 * S).is_empty());
    let expired = s.delete_expired_keys(T0 + 5 * S, T0 + 5 * S);
    assert_eq!(expired.len(), 1);
    // What etcd's watchers saw when /ttldir expired.
    assert_eq!(
        body(&expired[0]),
        r#"{"action":"expire","node":{"key":"/ttldir","dir":true,"modifiedIndex":7,"createdIndex":4},"prevNode":{"key":"/ttldir","dir":true,"expiration":"2026-12-05T17:35:56.640701958Z","ttl":-1,"modifiedIndex":4,"createdIndex":4}}"#
    );
    assert_eq!(s.take_ready_watchers(), vec![w.id]);
    assert_eq!(s.poll_watcher(w.id).events, expired);
    assert!(s.get("/1/ttldir/x", false, false, T0).is_err());
    // A watch from the history finds the expiry by the dead directory's prefix.
    let w = s.watch("/1/ttldir/x", false, false, 7).unwrap();
    assert_eq!(s.poll_watcher(w.id).events[0].action, Action::Expire);
    assert!(s.json_stats().contains(r#""expireCount":1,"#));
    // Making the file permanent takes it out of the TTL keys.
    s.update("/1/k", "w", NONE, T0).unwrap();
    assert!(!s.has_ttl_keys());
}

#[test]
fn refresh_keeps_value_and_tells_no_watcher() {
    let mut s = etcd_like();
    s.set("/1/ttlkey", false, "v", ttl(T0 + 5 * S), T0).unwrap();
    let w = s.watch("/1/ttlkey", false, false, 0).unwrap();
    // PUT ttl=100 refresh=true: etcd's set makes the node anew.
    let refresh = TtlOptions {
        expire_time: Some(T0 + 100 * S),
        refresh: true,
    };
    let e = s.set("/1/ttlkey", false, "", refresh, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"set","node":{"key":"/ttlkey","value":"v","expiration":"2026-12-05T17:37:33Z","ttl":100,"modifiedIndex":5,"createdIndex":5},"prevNode":{"key":"/ttlkey","value":"v","expiration":"2026-12-05T17:35:58Z","ttl":5,"modifiedIndex":4,"createdIndex":4}}"#
    );
    assert!(s.take_ready_watchers().is_empty());
    // Refreshing a missing key is 100.
    assert_eq!(
        s.set("/1/nope", false, "", refresh, T0).unwrap_err().code,
        ECODE_KEY_NOT_FOUND
    );
    s.update("/1/ttlkey", "", refresh, T0).unwrap();
    s.compare_and_swap("/1/ttlkey", "v", 0, "", refresh, T0)
        .unwrap();
    assert_eq!(
        s.get("/1/ttlkey", false, false, T0)
            .unwrap()
            .node
            .unwrap()
            .value
            .as_deref(),
        Some("v")
    );
    s.set("/1/ttlkey", false, "new", NONE, T0).unwrap();
    assert_eq!(s.take_ready_watchers(), vec![w.id]);
    // A watch from the history skips refreshes.
    let w2 = s.watch("/1/ttlkey", false, false, 5).unwrap();
    assert_eq!(s.poll_watcher(w2.id).events[0].index(), 8);
}

#[test]
fn expire_time_before_2000_is_permanent_for_set_only() {
    let mut s = etcd_like();
    let e = s.set("/1/big2", false, "n", ttl(-5), T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"set","node":{"key":"/big2","value":"n","modifiedIndex":4,"createdIndex":4}}"#
    );
    assert!(!s.has_ttl_keys());
    s.update("/1/big2", "n", ttl(-5), T0).unwrap();
    assert_eq!(s.delete_expired_keys(T0, T0).len(), 1);
}

#[test]
fn watch_from_history_and_cleared() {
    let mut s = etcd_like();
    for i in 1..=1033 {
        s.set("/1/loop", false, &i.to_string(), NONE, T0).unwrap();
    }
    assert_eq!(s.index(), 1036);
    // GET /v2/keys/loop?wait=true&waitIndex=5
    let err = s.watch("/1/loop", false, false, 5).unwrap_err();
    assert_eq!(
        err_body(err),
        r#"{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [37/5]","index":1036}"#
    );
    // waitIndex=40 answers from the history, with the store's index (etcd
    // had 26 other events before its loop: its values were 14 and 13).
    let w = s.watch("/1/loop", false, false, 40).unwrap();
    assert_eq!(w.start_index, 1036);
    let p = s.poll_watcher(w.id);
    assert!(p.finished);
    assert_eq!(
        body(&p.events[0]),
        r#"{"action":"set","node":{"key":"/loop","value":"37","modifiedIndex":40,"createdIndex":40},"prevNode":{"key":"/loop","value":"36","modifiedIndex":39,"createdIndex":39}}"#
    );
    assert_eq!(p.events[0].etcd_index, 1036);
}

#[test]
fn watchers_as_etcd() {
    let mut s = etcd_like();
    let stream = s.watch("/1/w", true, true, 0).unwrap();
    let hidden = s.watch("/1/w/_h", false, false, 0).unwrap();
    let plain = s.watch("/1/w", true, false, 0).unwrap();
    assert!(s.json_stats().ends_with(r#""watchers":3}"#));
    s.set("/1/w/_h", false, "1", NONE, T0).unwrap();
    s.set("/1/w/x", false, "2", NONE, T0).unwrap();
    s.delete("/1/w", false, true, T0).unwrap();
    let bodies = |s: &mut Store, id| {
        s.poll_watcher(id)
            .events
            .iter()
            .map(body)
            .collect::<Vec<_>>()
    };
    // etcd's stream watcher on the deleted directory gets its delete twice:
    // once as a removed path, once as the event's own key.
    let del = r#"{"action":"delete","node":{"key":"/w","dir":true,"modifiedIndex":6,"createdIndex":4},"prevNode":{"key":"/w","dir":true,"modifiedIndex":4,"createdIndex":4}}"#;
    let set_x =
        r#"{"action":"set","node":{"key":"/w/x","value":"2","modifiedIndex":5,"createdIndex":5}}"#;
    assert_eq!(bodies(&mut s, stream.id), [set_x, del, del]);
    assert_eq!(
        bodies(&mut s, hidden.id),
        [
            r#"{"action":"set","node":{"key":"/w/_h","value":"1","modifiedIndex":4,"createdIndex":4}}"#
        ]
    );
    assert_eq!(bodies(&mut s, plain.id), [set_x]);
    assert!(s.json_stats().ends_with(r#""watchers":1}"#));
    s.remove_watcher(stream.id);
    assert!(s.json_stats().ends_with(r#""watchers":0}"#));
}

#[test]
fn stats_count_as_etcd_including_its_quirks() {
    let mut s = Store::new_etcd();
    s.set("/1/k", false, "v", NONE, T0).unwrap();
    s.set("/1/d", true, "", NONE, T0).unwrap();
    s.get("/1/k", false, false, T0).unwrap();
    s.get("/1/nope", false, false, T0).unwrap_err();
    s.compare_and_delete("/1/k", "zz", 0, T0).unwrap_err(); // counted a success
    s.compare_and_delete("/1/d", "zz", 0, T0).unwrap_err(); // counted a success
    s.compare_and_delete("/1/nope", "zz", 0, T0).unwrap_err();
    s.compare_and_swap("/1", "zz", 0, "", NONE, T0).unwrap_err(); // counted a success
    s.update("/1/d", "x", NONE, T0).unwrap_err(); // counted a success
    s.create("/1/k/x", false, "", false, NONE, T0).unwrap_err(); // a setsFail too
    s.set("/1/k/x", false, "", NONE, T0).unwrap_err();
    s.delete("/1", false, false, T0).unwrap_err(); // counted a success
    assert_eq!(
        s.json_stats(),
        r#"{"getsSuccess":1,"getsFail":1,"setsSuccess":2,"setsFail":2,"deleteSuccess":1,"deleteFail":0,"updateSuccess":1,"updateFail":0,"createSuccess":0,"createFail":1,"compareAndSwapSuccess":1,"compareAndSwapFail":0,"compareAndDeleteSuccess":2,"compareAndDeleteFail":1,"expireCount":0,"watchers":0}"#
    );
}

#[test]
fn update_of_a_directory_keeps_its_index_and_set_refuses_it() {
    let mut s = etcd_like();
    s.set("/1/dd", true, "", NONE, T0).unwrap();
    let e = s.update("/1/dd", "", ttl(T0 + 20 * S), T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"update","node":{"key":"/dd","dir":true,"expiration":"2026-12-05T17:36:13Z","ttl":20,"modifiedIndex":5,"createdIndex":4},"prevNode":{"key":"/dd","dir":true,"modifiedIndex":4,"createdIndex":4}}"#
    );
    let e = s.delete("/1/dd", true, false, T0).unwrap();
    assert_eq!(
        body(&e),
        r#"{"action":"delete","node":{"key":"/dd","dir":true,"modifiedIndex":6,"createdIndex":4},"prevNode":{"key":"/dd","dir":true,"expiration":"2026-12-05T17:36:13Z","ttl":20,"modifiedIndex":4,"createdIndex":4}}"#
    );
}

#[test]
fn recover_rejects_damage() {
    let mut s = etcd_like();
    s.set("/1/a", false, "b", ttl(T0), T0).unwrap();
    let mut bytes = s.save();
    let mut fresh = Store::new_etcd();
    fresh.recover(&bytes).unwrap();
    assert!(fresh.has_ttl_keys());
    bytes[10] ^= 1;
    assert!(Store::new_etcd().recover(&bytes).is_err());
    assert!(Store::new_etcd().recover(&bytes[..3]).is_err());
}

#[derive(Clone, Debug)]
enum Op {
    Set(u8, bool, u8, Option<u8>),
    Create(u8, bool, bool),
    Update(u8, u8, Option<u8>),
    Cas(u8, u8, u64),
    Delete(u8, bool, bool),
    Cad(u8, u8),
    Expire(u8),
    Watch(u8, bool),
}

fn key(k: u8) -> String {
    [
        "/1/a", "/1/b", "/1/a/x", "/1/a/_h", "/1/c/d/e", "/1/b/y", "/0/m",
    ][k as usize % 7]
        .to_string()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            any::<u8>(),
            any::<bool>(),
            0..3u8,
            proptest::option::of(0..5u8)
        )
            .prop_map(|(k, d, v, t)| Op::Set(k, d, v, t)),
        (any::<u8>(), any::<bool>(), any::<bool>()).prop_map(|(k, d, u)| Op::Create(k, d, u)),
        (any::<u8>(), 0..3u8, proptest::option::of(0..5u8))
            .prop_map(|(k, v, t)| Op::Update(k, v, t)),
        (any::<u8>(), 0..3u8, 0..20u64).prop_map(|(k, v, i)| Op::Cas(k, v, i)),
        (any::<u8>(), any::<bool>(), any::<bool>()).prop_map(|(k, d, r)| Op::Delete(k, d, r)),
        (any::<u8>(), 0..3u8).prop_map(|(k, v)| Op::Cad(k, v)),
        (0..5u8).prop_map(Op::Expire),
        (any::<u8>(), any::<bool>()).prop_map(|(k, r)| Op::Watch(k, r)),
    ]
}

/// Runs `o` and says what it answered (the event's body or the error's).
fn run(s: &mut Store, o: &Op) -> String {
    let now = T0;
    let t = |x: &Option<u8>| TtlOptions {
        expire_time: x.map(|x| T0 + x as i64 * S),
        refresh: false,
    };
    let r = match o {
        Op::Set(k, d, v, x) => s.set(&key(*k), *d, &v.to_string(), t(x), now),
        Op::Create(k, d, u) => s.create(&key(*k), *d, "c", *u, NONE, now),
        Op::Update(k, v, x) => s.update(&key(*k), &v.to_string(), t(x), now),
        Op::Cas(k, v, i) => s.compare_and_swap(&key(*k), &v.to_string(), *i, "s", NONE, now),
        Op::Delete(k, d, r) => s.delete(&key(*k), *d, *r, now),
        Op::Cad(k, v) => s.compare_and_delete(&key(*k), &v.to_string(), 0, now),
        Op::Expire(x) => {
            let evs = s.delete_expired_keys(T0 + *x as i64 * S, now);
            return evs
                .iter()
                .map(Event::to_json)
                .collect::<Vec<_>>()
                .join("\n");
        }
        Op::Watch(k, r) => {
            return match s.watch(&key(*k), *r, false, s.index().saturating_sub(3).max(1)) {
                Ok(w) => {
                    let got = format!("{:?}", s.poll_watcher(w.id).events);
                    s.remove_watcher(w.id);
                    got
                }
                Err(e) => e.to_json(),
            }
        }
    };
    match r {
        Ok(e) => format!("{} {}", e.to_json(), e.etcd_index),
        Err(e) => e.to_json(),
    }
}

fn listing(s: &mut Store) -> String {
    let root = s.get("/", true, true, T0).map(|e| e.to_json());
    format!("{root:?} {} {}", s.index(), s.json_stats())
}

proptest! {
    /// A recovered store (and a clone) answers every later request as the
    /// original does, and saves to the same bytes.
    #[test]
    fn recover_of_save_answers_the_same(before in proptest::collection::vec(op(), 0..40), after in proptest::collection::vec(op(), 0..20)) {
        let mut s = Store::new_etcd();
        for o in &before {
            run(&mut s, o);
        }
        let bytes = s.save();
        let mut r = Store::new_etcd();
        r.recover(&bytes).unwrap();
        prop_assert_eq!(r.save(), bytes.clone());
        let mut c = s.clone();
        prop_assert_eq!(c.save(), bytes);
        for o in &after {
            let want = run(&mut s, o);
            prop_assert_eq!(&run(&mut r, o), &want, "{:?}", o);
            prop_assert_eq!(&run(&mut c, o), &want, "{:?}", o);
        }
        prop_assert_eq!(listing(&mut r), listing(&mut s));
    }
}
