//! Requests and answers against etcd 3.4.23's (`etcd --enable-v2`, probed
//! with curl): each expected status, header and body is what it answered.

use super::*;
use crate::v2store::json::NANOS_PER_SEC as S;
use crate::v2store::{Store, TtlOptions};

const NOW: i64 = 1_796_492_153 * S;
const IDS: ResponseIds = ResponseIds {
    cluster_id: 0xcdf818194e3a8c32,
    raft_term: 2,
    raft_index: 5,
};

fn req(method: &str, path_query: &str, form: &str) -> HttpRequest {
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    HttpRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form.as_bytes().to_vec(),
    }
}

/// A store at index 3, as a fresh etcd's.
fn etcd_like() -> Store {
    let mut s = Store::new_etcd();
    for k in ["/0/a", "/0/b", "/0/c"] {
        s.set(k, false, "", TtlOptions::default(), NOW).unwrap();
    }
    s
}

/// Runs a keys request the way the server will: parse, then raft or local.
fn serve_ref(s: &mut Store, r: &HttpRequest) -> HttpResponse {
    let kr = match parse_key_request(r, NOW) {
        Ok(kr) => kr,
        Err(e) => return key_error_response(&e, IDS.cluster_id, false),
    };
    let mut rr = kr.request;
    let head = rr.method == "HEAD";
    let answer = if needs_consensus(&mut rr) {
        match apply_v2_request(s, &rr, NOW) {
            V2Answer::Event(e) => Ok(*e),
            V2Answer::Error(e) => Err(e),
            other => panic!("{other:?}"),
        }
    } else {
        match serve_local(s, &rr, NOW) {
            LocalAnswer::Event(e) => Ok(*e),
            LocalAnswer::Error(e) => Err(e),
            LocalAnswer::Watch(w) => {
                let mut r = watch_response_head(w.start_index, &IDS);
                for e in s.poll_watcher(w.id).events {
                    r.body.extend(watch_event_chunk(&e));
                }
                return r;
            }
        }
    };
    match answer {
        Ok(e) => key_event_response(&e, kr.no_value_on_success, &IDS, head),
        Err(e) => key_error_response(&e, IDS.cluster_id, head),
    }
}

fn check(s: &mut Store, r: HttpRequest, status: u16, etcd_index: &str, body: &str) {
    let got = serve(s, r.clone());
    let text = String::from_utf8(got.body.clone()).unwrap();
    assert_eq!(
        (got.status, text.as_str()),
        (status, format!("{body}\n").as_str()),
        "{r:?}"
    );
    assert_eq!(got.header("X-Etcd-Index"), Some(etcd_index), "{r:?}");
    assert_eq!(got.header("X-Etcd-Cluster-Id"), Some("cdf818194e3a8c32"));
    assert_eq!(got.header("Content-Type"), Some("application/json"));
}

fn serve(s: &mut Store, r: HttpRequest) -> HttpResponse {
    serve_ref(s, &r)
}

