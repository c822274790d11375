//! Differential test of the HTTP faces, the JSON gateway and the v2 API:
//! the same curl requests, one by one, to oxcd and to the real etcd 3.4
//! (both fresh, single member, `--enable-v2`), must get the same HTTP status
//! and the same body, after the per-server fields (cluster and member ids,
//! raft terms; for TTL keys the expiration time) are replaced by a
//! placeholder. Revisions, v2 indexes, lease ids, values, errors and
//! streams must agree as sent.
//!
//! Where the texts come from Go's or Rust's JSON decoder (a malformed body)
//! only the status and gRPC code are compared. The oracle is `/usr/bin/etcd`;
//! a missing one fails under `CI=true` or `OXCD_REQUIRE_DIFFERENTIAL=1`.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::{free_port, temp_dir, Server, REAL_ETCD};
use serde_json::Value;

/// How a case's answers are compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmp {
    /// Status and normalised body.
    Body,
    /// Status, and the error body's `code` (the decoder's texts differ).
    CodeOnly,
    /// As `Body`, with the remaining TTL (which ticks) left out.
    NoTtl,
}

/// `(method, path, body, comparison)`; a stream is read for one second.
const CASES: &[(&str, &str, &str, Cmp)] = &[
    (
        "POST",
        "/v3/kv/put",
        r#"{"key":"Zm9v","value":"YmFy"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/put",
        r#"{"key":"Zm9v","value":"YmF6","prev_kv":true}"#,
        Cmp::Body,
    ),
    ("POST", "/v3/kv/range", r#"{"key":"Zm9v"}"#, Cmp::Body),
    ("POST", "/v3beta/kv/range", r#"{"key":"Zm9v"}"#, Cmp::Body),
    (
        "POST",
        "/v3/kv/put",
        r#"{"key":"Zm9vMg==","value":"eA==","bogus":1}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/range",
        r#"{"key":"Zm9v","rangeEnd":"Zm9w","sort_order":"DESCEND","sortTarget":"KEY","limit":"1"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/range",
        r#"{"key":"Zm9v","range_end":"AA==","count_only":true}"#,
        Cmp::Body,
    ),
    ("POST", "/v3/kv/range", r#"{"key":""}"#, Cmp::Body),
    (
        "POST",
        "/v3/kv/range",
        r#"{"key":"Zm9v","revision":"100"}"#,
        Cmp::Body,
    ),
    ("POST", "/v3/kv/range", r##"{"key":"#"}"##, Cmp::CodeOnly),
    ("POST", "/v3/kv/range", r#"{"key":"Zm9v"#, Cmp::CodeOnly),
    (
        "POST",
        "/v3/kv/range",
        r#"{"key":"Zm9v","limit":"x"}"#,
        Cmp::CodeOnly,
    ),
    (
        "POST",
        "/v3/kv/txn",
        r#"{"compare":[{"key":"Zm9v","result":"EQUAL","target":"VALUE","value":"YmF6"}],"success":[{"request_range":{"key":"Zm9v"}},{"request_put":{"key":"dA==","value":"MQ=="}}],"failure":[{"request_delete_range":{"key":"Zm9v"}}]}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/txn",
        r#"{"compare":[{"key":"Zm9v","target":"VERSION","result":"GREATER","version":"5"}],"failure":[{"request_txn":{"success":[{"request_range":{"key":"dA=="}}]}}]}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/deleterange",
        r#"{"key":"dA==","prev_kv":true}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/deleterange",
        r#"{"key":"bm9uZQ=="}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/lease/grant",
        r#"{"TTL":"60","ID":"777"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/lease/grant",
        r#"{"TTL":"60","ID":"777"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/put",
        r#"{"key":"bA==","value":"MQ==","lease":"777"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/put",
        r#"{"key":"bA==","value":"MQ==","lease":"778"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/lease/timetolive",
        r#"{"ID":"777","keys":true}"#,
        Cmp::NoTtl,
    ),
    (
        "POST",
        "/v3/kv/lease/timetolive",
        r#"{"ID":"779"}"#,
        Cmp::Body,
    ),
    ("POST", "/v3/lease/keepalive", r#"{"ID":"777"}"#, Cmp::NoTtl),
    ("POST", "/v3/lease/keepalive", r#"{"ID":"779"}"#, Cmp::Body),
    ("POST", "/v3/lease/leases", "{}", Cmp::Body),
    ("POST", "/v3/lease/revoke", r#"{"ID":"777"}"#, Cmp::Body),
    ("POST", "/v3/kv/lease/revoke", r#"{"ID":"777"}"#, Cmp::Body),
    ("POST", "/v3/kv/range", r#"{"key":"bA=="}"#, Cmp::Body),
    (
        "POST",
        "/v3/watch",
        r#"{"create_request":{"key":"Zm9v","start_revision":"1","prev_kv":true}}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/watch",
        r#"{"create_request":{"key":"YQ==","range_end":"eg==","start_revision":"2","filters":["NOPUT"]}} {"create_request":{"key":"Zm9v","watch_id":"7"}}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/compaction",
        r#"{"revision":"3"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/compaction",
        r#"{"revision":"2"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/kv/range",
        r#"{"key":"Zm9v","revision":"2"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/watch",
        r#"{"create_request":{"key":"Zm9v","start_revision":"2"}}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/auth/authenticate",
        r#"{"name":"root","password":"x"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/auth/user/add",
        r#"{"name":"u","password":"p"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/auth/user/add",
        r#"{"name":"u","password":"p"}"#,
        Cmp::Body,
    ),
    ("POST", "/v3/auth/user/get", r#"{"name":"u"}"#, Cmp::Body),
    ("POST", "/v3/auth/role/add", r#"{"name":"r"}"#, Cmp::Body),
    (
        "POST",
        "/v3/auth/role/grant",
        r#"{"name":"r","perm":{"permType":"READWRITE","key":"YQ==","range_end":"Yg=="}}"#,
        Cmp::Body,
    ),
    ("POST", "/v3/auth/role/get", r#"{"role":"r"}"#, Cmp::Body),
    ("POST", "/v3/auth/user/list", "{}", Cmp::Body),
    ("POST", "/v3/auth/enable", "{}", Cmp::Body),
    (
        "POST",
        "/v3/maintenance/alarm",
        r#"{"action":"GET"}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/lock/unlock",
        r#"{"key":"bm9uZQ=="}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v3/election/leader",
        r#"{"name":"ZWw="}"#,
        Cmp::Body,
    ),
    ("GET", "/v3/kv/range", "", Cmp::Body),
    ("POST", "/v3/kv/nothing", "{}", Cmp::Body),
    ("POST", "/v3alpha/kv/range", "{}", Cmp::Body),
    // The v2 API: the tutorial's lines first.
    ("PUT", "/v2/keys/testkey", "value=hello", Cmp::Body),
    (
        "PUT",
        "/v2/keys/testkey",
        "value=world&prevExist=true",
        Cmp::Body,
    ),
    (
        "PUT",
        "/v2/keys/testkey2",
        "value=world&prevExist=true",
        Cmp::Body,
    ),
    ("GET", "/v2/keys/testkey", "", Cmp::Body),
    ("GET", "/v2/keys/testkey?quorum=true", "", Cmp::Body),
    (
        "PUT",
        "/v2/keys/testkey",
        "value=x&prevValue=nope",
        Cmp::Body,
    ),
    (
        "PUT",
        "/v2/keys/testkey",
        "value=x&prevIndex=999",
        Cmp::Body,
    ),
    (
        "PUT",
        "/v2/keys/testkey",
        "value=x&prevExist=false",
        Cmp::Body,
    ),
    ("PUT", "/v2/keys/dir", "dir=true", Cmp::Body),
    ("PUT", "/v2/keys/dir/b", "value=2", Cmp::Body),
    ("PUT", "/v2/keys/dir/a", "value=1", Cmp::Body),
    ("PUT", "/v2/keys/dir/_hidden", "value=h", Cmp::Body),
    ("PUT", "/v2/keys/dir/sub/c", "value=3", Cmp::Body),
    (
        "GET",
        "/v2/keys/dir?recursive=true&sorted=true",
        "",
        Cmp::Body,
    ),
    // Unsorted, etcd lists in Go's random map order.
    ("GET", "/v2/keys/?sorted=true", "", Cmp::Body),
    ("DELETE", "/v2/keys/dir?dir=true", "", Cmp::Body),
    ("DELETE", "/v2/keys/dir/a", "", Cmp::Body),
    ("PUT", "/v2/keys/dir", "value=x", Cmp::Body),
    ("POST", "/v2/keys/queue", "value=job1", Cmp::Body),
    ("POST", "/v2/keys/queue", "value=job2", Cmp::Body),
    ("GET", "/v2/keys/queue?sorted=true", "", Cmp::Body),
    ("PUT", "/v2/keys/ttl", "value=t&ttl=100", Cmp::NoTtl),
    (
        "PUT",
        "/v2/keys/ttl",
        "ttl=200&refresh=true&prevExist=true",
        Cmp::NoTtl,
    ),
    ("PUT", "/v2/keys/ttl", "value=t&ttl=abc", Cmp::Body),
    (
        "GET",
        "/v2/keys/testkey?wait=true&waitIndex=4",
        "",
        Cmp::Body,
    ),
    (
        "GET",
        "/v2/keys/dir?wait=true&recursive=true&waitIndex=10",
        "",
        Cmp::Body,
    ),
    ("DELETE", "/v2/keys/testkey?prevValue=world", "", Cmp::Body),
    ("DELETE", "/v2/keys/dir?recursive=true", "", Cmp::Body),
    ("GET", "/v2/keys/dir", "", Cmp::Body),
    ("GET", "/v2/keys//testkey?x=1&y=2", "", Cmp::Body),
    ("PUT", "/v2/keys//testkey", "", Cmp::Body),
    ("PATCH", "/v2/keys/testkey", "", Cmp::Body),
    ("GET", "/v2/nothing", "", Cmp::Body),
    ("GET", "/v2/machines/extra", "", Cmp::Body),
    // v2 member changes (last: the added member leaves the cluster without
    // a quorum). `json:` bodies go as application/json.
    ("DELETE", "/v2/members/1234", "", Cmp::Body),
    ("DELETE", "/v2/members/zz", "", Cmp::Body),
    (
        "PUT",
        "/v2/members/1234",
        r#"json:{"peerURLs":["http://127.0.0.1:29997"]}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v2/members",
        r#"json:{"peerURLs":["http://localhost:2380"]}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v2/members",
        r#"{"peerURLs":["http://127.0.0.1:29998"]}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v2/members",
        r#"json:{"peerURLs":["bad"]}"#,
        Cmp::Body,
    ),
    (
        "POST",
        "/v2/members",
        r#"json:{"peerURLs":["http://127.0.0.1:29999"]}"#,
        Cmp::Body,
    ),
];

/// Status and body of one request (a stream: what came in one second).
fn curl(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let (json, body) = match body.strip_prefix("json:") {
        Some(b) => (vec!["-H", "Content-Type: application/json"], b),
        None => (vec![], body),
    };
    let out = Command::new("curl")
        .args([
            "-s",
            "-N",
            "--max-time",
            "1",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
        ])
        .args(json)
        .args(if body.is_empty() {
            vec![]
        } else {
            vec!["-d", body]
        })
        .arg(format!("{base}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("curl's -w line");
    (status.trim().parse().expect("a status"), body.to_string())
}

/// Replaces what differs per server in every JSON value of `body`.
fn normalise(body: &str, cmp: Cmp) -> String {
    let mut out = Vec::new();
    let values = serde_json::Deserializer::from_str(body).into_iter::<Value>();
    for v in values {
        let Ok(mut v) = v else {
            return body.to_string();
        };
        scrub(&mut v, cmp);
        if cmp == Cmp::CodeOnly {
            v = v.get("code").cloned().unwrap_or(v);
        }
        out.push(v.to_string());
    }
    out.join("\n")
}

fn scrub(v: &mut Value, cmp: Cmp) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                // `id`: a member v2 added (ids are drawn at random).
                let per_server =
                    matches!(k.as_str(), "cluster_id" | "member_id" | "raft_term" | "id");
                let ticking = matches!(k.as_str(), "TTL" | "ttl" | "expiration");
                if per_server || (cmp == Cmp::NoTtl && ticking) {
                    *x = Value::from("N");
                } else {
                    scrub(x, cmp);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, cmp)),
        _ => {}
    }
}

#[test]
fn json_gateway_and_v2_answer_as_etcd() {
    if !common::real_etcd_present(REAL_ETCD, "GATEWAY DIFFERENTIAL TEST") {
        return;
    }
    let (ours_dir, real_dir) = (temp_dir("gw-ours"), temp_dir("gw-real"));
    let ours = Server::spawn(&ours_dir, free_port(), free_port(), &["--enable-v2"]);
    let real = Server::spawn_bin(
        REAL_ETCD,
        None,
        &real_dir,
        free_port(),
        free_port(),
        &["--enable-v2"],
    );
    ours.wait_ready();
    real.wait_ready();
    let mut diffs = Vec::new();
    for (i, (method, path, body, cmp)) in CASES.iter().enumerate() {
        let a = curl(&ours.endpoint(), method, path, body);
        let b = curl(&real.endpoint(), method, path, body);
        let (a, b) = ((a.0, normalise(&a.1, *cmp)), (b.0, normalise(&b.1, *cmp)));
        if a != b {
            diffs.push(format!(
                "case {i}: {method} {path} {body}\n  oxcd: {} {}\n  etcd: {} {}",
                a.0, a.1, b.0, b.1
            ));
        }
    }
    drop((ours, real));
    let _ = std::fs::remove_dir_all(&ours_dir);
    let _ = std::fs::remove_dir_all(&real_dir);
    assert!(
        diffs.is_empty(),
        "{} of {} HTTP cases differ:\n{}",
        diffs.len(),
        CASES.len(),
        diffs.join("\n")
    );
    eprintln!("{} HTTP cases agree with etcd 3.4", CASES.len());
}
