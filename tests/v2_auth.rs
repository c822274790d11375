//! Differential test of v2 auth: the same HTTP requests (raw, over a
//! `TcpStream`, so every header is seen) and the same `ETCDCTL_API=2`
//! etcdctl commands, one by one, to a fresh oxcd and a fresh real etcd 3.4
//! (single member, `--enable-v2`), must get the same status, headers and
//! body, v2 indexes included. Only what is per server is replaced by a
//! placeholder: the cluster id, and (in `/v2/members`) the member's id and
//! URLs. Left out: `Date`, the CORS headers, and raft's term and index
//! (`X-Raft-Term`, `X-Raft-Index`): those count raft's own start-up
//! entries, whose number depends on when the cluster version is set after
//! start-up, on both (they agree once both members have settled).
//!
//! The store's counters (`/v2/stats/store`) are compared as the change
//! from start-up to the end: every auth check reads `/2/enabled` (and the
//! user and its roles) through the store, so they count the same reads as
//! etcd's. (A fresh etcd has one failed get of its own before any request.)
//!
//! The oracle is `/usr/bin/etcd` and `/usr/bin/etcdctl`; a missing one
//! fails under `CI=true` or `OXCD_REQUIRE_DIFFERENTIAL=1`.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{free_port, temp_dir, Server, REAL_ETCD};
use serde_json::Value;

const REAL_ETCDCTL: &str = "/usr/bin/etcdctl";