#[test]
fn tutorial_and_errors_as_etcd() {
    let mut s = etcd_like();
    check(
        &mut s,
        req("PUT", "/v2/keys/testkey", "value=hello"),
        201,
        "4",
        r#"{"action":"set","node":{"key":"/testkey","value":"hello","modifiedIndex":4,"createdIndex":4}}"#,
    );
    check(
        &mut s,
        req("PUT", "/v2/keys/testkey", "value=world&prevExist=true"),
        200,
        "5",
        r#"{"action":"update","node":{"key":"/testkey","value":"world","modifiedIndex":5,"createdIndex":4},"prevNode":{"key":"/testkey","value":"hello","modifiedIndex":4,"createdIndex":4}}"#,
    );
    check(
        &mut s,
        req("PUT", "/v2/keys/testkey2", "value=world&prevExist=true"),
        404,
        "5",
        r#"{"errorCode":100,"message":"Key not found","cause":"/testkey2","index":5}"#,
    );
    check(
        &mut s,
        req("PUT", "/v2/keys/testkey", "value=x&prevExist=false"),
        412,
        "5",
        r#"{"errorCode":105,"message":"Key already exists","cause":"/testkey","index":5}"#,
    );
    check(
        &mut s,
        req(
            "PUT",
            "/v2/keys/testkey",
            "value=x&prevIndex=1&prevValue=foo",
        ),
        412,
        "5",
        r#"{"errorCode":101,"message":"Compare failed","cause":"[foo != world] [1 != 5]","index":5}"#,
    );
    // A DELETE's body is not read: prevValue=foo in it is ignored.
    check(
        &mut s,
        req("DELETE", "/v2/keys/testkey", "prevValue=foo"),
        200,
        "6",
        r#"{"action":"delete","node":{"key":"/testkey","modifiedIndex":6,"createdIndex":4},"prevNode":{"key":"/testkey","value":"world","modifiedIndex":5,"createdIndex":4}}"#,
    );
    let bad = [
        (
            "DELETE",
            "/v2/keys/testkey?prevIndex=abc",
            r#"{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}"#,
        ),
        (
            "GET",
            "/v2/keys/testkey?recursive=abc",
            r#"{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"recursive\"","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/testkey?wait=true",
            r#"{"errorCode":209,"message":"Invalid field","cause":"\"wait\" can only be used with GET requests","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/testkey?prevValue=",
            r#"{"errorCode":201,"message":"PrevValue is Required in POST form","cause":"\"prevValue\" cannot be empty","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/testkey?ttl=-1",
            r#"{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/testkey?prevExist=maybe",
            r#"{"errorCode":209,"message":"Invalid field","cause":"invalid value for prevExist","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/testkey?refresh=true&value=a",
            r#"{"errorCode":211,"message":"Value provided on refresh","cause":"A value was provided on a refresh","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/testkey?refresh=true",
            r#"{"errorCode":212,"message":"A TTL must be provided on refresh","cause":"No TTL value set","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/testkey?refresh=maybe",
            r#"{"errorCode":209,"message":"Invalid field","cause":"invalid value for refresh","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/testkey?a=%zz",
            r#"{"errorCode":210,"message":"Invalid POST form","cause":"invalid URL escape \"%zz\"","index":0}"#,
        ),
        (
            "GET",
            "/v2/keys/testkey?a=1;b=2",
            r#"{"errorCode":210,"message":"Invalid POST form","cause":"invalid semicolon separator in query","index":0}"#,
        ),
        (
            "PUT",
            "/v2/keys/",
            r#"{"errorCode":107,"message":"Root is read only","cause":"/","index":6}"#,
        ),
        (
            "DELETE",
            "/v2/keys",
            r#"{"errorCode":107,"message":"Root is read only","cause":"/","index":6}"#,
        ),
    ];
    for (m, pq, body) in bad {
        let index = if body.ends_with(":0}") { "0" } else { "6" };
        check(&mut s, req(m, pq, ""), 400, index, body);
    }
    // HEAD: the headers of a GET, no body.
    let r = serve(&mut s, req("HEAD", "/v2/keys/nokey", ""));
    assert_eq!((r.status, r.body.len()), (404, 0));
}

#[test]
fn dirs_queues_ttls_and_options_as_etcd() {
    let mut s = etcd_like();
    check(
        &mut s,
        req("PUT", "/v2/keys/dir1", "dir=true"),
        201,
        "4",
        r#"{"action":"set","node":{"key":"/dir1","dir":true,"modifiedIndex":4,"createdIndex":4}}"#,
    );
    check(
        &mut s,
        req("DELETE", "/v2/keys/dir1", ""),
        403,
        "4",
        r#"{"errorCode":102,"message":"Not a file","cause":"/dir1","index":4}"#,
    );
    check(
        &mut s,
        req("POST", "/v2/keys/queue", "value=job1"),
        201,
        "5",
        r#"{"action":"create","node":{"key":"/queue/00000000000000000005","value":"job1","modifiedIndex":5,"createdIndex":5}}"#,
    );
    // The value etcd stored for value=<a&b>"\ é\x01\t, sent urlencoded.
    check(
        &mut s,
        req(
            "PUT",
            "/v2/keys/esc",
            "value=%3Ca%26b%3E%22%5C+%C3%A9%01%09",
        ),
        201,
        "6",
        r#"{"action":"set","node":{"key":"/esc","value":"\u003ca\u0026b\u003e\"\\ é\u0001\t","modifiedIndex":6,"createdIndex":6}}"#,
    );
    check(
        &mut s,
        req("PUT", "/v2/keys/esc?noValueOnSuccess=true", "value=z"),
        200,
        "7",
        r#"{"action":"set"}"#,
    );
    // ttl=5 expires 5 s after the request's time.
    check(
        &mut s,
        req("PUT", "/v2/keys/ttlkey", "value=v&ttl=5"),
        201,
        "8",
        r#"{"action":"set","node":{"key":"/ttlkey","value":"v","expiration":"2026-12-05T17:35:58Z","ttl":5,"modifiedIndex":8,"createdIndex":8}}"#,
    );
    // ttl= (empty) is no TTL: update makes it permanent.
    check(
        &mut s,
        req("PUT", "/v2/keys/ttlkey", "value=w&ttl=&prevExist=true"),
        200,
        "9",
        r#"{"action":"update","node":{"key":"/ttlkey","value":"w","modifiedIndex":9,"createdIndex":8},"prevNode":{"key":"/ttlkey","value":"v","expiration":"2026-12-05T17:35:58Z","ttl":5,"modifiedIndex":8,"createdIndex":8}}"#,
    );
    // ttl=2^64-1 wraps to -1 s in Go; ttl=9223372036 overflows UnixNano to
    // before 2000, which set takes as no TTL.
    check(
        &mut s,
        req("PUT", "/v2/keys/big", "value=n&ttl=18446744073709551615"),
        201,
        "10",
        r#"{"action":"set","node":{"key":"/big","value":"n","expiration":"2026-12-05T17:35:52Z","ttl":-1,"modifiedIndex":10,"createdIndex":10}}"#,
    );
    check(
        &mut s,
        req("PUT", "/v2/keys/big2", "value=n&ttl=9223372036"),
        201,
        "11",
        r#"{"action":"set","node":{"key":"/big2","value":"n","modifiedIndex":11,"createdIndex":11}}"#,
    );
    // The body's value wins over the query's.
    check(
        &mut s,
        req("PUT", "/v2/keys/q?value=query", "value=body"),
        201,
        "12",
        r#"{"action":"set","node":{"key":"/q","value":"body","modifiedIndex":12,"createdIndex":12}}"#,
    );
    // wait=true&waitIndex from the history; X-Etcd-Index is the store's.
    check(
        &mut s,
        req("GET", "/v2/keys/esc?wait=true&waitIndex=6", ""),
        200,
        "12",
        r#"{"action":"set","node":{"key":"/esc","value":"\u003ca\u0026b\u003e\"\\ é\u0001\t","modifiedIndex":6,"createdIndex":6}}"#,
    );
    // quorum=true goes through raft as QGET.
    let mut r = parse_key_request(&req("GET", "/v2/keys/q?quorum=true", ""), NOW)
        .unwrap()
        .request;
    assert!(needs_consensus(&mut r));
    assert_eq!(r.method, "QGET");
}

#[test]
fn sync_and_cluster_keys_apply_as_etcd() {
    let mut s = etcd_like();
    let pb = |method: &str, path: &str, val: &str| crate::pb::etcdserverpb::Request {
        method: method.into(),
        path: path.into(),
        val: val.into(),
        ..Default::default()
    };
    assert_eq!(
        apply_v2_request(
            &mut s,
            &pb("PUT", "/0/members/8e9e05c52164694d/attributes", "{}"),
            NOW
        ),
        V2Answer::MemberAttributes {
            id: 0x8e9e05c52164694d,
            json: "{}".into()
        }
    );
    assert_eq!(
        apply_v2_request(&mut s, &pb("PUT", "/0/version", "3.4.0"), NOW),
        V2Answer::ClusterVersion("3.4.0".into())
    );
    assert_eq!(s.index(), 3);
    let mut r = pb("PUT", "/1/t", "v");
    r.expiration = NOW + S;
    apply_v2_request(&mut s, &r, NOW);
    let mut sync = pb("SYNC", "", "");
    sync.time = NOW + S;
    assert_eq!(apply_v2_request(&mut s, &sync, NOW), V2Answer::Synced);
    assert_eq!(s.index(), 5);
    assert_eq!(
        apply_v2_request(&mut s, &pb("PATCH", "/1/t", ""), NOW),
        V2Answer::UnknownMethod
    );
}