/// `(method, path, user:password, body)`: a body is sent as curl's `-d`
/// sends it (form-encoded; the auth endpoints read it as JSON anyway).
const CASES: &[(&str, &str, Option<&str>, &str)] = &[
    // Before anything: reads write nothing, the root role is built in.
    ("GET", "/v2/auth/enable", None, ""),
    ("GET", "/v2/auth/users", None, ""),
    ("GET", "/v2/auth/roles", None, ""),
    ("GET", "/v2/auth/roles/root", None, ""),
    ("GET", "/v2/auth/roles/guest", None, ""),
    ("GET", "/v2/auth/users/root", None, ""),
    ("PUT", "/v2/auth/enable", None, ""),
    ("DELETE", "/v2/auth/enable", None, ""),
    ("PUT", "/v2/keys/before", None, "value=1"),
    // Users. The first write makes /2, /2/users, /2/roles, /2/enabled.
    (
        "PUT",
        "/v2/auth/users/root",
        None,
        r#"{"user":"root","password":"pw"}"#,
    ),
    ("PUT", "/v2/keys/after", None, "value=1"),
    (
        "PUT",
        "/v2/auth/users/root",
        None,
        r#"{"user":"root","password":"pw2"}"#,
    ),
    (
        "PUT",
        "/v2/auth/users/root",
        None,
        r#"{"user":"root","roles":["x"],"password":"pw"}"#,
    ),
    (
        "PUT",
        "/v2/auth/users/bob",
        None,
        r#"{"user":"bob","roles":["x"],"password":"b"}"#,
    ),
    ("PUT", "/v2/auth/users/alice", None, r#"{"user":"alice"}"#),
    (
        "PUT",
        "/v2/auth/users/alice",
        None,
        r#"{"user":"alice","password":"a"}"#,
    ),
    ("PUT", "/v2/auth/users/alice", None, r#"{"user":"alice"}"#),
    ("PUT", "/v2/auth/users/alice", None, r#"{"user":"alice"}"#),
    (
        "PUT",
        "/v2/auth/users/alice",
        None,
        r#"{"user":"alice","grant":["rw","ghost"]}"#,
    ),
    (
        "PUT",
        "/v2/auth/users/alice",
        None,
        r#"{"user":"alice","grant":["rw"]}"#,
    ),
    (
        "PUT",
        "/v2/auth/users/alice",
        None,
        r#"{"user":"alice","revoke":["zz"]}"#,
    ),
    (
        "PUT",
        "/v2/auth/users/alice",
        None,
        r#"{"user":"alice","revoke":["zz"],"roles":["a"]}"#,
    ),
    (
        "PUT",
        "/v2/auth/users/alice",
        None,
        r#"{"USER":"alice","Revoke":["ghost"]}"#,
    ),
    (
        "PUT",
        "/v2/auth/users/carol",
        None,
        r#"{"user":"carol","grant":["rw"]}"#,
    ),
    (
        "PUT",
        "/v2/auth/users/carol",
        None,
        r#"{"user":"alice","password":"c"}"#,
    ),
    ("PUT", "/v2/auth/users/carol", None, "{"),
    ("PUT", "/v2/auth/users/carol", None, "[1]"),
    ("PUT", "/v2/auth/users/carol", None, ""),
    (
        "PUT",
        "/v2/auth/users/carol",
        None,
        r#"{"user":"carol","password":"c"} junk"#,
    ),
    ("DELETE", "/v2/auth/users/carol", None, ""),
    ("DELETE", "/v2/auth/users/carol", None, ""),
    // Roles.
    (
        "PUT",
        "/v2/auth/roles/rw",
        None,
        r#"{"role":"rw","permissions":{"kv":{"read":["/foo/*"]}}}"#,
    ),
    (
        "PUT",
        "/v2/auth/roles/rw",
        None,
        r#"{"role":"rw","revoke":{"kv":{"read":["/nope"]}}}"#,
    ),
    (
        "PUT",
        "/v2/auth/roles/rw",
        None,
        r#"{"role":"rw","revoke":{"kv":{"read":["/nope"]}}}"#,
    ),
    (
        "PUT",
        "/v2/auth/roles/rw",
        None,
        r#"{"role":"rw","grant":{"kv":{"read":["/bar"],"write":["/foo/*"]}}}"#,
    ),
    (
        "PUT",
        "/v2/auth/roles/rw",
        None,
        r#"{"role":"rw","grant":{"kv":{"read":["/bar"]}}}"#,
    ),
    (
        "PUT",
        "/v2/auth/roles/rw",
        None,
        r#"{"role":"rw","permissions":{"kv":{"read":["/x"]}},"grant":{"kv":{"read":["/y"]}}}"#,
    ),
    ("PUT", "/v2/auth/roles/rw", None, r#"{"role":"rx"}"#),
    ("PUT", "/v2/auth/roles/rw", None, r#"{"role":"rw"}"#),
    (
        "PUT",
        "/v2/auth/roles/e",
        None,
        r#"{"role":"e","grant":{}}"#,
    ),
    ("GET", "/v2/auth/roles/e", None, ""),
    (
        "PUT",
        "/v2/auth/roles/e",
        None,
        r#"{"role":"e","grant":{"kv":{"read":["/q"]}}}"#,
    ),
    (
        "PUT",
        "/v2/auth/roles/no",
        None,
        r#"{"role":"no","grant":{"kv":{"read":["/a"]}}}"#,
    ),
    ("PUT", "/v2/auth/roles/root", None, r#"{"role":"root"}"#),
    ("DELETE", "/v2/auth/roles/root", None, ""),
    ("DELETE", "/v2/auth/roles/no", None, ""),
    ("DELETE", "/v2/auth/roles/e", None, ""),
    // Methods and paths.
    ("POST", "/v2/auth/roles/rw", None, ""),
    ("PUT", "/v2/auth/roles", None, ""),
    ("HEAD", "/v2/auth/users", None, ""),
    ("GET", "/v2/auth/roles/a/b", None, ""),
    ("GET", "/v2/auth/users/a/b", None, ""),
    ("GET", "/v2/auth/enable/", None, ""),
    ("GET", "/v2/auth", None, ""),
    ("GET", "/v2/auth/", None, ""),
    ("GET", "/v2/auth/roles/", None, ""),
    ("GET", "/v2/auth/users/", None, ""),
    ("GET", "/v2/auth//users", None, ""),
    ("GET", "/v2/auth/users/root?x=%zz", None, ""),
    ("GET", "/v2/auth/users/alice", None, ""),
    ("GET", "/v2/auth/users", None, ""),
    ("GET", "/v2/auth/roles", None, ""),
    // Enable: the default guest role appears; then credentials count.
    ("PUT", "/v2/auth/enable", None, ""),
    ("PUT", "/v2/auth/enable", None, ""),
    ("GET", "/v2/auth/enable", None, ""),
    ("PUT", "/v2/auth/enable", Some("root:pw2"), ""),
    ("GET", "/v2/auth/roles/guest", None, ""),
    ("GET", "/v2/auth/roles/guest", Some("root:wrong"), ""),
    ("GET", "/v2/auth/roles/guest", Some("root:pw2"), ""),
    ("GET", "/v2/auth/users", Some("alice:a"), ""),
    ("DELETE", "/v2/auth/users/root", Some("root:pw2"), ""),
    // Keys: guest (everything, by default), then alice's globs.
    ("GET", "/v2/keys/foo/x", None, ""),
    ("PUT", "/v2/keys/foo/x", None, "value=guest"),
    ("PUT", "/v2/keys/foo/y", Some("alice:a"), "value=alice"),
    (
        "GET",
        "/v2/keys/foo?recursive=true&sorted=true",
        Some("alice:a"),
        "",
    ),
    ("GET", "/v2/keys/bar?recursive=true", Some("alice:a"), ""),
    ("GET", "/v2/keys/bar", Some("alice:a"), ""),
    ("GET", "/v2/keys/foo/x", Some("alice:bad"), ""),
    ("GET", "/v2/keys/foo/x", Some("nobody:x"), ""),
    ("PUT", "/v2/keys/other", Some("alice:a"), "value=no"),
    ("HEAD", "/v2/keys/other", Some("alice:a"), ""),
    ("HEAD", "/v2/keys/foo/x", Some("alice:a"), ""),
    ("GET", "/v2/keys", Some("alice:a"), ""),
    (
        "GET",
        "/v2/keys/foo/x?wait=true&waitIndex=1",
        Some("alice:a"),
        "",
    ),
    ("PUT", "/v2/keys/foo/x", Some("alice:a"), "value=x&ttl=abc"),
    // The guest role narrowed, then gone.
    (
        "PUT",
        "/v2/auth/roles/guest",
        Some("root:pw2"),
        r#"{"role":"guest","revoke":{"kv":{"write":["/*"]}}}"#,
    ),
    ("PUT", "/v2/keys/foo/x", None, "value=guest2"),
    ("GET", "/v2/keys/foo/x", None, ""),
    // Sorted: etcd lists a directory's children in Go's map order, which
    // changes from run to run.
    ("GET", "/v2/keys/foo?recursive=true&sorted=true", None, ""),
    ("DELETE", "/v2/auth/roles/guest", Some("root:pw2"), ""),
    ("GET", "/v2/keys/foo/x", None, ""),
    ("GET", "/v2/keys/foo/x", Some("root:pw2"), ""),
    (
        "DELETE",
        "/v2/keys/foo?recursive=true",
        Some("root:pw2"),
        "",
    ),
    // Members: reads free, changes need root; stats free.
    ("GET", "/v2/members", Some("alice:a"), ""),
    ("PUT", "/v2/members/1", Some("alice:a"), ""),
    ("DELETE", "/v2/members/1", None, ""),
    ("GET", "/v2/stats/leader", None, ""),
    ("GET", "/v2/machines", None, ""),
    // Disable.
    ("DELETE", "/v2/auth/enable", Some("alice:a"), ""),
    ("DELETE", "/v2/auth/enable", Some("root:pw2"), ""),
    ("DELETE", "/v2/auth/enable", Some("root:pw2"), ""),
    ("PUT", "/v2/keys/foo/x", None, "value=free"),
    ("DELETE", "/v2/auth/users/root", None, ""),
    ("GET", "/v2/auth/users", None, ""),
];

/// The etcdctl v2 commands (`ETCDCTL_API=2`), after the cases: the flow of
/// etcd's v2 auth guide.
const CTL: &[&[&str]] = &[
    &["user", "add", "root:rootpw"],
    &["user", "list"],
    &["role", "add", "ops"],
    &["role", "grant", "--path", "/ops/*", "--readwrite", "ops"],
    &["role", "grant", "--path", "/ops/*", "--read", "ops"],
    &["role", "get", "ops"],
    &["role", "list"],
    &["user", "add", "dave:davepw"],
    &["user", "grant", "--roles", "ops", "dave"],
    &["user", "get", "dave"],
    &["auth", "enable"],
    &["set", "/ops/a", "1"],
    &["-u", "dave:davepw", "set", "/ops/a", "2"],
    &["-u", "dave:davepw", "get", "/ops/a"],
    &["-u", "dave:wrong", "get", "/ops/a"],
    &["-u", "dave:davepw", "set", "/elsewhere", "2"],
    &["-u", "dave:davepw", "user", "list"],
    &["-u", "root:rootpw", "user", "list"],
    &[
        "-u",
        "root:rootpw",
        "role",
        "revoke",
        "--path",
        "/ops/*",
        "--write",
        "ops",
    ],
    &["-u", "dave:davepw", "set", "/ops/a", "3"],
    &["-u", "root:rootpw", "get", "/ops/a"],
    &[
        "-u",
        "root:rootpw",
        "user",
        "revoke",
        "--roles",
        "ops",
        "dave",
    ],
    &["-u", "root:rootpw", "user", "remove", "dave"],
    &["-u", "root:rootpw", "role", "remove", "ops"],
    &["-u", "root:rootpw", "auth", "disable"],
    &["auth", "disable"],
];

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// One request over its own connection, read to the end.
fn http(port: u16, method: &str, path: &str, user: Option<&str>, body: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(u) = user {
        head.push_str(&format!("Authorization: Basic {}\r\n", base64(u)));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn base64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (x as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// What is per server, replaced.
struct Per {
    port: u16,
    peer: u16,
    member_id: String,
}

impl Per {
    fn scrub(&self, s: &str) -> String {
        s.replace(&self.member_id, "MEMBER")
            .replace(&format!(":{}", self.port), ":CLIENT")
            .replace(&format!(":{}", self.peer), ":PEER")
    }
}

/// An answer as compared: status, the headers that are not per server
/// or per moment, sorted, and the body.
fn shown(a: &Answer, per: &Per) -> String {
    let mut headers: Vec<String> = a
        .headers
        .iter()
        .filter(|(k, _)| {
            !matches!(k.as_str(), "date" | "x-raft-term" | "x-raft-index")
                && !k.starts_with("access-control-")
        })
        .map(|(k, v)| match k.as_str() {
            "x-etcd-cluster-id" => format!("{k}: CID"),
            _ => format!("{k}: {v}"),
        })
        .collect();
    headers.sort();
    per.scrub(&format!("{}\n{}\n{}", a.status, headers.join("\n"), a.body))
}

fn member_id(port: u16) -> String {
    let a = http(port, "GET", "/v2/members", None, "");
    let v: Value = serde_json::from_str(&a.body).expect("members JSON");
    v["members"][0]["id"].as_str().unwrap().to_string()
}

fn store_stats(port: u16) -> serde_json::Map<String, Value> {
    let a = http(port, "GET", "/v2/stats/store", None, "");
    match serde_json::from_str(&a.body).expect("stats JSON") {
        Value::Object(m) => m,
        _ => panic!("stats"),
    }
}

fn stats_delta(
    before: &serde_json::Map<String, Value>,
    after: &serde_json::Map<String, Value>,
) -> String {
    let mut out = Vec::new();
    for (k, v) in after {
        let d = v.as_i64().unwrap() - before[k].as_i64().unwrap();
        out.push(format!("{k}={d}"));
    }
    out.join(" ")
}

fn etcdctl(port: u16, args: &[&str]) -> String {
    let o = Command::new(REAL_ETCDCTL)
        .env("ETCDCTL_API", "2")
        .arg("--endpoints")
        .arg(format!("http://127.0.0.1:{port}"))
        .args(args)
        .output()
        .expect("etcdctl runs");
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn v2_auth_answers_as_etcd() {
    if !common::real_etcd_present(REAL_ETCD, "V2 AUTH DIFFERENTIAL TEST")
        || !common::real_etcd_present(REAL_ETCDCTL, "V2 AUTH DIFFERENTIAL TEST")
    {
        return;
    }
    let (ours_dir, real_dir) = (temp_dir("v2auth-ours"), temp_dir("v2auth-real"));
    let (op, opeer, rp, rpeer) = (free_port(), free_port(), free_port(), free_port());
    let ours = Server::spawn(&ours_dir, op, opeer, &["--enable-v2"]);
    let real = Server::spawn_bin(REAL_ETCD, None, &real_dir, rp, rpeer, &["--enable-v2"]);
    ours.wait_ready();
    real.wait_ready();
    let servers = [
        Per {
            port: op,
            peer: opeer,
            member_id: member_id(op),
        },
        Per {
            port: rp,
            peer: rpeer,
            member_id: member_id(rp),
        },
    ];
    let before = [store_stats(op), store_stats(rp)];
    let mut diffs = Vec::new();
    for (i, (method, path, user, body)) in CASES.iter().enumerate() {
        let [o, r] =
            [&servers[0], &servers[1]].map(|s| shown(&http(s.port, method, path, *user, body), s));
        if o != r {
            diffs.push(format!(
                "case {i}: {method} {path} {user:?} {body}\n  oxcd: {o:?}\n  etcd: {r:?}"
            ));
        }
    }
    let after = [store_stats(op), store_stats(rp)];
    let od = stats_delta(&before[0], &after[0]);
    let rd = stats_delta(&before[1], &after[1]);
    if od != rd {
        diffs.push(format!(
            "store stats moved differently\n  oxcd: {od}\n  etcd: {rd}"
        ));
    }

    // An unauthorised write is refused, and the data stays as it was.
    for s in &servers {
        let p = s.port;
        http(
            p,
            "PUT",
            "/v2/auth/users/root",
            None,
            r#"{"user":"root","password":"pw"}"#,
        );
        http(
            p,
            "PUT",
            "/v2/auth/roles/guest",
            None,
            r#"{"role":"guest","permissions":{"kv":{"read":["/*"]}}}"#,
        );
        assert_eq!(
            http(p, "PUT", "/v2/keys/guarded", None, "value=old").status,
            201
        );
        assert_eq!(http(p, "PUT", "/v2/auth/enable", None, "").status, 200);
        let refused = http(p, "PUT", "/v2/keys/guarded", None, "value=new");
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(
            http(p, "DELETE", "/v2/keys/guarded", Some("root:nope"), "").status,
            401
        );
        let now = http(p, "GET", "/v2/keys/guarded", Some("root:pw"), "");
        assert!(now.body.contains(r#""value":"old""#), "{}", now.body);
        assert_eq!(
            http(p, "DELETE", "/v2/auth/enable", Some("root:pw"), "").status,
            200
        );
        http(p, "DELETE", "/v2/auth/users/root", None, "");
        http(p, "DELETE", "/v2/auth/roles/guest", None, "");
    }

    for args in CTL {
        let [o, r] = [&servers[0], &servers[1]].map(|s| s.scrub(&etcdctl(s.port, args)));
        if o != r {
            diffs.push(format!("etcdctl {args:?}\n  oxcd: {o:?}\n  etcd: {r:?}"));
        }
    }
    drop((ours, real));
    let _ = std::fs::remove_dir_all(&ours_dir);
    let _ = std::fs::remove_dir_all(&real_dir);
    let total = CASES.len() + CTL.len() + 1;
    assert!(
        diffs.is_empty(),
        "{} of {total} v2 auth cases differ from etcd 3.4:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    eprintln!(
        "{} HTTP cases, {} etcdctl commands and the store counters agree with etcd 3.4",
        CASES.len(),
        CTL.len()
    );
}