#[test]
fn routes_and_plain_errors_as_go() {
    assert_eq!(route("/v2/keys"), Route::Keys);
    assert_eq!(route("/v2/keys/a/b"), Route::Keys);
    assert_eq!(route("/v2/keys//b"), Route::Redirect("/v2/keys/b".into()));
    assert_eq!(route("/v2/members/abc"), Route::Members);
    assert_eq!(route("/v2/stats/store"), Route::StatsStore);
    assert_eq!(route("/v2/nothing"), Route::NotFound);
    let r = method_not_allowed(&["HEAD", "GET", "PUT", "POST", "DELETE"]);
    assert_eq!(
        (r.status, r.header("Allow"), r.body.as_slice()),
        (
            405,
            Some("HEAD,GET,PUT,POST,DELETE"),
            &b"Method Not Allowed\n"[..]
        )
    );
    assert_eq!(not_found().body, b"404 page not found\n");
    assert_eq!(
        http_error(404, "No such member: zzz").body,
        br#"{"message":"No such member: zzz"}"#
    );
}

#[test]
fn member_machine_and_stats_bodies_as_etcd() {
    let m = MemberInfo {
        id: 0x8e9e05c52164694d,
        name: "default".into(),
        peer_urls: vec!["http://localhost:2380".into()],
        client_urls: vec!["http://127.0.0.1:23790".into()],
    };
    let body = members_body(std::slice::from_ref(&m));
    assert_eq!(body.len(), 134);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "{\"members\":[{\"id\":\"8e9e05c52164694d\",\"name\":\"default\",\"peerURLs\":[\"http://localhost:2380\"],\"clientURLs\":[\"http://127.0.0.1:23790\"]}]}\n"
    );
    assert_eq!(member_body(&m).len(), 120);
    assert_eq!(machines_body(&m.client_urls), b"http://127.0.0.1:23790");
    let ss = SelfStats {
        name: "default".into(),
        id: 0x8e9e05c52164694d,
        is_leader: true,
        start_time: 1_796_492_131 * S + 173_835_880,
        leader_id: 0x8e9e05c52164694d,
        leader_start_time: 1_796_492_131 * S + 375_958_011,
        now: 1_796_492_131 * S + 375_958_011 + 17_386_128_239,
        ..Default::default()
    };
    assert_eq!(
        String::from_utf8(self_stats_body(&ss).unwrap()).unwrap(),
        r#"{"name":"default","id":"8e9e05c52164694d","state":"StateLeader","startTime":"2026-12-05T17:35:31.17383588Z","leaderInfo":{"leader":"8e9e05c52164694d","uptime":"17.386128239s","startTime":"2026-12-05T17:35:31.375958011Z"},"recvAppendRequestCnt":0,"sendAppendRequestCnt":0}"#
    );
    assert_eq!(
        leader_stats_body(0x8e9e05c52164694d, &[]).unwrap(),
        br#"{"leader":"8e9e05c52164694d","followers":{}}"#
    );
    let f = FollowerStats {
        id: 2,
        latency_minimum: 9.223372036854776e18,
        ..Default::default()
    };
    assert_eq!(
        String::from_utf8(leader_stats_body(1, &[f]).unwrap()).unwrap(),
        r#"{"leader":"1","followers":{"2":{"latency":{"current":0,"average":0,"standardDeviation":0,"minimum":9223372036854776000,"maximum":0},"counts":{"fail":0,"success":0}}}}"#
    );
}
