//! The authorization matrix: the RPCs of etcd's KV, Lease, Watch,
//! Maintenance, Cluster and Auth services, sent over gRPC by callers with
//! and without the permission each needs (and with no token or an invalid
//! one), to a fresh oxcd and a fresh real etcd 3.4.23 (both single
//! members, `--bcrypt-cost 4`).
//!
//! Three things are asserted:
//!
//! 1. every oxcd cell equals the hand-written expectation in [`EXPECTED`],
//!    so a permission check that disappears fails here;
//! 2. every cell equals etcd 3.4.23's answer, except the cells listed in
//!    [`KNOWN_DIFFERENCES`], where oxcd deliberately follows a later 3.4
//!    security fix; the set of differing cells must be exactly that list;
//! 3. nothing a caller without read permission on a key receives carries
//!    that key's value (range `kvs`, `prev_kv`s, txn responses, watch
//!    events), on oxcd in every cell and on etcd outside the known
//!    differences (where 3.4.23 does leak; the printout shows where).
//!
//! A cell is `OK` with what the caller was shown (keys and values, roles,
//! a watch's created/canceled answer; no ids, revisions or TTLs), or the
//! error as `Code: message`. `cargo test --test auth_matrix -- --nocapture`
//! prints the whole matrix, both servers side by side.
//!
//! The oracle is `/usr/bin/etcd` (Debian's etcd-server); as in
//! `tests/differential_grpc.rs`, a missing oracle fails under `CI=true` or
//! `OXCD_REQUIRE_DIFFERENTIAL=1`, and elsewhere only the comparison with
//! etcd is reported as not run (oxcd is still held to [`EXPECTED`]).

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{free_port, temp_dir, Server};
use oxcd::pb::authpb::{permission, Permission, UserAddOptions};
use oxcd::pb::etcdserverpb::alarm_request::AlarmAction;
use oxcd::pb::etcdserverpb::auth_client::AuthClient;
use oxcd::pb::etcdserverpb::cluster_client::ClusterClient;
use oxcd::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd::pb::etcdserverpb::kv_client::KvClient;
use oxcd::pb::etcdserverpb::lease_client::LeaseClient;
use oxcd::pb::etcdserverpb::maintenance_client::MaintenanceClient;
use oxcd::pb::etcdserverpb::watch_client::WatchClient;
use oxcd::pb::etcdserverpb::{self as pb, request_op, response_op, watch_request};
use oxcd::pb::etcdserverpb::{
    AlarmRequest, AlarmType, CompactionRequest, Compare, DeleteRangeRequest, PutRequest,
    RangeRequest, RequestOp, ResponseOp, TxnRequest, WatchCreateRequest, WatchRequest,
    WatchResponse,
};
use oxcd::pb::mvccpb::KeyValue;
use oxcd::rt::stream::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use common::REAL_ETCD;
const FLAGS: &[&str] = &["--bcrypt-cost", "4"];
/// Every lease here outlives the test.
const TTL: i64 = 600;
/// Leases the setup grants, with the keys it attaches to them.
const LEASE_W: i64 = 0x7701; // w/leased: writer may write it, reader may not
const LEASE_R: i64 = 0x7702; // r/leased: reader may read it, writer may not write it
const LEASE_R2: i64 = 0x7703; // r/leased2: only for the txn put with a lease
const LEASE_EMPTY_1: i64 = 0x7704; // no keys
const LEASE_EMPTY_2: i64 = 0x7705; // no keys
const LEASE_UNKNOWN: i64 = 0x7799; // never granted
/// A member id no member has.
const NO_MEMBER: u64 = 0x1234;
/// The peer URL a member started without `--initial-advertise-peer-urls`
/// advertises (both servers' default): adding it again must fail.
const ADVERTISED_PEER_URL: &str = "http://localhost:2380";

/// Who sends a request: a user's token, no token, or a token no server issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Root,
    Reader,
    Writer,
    Nobody,
    Anon,
    BadToken,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Root => "root",
            Who::Reader => "reader",
            Who::Writer => "writer",
            Who::Nobody => "nobody",
            Who::Anon => "anonymous",
            Who::BadToken => "bad token",
        }
    }

    /// Whether this caller may read `key` (the setup's roles): what a
    /// response may show it.
    fn may_read(self, key: &[u8]) -> bool {
        match self {
            Who::Root => true,
            Who::Reader => key.starts_with(b"r/") || key == b"both",
            Who::Writer => key == b"both",
            Who::Nobody | Who::Anon | Who::BadToken => false,
        }
    }
}

use Who::{Anon, BadToken, Nobody, Reader, Root, Writer};

/// The value every write of `key` writes, so writes in the matrix change
/// no value and a leaked value says whose it was.
fn value_of(key: &str) -> String {
    format!("v-{key}")
}

/// One server under test, with the tokens its users got.
struct Ctx {
    ch: Channel,
    tokens: Vec<(Who, String)>,
}

impl Ctx {
    fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::Anon => None,
            Who::BadToken => Some("not-a-token".to_string()),
            _ => self
                .tokens
                .iter()
                .find(|(w, _)| *w == who)
                .map(|(_, t)| t.clone()),
        }
    }

    fn req<T>(&self, who: Who, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        if let Some(t) = self.token(who) {
            r.metadata_mut()
                .insert("token", t.parse().expect("a token is ASCII"));
        }
        r
    }

    fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.ch.clone())
    }
    fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.ch.clone())
    }
    fn auth(&self) -> AuthClient<Channel> {
        AuthClient::new(self.ch.clone())
    }
    fn maint(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.ch.clone())
    }
    fn cluster(&self) -> ClusterClient<Channel> {
        ClusterClient::new(self.ch.clone())
    }
}

/// What a caller got: the cell's text, and every key-value it was shown.
struct Outcome {
    text: String,
    kvs: Vec<KeyValue>,
}

fn ok(text: impl Into<String>) -> Outcome {
    Outcome {
        text: text.into(),
        kvs: Vec::new(),
    }
}

fn error(s: &Status) -> Outcome {
    ok(format!("{:?}: {}", s.code(), s.message()))
}

/// `OK` plus `f`'s description of the response, or the error.
fn outcome<T>(r: Result<Response<T>, Status>, f: impl FnOnce(T) -> Outcome) -> Outcome {
    match r {
        Ok(r) => f(r.into_inner()),
        Err(s) => error(&s),
    }
}

fn kv_text(kv: &KeyValue) -> String {
    let k = String::from_utf8_lossy(&kv.key);
    if kv.value.is_empty() {
        k.into_owned()
    } else {
        format!("{k}={}", String::from_utf8_lossy(&kv.value))
    }
}

fn kvs_text(kvs: &[KeyValue]) -> String {
    let all: Vec<String> = kvs.iter().map(kv_text).collect();
    format!("[{}]", all.join(", "))
}

fn strs(v: &[Vec<u8>]) -> String {
    let all: Vec<String> = v
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    format!("[{}]", all.join(", "))
}

// ------------------------------------------------------------------ requests

fn put_req(key: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value_of(key).into(),
        ..Default::default()
    }
}

fn put_op(p: PutRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(p)),
    }
}

fn range_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: key.into(),
            ..Default::default()
        })),
    }
}

fn delete_op(key: &str, prev_kv: bool) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestDeleteRange(
            DeleteRangeRequest {
                key: key.into(),
                prev_kv,
                ..Default::default()
            },
        )),
    }
}

fn txn_op(t: TxnRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestTxn(t)),
    }
}

/// `version(key) > 0`: true for every key the setup wrote.
fn exists(key: &str) -> Compare {
    Compare {
        result: CompareResult::Greater as i32,
        target: CompareTarget::Version as i32,
        key: key.into(),
        range_end: vec![],
        target_union: Some(TargetUnion::Version(0)),
    }
}

fn txn(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
    TxnRequest {
        compare,
        success,
        failure,
    }
}

fn perm(t: permission::Type, key: &str, end: &str) -> Permission {
    Permission {
        perm_type: t as i32,
        key: key.into(),
        range_end: end.into(),
    }
}

fn perm_text(p: &Permission) -> String {
    let t = oxcd::auth::perm_type_name(p.perm_type);
    let k = String::from_utf8_lossy(&p.key);
    if p.range_end.is_empty() {
        format!("{t} {k}")
    } else {
        format!("{t} {k}..{}", String::from_utf8_lossy(&p.range_end))
    }
}

// ------------------------------------------------------------------ the RPCs

async fn range(cx: &Ctx, who: Who, key: &str, end: &str) -> Outcome {
    let r = RangeRequest {
        key: key.into(),
        range_end: end.into(),
        ..Default::default()
    };
    outcome(cx.kv().range(cx.req(who, r)).await, |r| Outcome {
        text: format!("OK {}", kvs_text(&r.kvs)),
        kvs: r.kvs,
    })
}

async fn put(cx: &Ctx, who: Who, p: PutRequest) -> Outcome {
    outcome(cx.kv().put(cx.req(who, p)).await, |r| match r.prev_kv {
        Some(kv) => Outcome {
            text: format!("OK prev {}", kv_text(&kv)),
            kvs: vec![kv],
        },
        None => ok("OK"),
    })
}

async fn delete(cx: &Ctx, who: Who, d: DeleteRangeRequest) -> Outcome {
    outcome(cx.kv().delete_range(cx.req(who, d)).await, |r| Outcome {
        text: format!("OK deleted {} prev {}", r.deleted, kvs_text(&r.prev_kvs)),
        kvs: r.prev_kvs,
    })
}

/// One txn response op, its nested ones included; collects what it shows.
fn op_text(op: &ResponseOp, kvs: &mut Vec<KeyValue>) -> String {
    match &op.response {
        Some(response_op::Response::ResponseRange(r)) => {
            kvs.extend(r.kvs.iter().cloned());
            format!("range {}", kvs_text(&r.kvs))
        }
        Some(response_op::Response::ResponsePut(p)) => match &p.prev_kv {
            Some(kv) => {
                kvs.push(kv.clone());
                format!("put prev {}", kv_text(kv))
            }
            None => "put".to_string(),
        },
        Some(response_op::Response::ResponseDeleteRange(d)) => {
            kvs.extend(d.prev_kvs.iter().cloned());
            format!("delete {} prev {}", d.deleted, kvs_text(&d.prev_kvs))
        }
        Some(response_op::Response::ResponseTxn(t)) => {
            let ops: Vec<String> = t.responses.iter().map(|o| op_text(o, kvs)).collect();
            format!("txn {} [{}]", t.succeeded, ops.join(", "))
        }
        None => "none".to_string(),
    }
}

async fn txn_call(cx: &Ctx, who: Who, t: TxnRequest) -> Outcome {
    outcome(cx.kv().txn(cx.req(who, t)).await, |r| {
        let mut kvs = Vec::new();
        let ops: Vec<String> = r.responses.iter().map(|o| op_text(o, &mut kvs)).collect();
        Outcome {
            text: format!("OK {} [{}]", r.succeeded, ops.join(", ")),
            kvs,
        }
    })
}

async fn compact(cx: &Ctx, who: Who, revision: i64) -> Outcome {
    let c = CompactionRequest {
        revision,
        physical: false,
    };
    outcome(cx.kv().compact(cx.req(who, c)).await, |_| ok("OK"))
}

async fn lease_grant(cx: &Ctx, who: Who) -> Outcome {
    let g = pb::LeaseGrantRequest { ttl: TTL, id: 0 };
    outcome(cx.lease().lease_grant(cx.req(who, g)).await, |r| {
        ok(format!("OK ttl {}", r.ttl))
    })
}

async fn lease_revoke(cx: &Ctx, who: Who, id: i64) -> Outcome {
    let r = pb::LeaseRevokeRequest { id };
    outcome(cx.lease().lease_revoke(cx.req(who, r)).await, |_| ok("OK"))
}

async fn lease_ttl(cx: &Ctx, who: Who, id: i64, keys: bool) -> Outcome {
    let r = pb::LeaseTimeToLiveRequest { id, keys };
    outcome(cx.lease().lease_time_to_live(cx.req(who, r)).await, |r| {
        if r.ttl < 0 {
            ok("OK ttl -1 (not found)")
        } else if keys {
            // etcd lists a lease's keys from a Go map: in any order.
            let mut keys = r.keys;
            keys.sort();
            ok(format!("OK granted {} keys {}", r.granted_ttl, strs(&keys)))
        } else {
            ok(format!("OK granted {}", r.granted_ttl))
        }
    })
}

async fn lease_leases(cx: &Ctx, who: Who) -> Outcome {
    let r = pb::LeaseLeasesRequest {};
    outcome(cx.lease().lease_leases(cx.req(who, r)).await, |r| {
        ok(format!("OK {} leases", r.leases.len()))
    })
}

/// A keep-alive stream's first answer.
async fn keep_alive(cx: &Ctx, who: Who, id: i64) -> Outcome {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(pb::LeaseKeepAliveRequest { id }).await.unwrap();
    let call = cx
        .lease()
        .lease_keep_alive(cx.req(who, ReceiverStream(rx)))
        .await;
    let mut stream = match call {
        Ok(s) => s.into_inner(),
        Err(s) => return error(&s),
    };
    let first = tokio::time::timeout(Duration::from_secs(5), stream.message()).await;
    drop(tx);
    match first {
        Ok(Ok(Some(r))) if r.ttl > 0 => ok("OK ttl > 0"),
        Ok(Ok(Some(r))) => ok(format!("OK ttl {}", r.ttl)),
        Ok(Ok(None)) => ok("stream ended"),
        Ok(Err(s)) => error(&s),
        Err(_) => ok("no answer in 5 s"),
    }
}

fn watch_text(r: &WatchResponse, kvs: &mut Vec<KeyValue>) -> String {
    let mut parts = Vec::new();
    if r.created {
        parts.push(format!("created {}", r.watch_id));
    }
    if r.canceled {
        parts.push(format!("canceled: {}", r.cancel_reason));
    }
    for e in &r.events {
        let kind = if e.r#type == 0 { "PUT" } else { "DELETE" };
        let mut s = format!("{kind} {}", e.kv.as_ref().map_or(String::new(), kv_text));
        kvs.extend(e.kv.iter().cloned());
        if let Some(p) = &e.prev_kv {
            s.push_str(&format!(" prev {}", kv_text(p)));
            kvs.push(p.clone());
        }
        parts.push(s);
    }
    parts.join(", ")
}

/// Creates a watch (with `prev_kv`) on one stream, then has root write
/// `then_put` again (the same value) and shows whatever the stream
/// answers within half a second: the create's answer, then the event or
/// nothing.
async fn watch(cx: &Ctx, who: Who, key: &str, end: &str, then_put: &str) -> Outcome {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let create = WatchCreateRequest {
        key: key.into(),
        range_end: end.into(),
        prev_kv: true,
        ..Default::default()
    };
    tx.send(WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(create)),
    })
    .await
    .unwrap();
    let call = WatchClient::new(cx.ch.clone())
        .watch(cx.req(who, ReceiverStream(rx)))
        .await;
    let mut stream = match call {
        Ok(s) => s.into_inner(),
        Err(s) => return error(&s),
    };
    let mut kvs = Vec::new();
    let mut parts = Vec::new();
    match tokio::time::timeout(Duration::from_secs(5), stream.message()).await {
        Ok(Ok(Some(r))) => parts.push(watch_text(&r, &mut kvs)),
        Ok(Ok(None)) => return ok("stream ended"),
        Ok(Err(s)) => return error(&s),
        Err(_) => return ok("no answer in 5 s"),
    }
    cx.kv().put(cx.req(Root, put_req(then_put))).await.unwrap();
    while let Ok(Ok(Some(r))) =
        tokio::time::timeout(Duration::from_millis(500), stream.message()).await
    {
        parts.push(watch_text(&r, &mut kvs));
    }
    drop(tx);
    Outcome {
        text: parts.join("; "),
        kvs,
    }
}

async fn alarm(cx: &Ctx, who: Who, action: AlarmAction) -> Outcome {
    let a = AlarmRequest {
        action: action as i32,
        member_id: NO_MEMBER,
        alarm: AlarmType::None as i32,
    };
    outcome(cx.maint().alarm(cx.req(who, a)).await, |r| {
        let all: Vec<String> = r
            .alarms
            .iter()
            .map(|a| format!("{:#x}:{}", a.member_id, a.alarm))
            .collect();
        ok(format!("OK alarms [{}]", all.join(", ")))
    })
}

async fn authenticate(cx: &Ctx, who: Who, name: &str, password: &str) -> Outcome {
    let a = pb::AuthenticateRequest {
        name: name.into(),
        password: password.into(),
    };
    outcome(cx.auth().authenticate(cx.req(who, a)).await, |r| {
        ok(if r.token.is_empty() {
            "OK no token"
        } else {
            "OK token"
        })
    })
}

// ------------------------------------------------------------------ setup

/// Users, roles, keys and leases, then auth on; the users' tokens.
async fn setup(endpoint: String) -> Ctx {
    let ch = Channel::from_shared(endpoint)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut cx = Ctx {
        ch,
        tokens: Vec::new(),
    };
    let mut auth = cx.auth();
    let users = [
        ("root", "pw-root"),
        ("reader", "pw-reader"),
        ("writer", "pw-writer"),
        ("nobody", "pw-nobody"),
    ];
    for (name, password) in users {
        auth.user_add(pb::AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    auth.user_add(pb::AuthUserAddRequest {
        name: "nopass".into(),
        options: Some(UserAddOptions { no_password: true }),
        ..Default::default()
    })
    .await
    .unwrap();
    let grants = [
        ("reading", perm(permission::Type::Read, "r/", "r0")),
        ("reading", perm(permission::Type::Read, "both", "")),
        ("writing", perm(permission::Type::Write, "w/", "w0")),
        ("writing", perm(permission::Type::Readwrite, "both", "")),
    ];
    for role in ["reading", "writing"] {
        auth.role_add(pb::AuthRoleAddRequest { name: role.into() })
            .await
            .unwrap();
    }
    for (role, p) in grants {
        auth.role_grant_permission(pb::AuthRoleGrantPermissionRequest {
            name: role.into(),
            perm: Some(p),
        })
        .await
        .unwrap();
    }
    for (user, role) in [
        ("root", "root"),
        ("reader", "reading"),
        ("writer", "writing"),
    ] {
        auth.user_grant_role(pb::AuthUserGrantRoleRequest {
            user: user.into(),
            role: role.into(),
        })
        .await
        .unwrap();
    }
    let mut kv = cx.kv();
    for key in ["r/1", "w/1", "both", "w/del", "w/del-prev"] {
        kv.put(put_req(key)).await.unwrap();
    }
    let mut lease = cx.lease();
    for id in [LEASE_W, LEASE_R, LEASE_R2, LEASE_EMPTY_1, LEASE_EMPTY_2] {
        lease
            .lease_grant(pb::LeaseGrantRequest { ttl: TTL, id })
            .await
            .unwrap();
    }
    for (key, id) in [
        ("w/leased", LEASE_W),
        ("r/leased", LEASE_R),
        ("r/leased2", LEASE_R2),
    ] {
        kv.put(PutRequest {
            lease: id,
            ..put_req(key)
        })
        .await
        .unwrap();
    }
    auth.auth_enable(pb::AuthEnableRequest {}).await.unwrap();
    for (who, (name, password)) in [Root, Reader, Writer, Nobody].into_iter().zip(users) {
        let t = auth
            .authenticate(pb::AuthenticateRequest {
                name: name.into(),
                password: password.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .token;
        cx.tokens.push((who, t));
    }
    cx
}

// ------------------------------------------------------------------ the matrix

/// One cell: what a caller got, and any value it was shown but may not read.
struct Cell {
    name: String,
    text: String,
    leaks: Vec<String>,
}

#[derive(Default)]
struct Matrix {
    cells: Vec<Cell>,
}

impl Matrix {
    fn add(&mut self, what: &str, who: Who, o: Outcome) {
        let leaks = o
            .kvs
            .iter()
            .filter(|kv| !kv.value.is_empty() && !who.may_read(&kv.key))
            .map(kv_text)
            .collect();
        self.cells.push(Cell {
            name: format!("{what} | {}", who.name()),
            text: o.text,
            leaks,
        });
    }
}

/// Runs every cell against the server at `endpoint`, in one fixed order:
/// cells write, so a later cell sees what earlier ones did (the same on
/// both servers, except where a known difference let etcd write what oxcd
/// refused; those writes go to keys and leases no later cell looks at).
async fn run_matrix(endpoint: String) -> Vec<Cell> {
    let cx = setup(endpoint).await;
    let mut m = Matrix::default();

    // ---- Range: a key, a prefix, a range reaching past the permission.
    for who in [Root, Reader, Writer, Nobody, Anon, BadToken] {
        m.add("Range r/1", who, range(&cx, who, "r/1", "").await);
    }
    for who in [Reader, Writer, Nobody] {
        m.add("Range both", who, range(&cx, who, "both", "").await);
    }
    for who in [Root, Writer] {
        m.add("Range w/1", who, range(&cx, who, "w/1", "").await);
    }
    for who in [Root, Reader, Writer] {
        m.add("Range prefix r/", who, range(&cx, who, "r/", "r0").await);
    }
    for who in [Root, Reader] {
        m.add("Range [r/, s)", who, range(&cx, who, "r/", "s").await);
    }

    // ---- Compact: anyone may (etcd 3.4.23); each caller one revision on.
    for (rev, who) in (2..).zip([Root, Reader, Nobody, Anon, BadToken]) {
        m.add("Compact", who, compact(&cx, who, rev).await);
    }

    // ---- Put.
    for who in [Root, Writer, Reader, Nobody, Anon, BadToken] {
        m.add("Put w/new", who, put(&cx, who, put_req("w/new")).await);
    }
    for who in [Writer, Reader] {
        m.add("Put both", who, put(&cx, who, put_req("both")).await);
    }
    for who in [Root, Reader] {
        m.add("Put r/1", who, put(&cx, who, put_req("r/1")).await);
    }
    let with_prev = |key: &str| PutRequest {
        prev_kv: true,
        ..put_req(key)
    };
    for who in [Root, Writer] {
        m.add(
            "Put w/1 prev_kv",
            who,
            put(&cx, who, with_prev("w/1")).await,
        );
    }
    m.add(
        "Put both prev_kv",
        Writer,
        put(&cx, Writer, with_prev("both")).await,
    );
    let with_lease = |key: &str, lease: i64| PutRequest {
        lease,
        ..put_req(key)
    };
    m.add(
        "Put w/new with lease R (r/leased)",
        Writer,
        put(&cx, Writer, with_lease("w/new", LEASE_R)).await,
    );
    m.add(
        "Put w/lease-w with lease W (w/leased)",
        Writer,
        put(&cx, Writer, with_lease("w/lease-w", LEASE_W)).await,
    );

    // ---- DeleteRange.
    let del = |key: &str, prev_kv: bool| DeleteRangeRequest {
        key: key.into(),
        prev_kv,
        ..Default::default()
    };
    for who in [Reader, Nobody, Anon, BadToken, Writer] {
        m.add(
            "DeleteRange w/del",
            who,
            delete(&cx, who, del("w/del", false)).await,
        );
    }
    for who in [Writer, Root] {
        m.add(
            "DeleteRange w/del-prev prev_kv",
            who,
            delete(&cx, who, del("w/del-prev", true)).await,
        );
    }
    m.add(
        "DeleteRange [w/x/, w/x0)",
        Writer,
        delete(
            &cx,
            Writer,
            DeleteRangeRequest {
                key: "w/x/".into(),
                range_end: "w/x0".into(),
                ..Default::default()
            },
        )
        .await,
    );
    m.add(
        "DeleteRange [r/, s)",
        Reader,
        delete(
            &cx,
            Reader,
            DeleteRangeRequest {
                key: "r/".into(),
                range_end: "s".into(),
                ..Default::default()
            },
        )
        .await,
    );
    m.add(
        "DeleteRange both prev_kv",
        Writer,
        delete(&cx, Writer, del("both", true)).await,
    );
    // (both is back for what follows.)
    cx.kv().put(cx.req(Root, put_req("both"))).await.unwrap();

    // ---- Txn: compares, both branches, nested txns.
    for who in [Root, Reader, Writer, Anon, BadToken] {
        let t = txn(vec![exists("r/1")], vec![], vec![]);
        m.add("Txn compare r/1", who, txn_call(&cx, who, t).await);
    }
    let t = txn(vec![exists("w/1")], vec![], vec![]);
    m.add("Txn compare w/1", Writer, txn_call(&cx, Writer, t).await);
    for who in [Writer, Reader] {
        let t = txn(vec![], vec![put_op(put_req("w/t"))], vec![]);
        m.add("Txn success put w/t", who, txn_call(&cx, who, t).await);
    }
    for who in [Reader, Writer] {
        let t = txn(vec![], vec![range_op("r/1"), range_op("both")], vec![]);
        m.add(
            "Txn success range r/1, both",
            who,
            txn_call(&cx, who, t).await,
        );
    }
    let t = txn(vec![], vec![range_op("w/1")], vec![]);
    m.add(
        "Txn success range w/1",
        Writer,
        txn_call(&cx, Writer, t).await,
    );
    let t = txn(vec![], vec![delete_op("w/t", true)], vec![]);
    m.add(
        "Txn success delete w/t prev_kv",
        Writer,
        txn_call(&cx, Writer, t).await,
    );
    for who in [Writer, Root] {
        // The compare holds: the failure branch is checked all the same.
        let t = txn(
            vec![exists("both")],
            vec![put_op(put_req("w/t2"))],
            vec![put_op(put_req("r/t"))],
        );
        m.add(
            "Txn success put w/t2, failure put r/t",
            who,
            txn_call(&cx, who, t).await,
        );
    }
    for who in [Writer, Root] {
        let inner = txn(vec![], vec![put_op(put_req("w/nested"))], vec![]);
        let t = txn(vec![], vec![txn_op(inner)], vec![]);
        m.add("Txn nested put w/nested", who, txn_call(&cx, who, t).await);
    }
    for who in [Writer, Root] {
        let inner = txn(vec![], vec![put_op(put_req("r/nested"))], vec![]);
        let t = txn(vec![], vec![txn_op(inner)], vec![]);
        m.add("Txn nested put r/nested", who, txn_call(&cx, who, t).await);
    }
    for who in [Reader, Root] {
        let inner = txn(vec![], vec![range_op("w/1")], vec![]);
        let t = txn(vec![], vec![txn_op(inner)], vec![]);
        m.add("Txn nested range w/1", who, txn_call(&cx, who, t).await);
    }
    {
        let inner = txn(vec![exists("w/1")], vec![], vec![]);
        let t = txn(vec![], vec![], vec![txn_op(inner)]);
        m.add(
            "Txn nested compare w/1 (failure branch)",
            Writer,
            txn_call(&cx, Writer, t).await,
        );
    }
    for who in [Writer, Root] {
        let t = txn(vec![], vec![put_op(with_prev("w/1"))], vec![]);
        m.add("Txn put w/1 prev_kv", who, txn_call(&cx, who, t).await);
    }
    {
        let t = txn(vec![], vec![put_op(with_lease("w/t3", LEASE_R2))], vec![]);
        m.add(
            "Txn put w/t3 with lease R2 (r/leased2)",
            Writer,
            txn_call(&cx, Writer, t).await,
        );
    }

    // ---- Leases. Listing first: a known difference grants more on etcd.
    for who in [Root, Reader, Nobody, Anon, BadToken] {
        m.add("LeaseLeases", who, lease_leases(&cx, who).await);
    }
    for who in [Root, Reader, Nobody, Anon, BadToken] {
        m.add("LeaseGrant", who, lease_grant(&cx, who).await);
    }
    for who in [Root, Reader, Writer, Nobody, Anon, BadToken] {
        m.add(
            "LeaseTimeToLive R keys",
            who,
            lease_ttl(&cx, who, LEASE_R, true).await,
        );
    }
    for who in [Root, Reader, Writer] {
        m.add(
            "LeaseTimeToLive W keys",
            who,
            lease_ttl(&cx, who, LEASE_W, true).await,
        );
    }
    for who in [Writer, Anon] {
        m.add(
            "LeaseTimeToLive R no keys",
            who,
            lease_ttl(&cx, who, LEASE_R, false).await,
        );
    }
    for who in [Root, Reader] {
        m.add(
            "LeaseTimeToLive unknown keys",
            who,
            lease_ttl(&cx, who, LEASE_UNKNOWN, true).await,
        );
    }
    for who in [Root, Reader, Anon, BadToken] {
        m.add("LeaseKeepAlive W", who, keep_alive(&cx, who, LEASE_W).await);
    }
    m.add(
        "LeaseKeepAlive unknown",
        Reader,
        keep_alive(&cx, Reader, LEASE_UNKNOWN).await,
    );
    for who in [Reader, Nobody, Anon, BadToken] {
        m.add(
            "LeaseRevoke W (w/leased)",
            who,
            lease_revoke(&cx, who, LEASE_W).await,
        );
    }
    m.add(
        "LeaseRevoke R (r/leased)",
        Writer,
        lease_revoke(&cx, Writer, LEASE_R).await,
    );
    m.add(
        "LeaseRevoke empty lease",
        Anon,
        lease_revoke(&cx, Anon, LEASE_EMPTY_1).await,
    );
    m.add(
        "LeaseRevoke empty lease",
        Nobody,
        lease_revoke(&cx, Nobody, LEASE_EMPTY_2).await,
    );
    m.add(
        "LeaseRevoke unknown",
        Nobody,
        lease_revoke(&cx, Nobody, LEASE_UNKNOWN).await,
    );
    m.add(
        "LeaseRevoke W (w/leased)",
        Writer,
        lease_revoke(&cx, Writer, LEASE_W).await,
    );
    m.add(
        "LeaseTimeToLive W keys (revoked)",
        Root,
        lease_ttl(&cx, Root, LEASE_W, true).await,
    );

    // ---- Watch: a refused create is answered created + canceled.
    for who in [Root, Reader, Writer, Nobody, Anon, BadToken] {
        m.add("Watch r/1", who, watch(&cx, who, "r/1", "", "r/1").await);
    }
    for who in [Reader, Writer] {
        m.add(
            "Watch prefix r/",
            who,
            watch(&cx, who, "r/", "r0", "r/1").await,
        );
    }
    m.add(
        "Watch [r/, s)",
        Reader,
        watch(&cx, Reader, "r/", "s", "r/1").await,
    );
    for who in [Root, Writer] {
        m.add("Watch w/1", who, watch(&cx, who, "w/1", "", "w/1").await);
    }
    m.add(
        "Watch both",
        Writer,
        watch(&cx, Writer, "both", "", "both").await,
    );

    // ---- Maintenance.
    for who in [Root, Reader, Anon, BadToken] {
        let r = cx.maint().status(cx.req(who, pb::StatusRequest {})).await;
        m.add("Status", who, outcome(r, |_| ok("OK")));
    }
    for who in [Root, Reader, Anon, BadToken] {
        let r = cx
            .maint()
            .defragment(cx.req(who, pb::DefragmentRequest {}))
            .await;
        m.add("Defragment", who, outcome(r, |_| ok("OK")));
    }
    for who in [Root, Reader, Anon, BadToken] {
        let r = cx.maint().hash(cx.req(who, pb::HashRequest {})).await;
        m.add("Hash", who, outcome(r, |_| ok("OK")));
    }
    for who in [Root, Reader, Anon, BadToken] {
        let r = cx
            .maint()
            .hash_kv(cx.req(who, pb::HashKvRequest { revision: 0 }))
            .await;
        m.add("HashKV", who, outcome(r, |_| ok("OK")));
    }
    for who in [Root, Reader, Anon, BadToken] {
        let r = cx
            .maint()
            .move_leader(cx.req(
                who,
                pb::MoveLeaderRequest {
                    target_id: NO_MEMBER,
                },
            ))
            .await;
        m.add("MoveLeader to a non-member", who, outcome(r, |_| ok("OK")));
    }

    // ---- Cluster. For root, requests that fail after the permission check.
    for who in [Root, Reader, Nobody, Anon, BadToken] {
        let r = cx
            .cluster()
            .member_list(cx.req(who, pb::MemberListRequest::default()))
            .await;
        m.add(
            "MemberList",
            who,
            outcome(r, |r| ok(format!("OK {} members", r.members.len()))),
        );
    }
    for who in [Root, Reader, Anon, BadToken] {
        let add = pb::MemberAddRequest {
            peer_ur_ls: vec![ADVERTISED_PEER_URL.into()],
            is_learner: true,
        };
        let r = cx.cluster().member_add(cx.req(who, add)).await;
        m.add(
            "MemberAdd learner, taken peer URL",
            who,
            outcome(r, |_| ok("OK")),
        );
    }
    for who in [Root, Writer, Anon] {
        let up = pb::MemberUpdateRequest {
            id: NO_MEMBER,
            peer_ur_ls: vec!["http://127.0.0.1:1".into()],
        };
        let r = cx.cluster().member_update(cx.req(who, up)).await;
        m.add("MemberUpdate unknown id", who, outcome(r, |_| ok("OK")));
    }
    for who in [Root, Writer, Anon] {
        let rm = pb::MemberRemoveRequest { id: NO_MEMBER };
        let r = cx.cluster().member_remove(cx.req(who, rm)).await;
        m.add("MemberRemove unknown id", who, outcome(r, |_| ok("OK")));
    }
    for who in [Root, Writer, Anon] {
        let pr = pb::MemberPromoteRequest { id: NO_MEMBER };
        let r = cx.cluster().member_promote(cx.req(who, pr)).await;
        m.add("MemberPromote unknown id", who, outcome(r, |_| ok("OK")));
    }

    // ---- Auth: reads of oneself, management by root only.
    for who in [Root, Reader, Anon] {
        let r = cx
            .auth()
            .auth_status(cx.req(who, pb::AuthStatusRequest {}))
            .await;
        m.add(
            "AuthStatus",
            who,
            outcome(r, |r| ok(format!("OK enabled {}", r.enabled))),
        );
    }
    let user_get = |name: &str| pb::AuthUserGetRequest { name: name.into() };
    let roles = |r: pb::AuthUserGetResponse| ok(format!("OK roles {:?}", r.roles));
    for (who, name) in [(Reader, "reader"), (Writer, "writer"), (Nobody, "nobody")] {
        let r = cx.auth().user_get(cx.req(who, user_get(name))).await;
        m.add("UserGet self", who, outcome(r, roles));
    }
    for who in [Root, Reader, Nobody, Anon, BadToken] {
        let r = cx.auth().user_get(cx.req(who, user_get("writer"))).await;
        m.add("UserGet writer", who, outcome(r, roles));
    }
    for who in [Anon, Reader] {
        let r = cx.auth().user_get(cx.req(who, user_get(""))).await;
        m.add("UserGet \"\"", who, outcome(r, roles));
    }
    for who in [Root, Reader, Anon, BadToken] {
        let r = cx
            .auth()
            .user_list(cx.req(who, pb::AuthUserListRequest {}))
            .await;
        m.add(
            "UserList",
            who,
            outcome(r, |r| ok(format!("OK {:?}", r.users))),
        );
    }
    let role_get = |role: &str| pb::AuthRoleGetRequest { role: role.into() };
    let perms = |r: pb::AuthRoleGetResponse| {
        let all: Vec<String> = r.perm.iter().map(perm_text).collect();
        ok(format!("OK perms [{}]", all.join(", ")))
    };
    for who in [Root, Reader] {
        let r = cx.auth().role_get(cx.req(who, role_get("reading"))).await;
        m.add("RoleGet reading", who, outcome(r, perms));
    }
    for who in [Root, Reader, Nobody, Anon, BadToken] {
        let r = cx.auth().role_get(cx.req(who, role_get("writing"))).await;
        m.add("RoleGet writing", who, outcome(r, perms));
    }
    for who in [Root, Writer, Anon] {
        let r = cx
            .auth()
            .role_list(cx.req(who, pb::AuthRoleListRequest {}))
            .await;
        m.add(
            "RoleList",
            who,
            outcome(r, |r| ok(format!("OK {:?}", r.roles))),
        );
    }
    for who in [Reader, Anon, BadToken, Root] {
        let add = pb::AuthUserAddRequest {
            name: "added".into(),
            password: "pw-added".into(),
            ..Default::default()
        };
        let r = cx.auth().user_add(cx.req(who, add)).await;
        m.add("UserAdd added", who, outcome(r, |_| ok("OK")));
    }
    for who in [Writer, Anon, Root] {
        let add = pb::AuthRoleAddRequest {
            name: "added".into(),
        };
        let r = cx.auth().role_add(cx.req(who, add)).await;
        m.add("RoleAdd added", who, outcome(r, |_| ok("OK")));
    }
    for who in [Reader, Root] {
        let g = pb::AuthRoleGrantPermissionRequest {
            name: "added".into(),
            perm: Some(perm(permission::Type::Read, "added/", "added0")),
        };
        let r = cx.auth().role_grant_permission(cx.req(who, g)).await;
        m.add("RoleGrantPermission added", who, outcome(r, |_| ok("OK")));
    }
    for who in [Writer, Root] {
        let g = pb::AuthUserGrantRoleRequest {
            user: "added".into(),
            role: "added".into(),
        };
        let r = cx.auth().user_grant_role(cx.req(who, g)).await;
        m.add("UserGrantRole added", who, outcome(r, |_| ok("OK")));
    }
    {
        let g = pb::AuthUserGrantRoleRequest {
            user: "reader".into(),
            role: "writing".into(),
        };
        let r = cx.auth().user_grant_role(cx.req(Reader, g)).await;
        m.add(
            "UserGrantRole writing to self",
            Reader,
            outcome(r, |_| ok("OK")),
        );
    }
    {
        let c = pb::AuthUserChangePasswordRequest {
            name: "reader".into(),
            password: "pw-new".into(),
            ..Default::default()
        };
        let r = cx.auth().user_change_password(cx.req(Reader, c)).await;
        m.add("UserChangePassword self", Reader, outcome(r, |_| ok("OK")));
    }
    {
        let rv = pb::AuthUserRevokeRoleRequest {
            name: "reader".into(),
            role: "reading".into(),
        };
        let r = cx.auth().user_revoke_role(cx.req(Writer, rv)).await;
        m.add("UserRevokeRole reader", Writer, outcome(r, |_| ok("OK")));
    }
    {
        let rv = pb::AuthRoleRevokePermissionRequest {
            role: "reading".into(),
            key: "r/".into(),
            range_end: "r0".into(),
        };
        let r = cx.auth().role_revoke_permission(cx.req(Writer, rv)).await;
        m.add(
            "RoleRevokePermission reading",
            Writer,
            outcome(r, |_| ok("OK")),
        );
    }
    {
        let d = pb::AuthUserDeleteRequest {
            name: "nobody".into(),
        };
        let r = cx.auth().user_delete(cx.req(Writer, d)).await;
        m.add("UserDelete nobody", Writer, outcome(r, |_| ok("OK")));
    }
    {
        let d = pb::AuthRoleDeleteRequest {
            role: "reading".into(),
        };
        let r = cx.auth().role_delete(cx.req(Reader, d)).await;
        m.add("RoleDelete reading", Reader, outcome(r, |_| ok("OK")));
    }
    for who in [Reader, Anon, BadToken] {
        let r = cx
            .auth()
            .auth_disable(cx.req(who, pb::AuthDisableRequest {}))
            .await;
        m.add("AuthDisable", who, outcome(r, |_| ok("OK")));
    }
    {
        let r = cx
            .auth()
            .auth_enable(cx.req(Reader, pb::AuthEnableRequest {}))
            .await;
        m.add("AuthEnable", Reader, outcome(r, |_| ok("OK")));
    }
    for (what, name, password) in [
        ("Authenticate reader", "reader", "pw-reader"),
        ("Authenticate reader, wrong password", "reader", "wrong"),
        ("Authenticate unknown user", "ghost", "pw"),
        ("Authenticate no-password user", "nopass", "pw"),
        (
            "Authenticate no-password user, empty password",
            "nopass",
            "",
        ),
        ("Authenticate added", "added", "pw-added"),
    ] {
        m.add(what, Anon, authenticate(&cx, Anon, name, password).await);
    }

    // ---- Alarms last: etcd 3.4.23 lets anyone raise one (of type NONE
    // here, which changes nothing else), and the cells then lower it.
    for who in [Root, Reader, Anon, BadToken] {
        m.add("Alarm GET", who, alarm(&cx, who, AlarmAction::Get).await);
    }
    m.add(
        "Alarm DEACTIVATE",
        Root,
        alarm(&cx, Root, AlarmAction::Deactivate).await,
    );
    for who in [Reader, Anon, BadToken] {
        m.add(
            "Alarm ACTIVATE",
            who,
            alarm(&cx, who, AlarmAction::Activate).await,
        );
    }
    for who in [Reader, Anon] {
        m.add(
            "Alarm DEACTIVATE",
            who,
            alarm(&cx, who, AlarmAction::Deactivate).await,
        );
    }

    m.cells
}

// ------------------------------------------------------------------ expectations

// The answers most cells expect (etcd's `rpctypes.ErrGRPC*`).
const DENIED: &str = "PermissionDenied: etcdserver: permission denied";
const NO_USER: &str = "InvalidArgument: etcdserver: user name is empty";
const BAD_TOKEN: &str = "Unauthenticated: etcdserver: invalid auth token";
const AUTH_FAILED: &str =
    "InvalidArgument: etcdserver: authentication failed, invalid user ID or password";
/// etcd 3.4's Defragment, Hash and HashKV send the auth store's error
/// unmapped: gRPC's `Unknown` with the `auth` package's text.
const RAW_DENIED: &str = "Unknown: auth: permission denied";
const RAW_NO_USER: &str = "Unknown: auth: user name is empty";
const RAW_BAD_TOKEN: &str = "Unknown: auth: invalid auth token";
/// A refused watch is created and canceled at once (id -1), its reason
/// the text of the gRPC error etcd would have sent.
const WATCH_DENIED: &str = "created -1, canceled: rpc error: code = PermissionDenied \
                            desc = etcdserver: permission denied";
const WATCH_NO_USER: &str = "created -1, canceled: rpc error: code = InvalidArgument \
                             desc = etcdserver: user name is empty";
const WATCH_BAD_TOKEN: &str = "created -1, canceled: rpc error: code = Unauthenticated \
                               desc = etcdserver: invalid auth token";
const R_ALL: &str = "OK [r/1=v-r/1, r/leased=v-r/leased, r/leased2=v-r/leased2]";

/// oxcd's answer in every cell, written down from etcd's rules (reader:
/// READ on `r/` and on `both`; writer: WRITE on `w/`, READWRITE on `both`;
/// nobody: no role), in the order the matrix runs.
const EXPECTED: &[(&str, &str)] = &[
    // Range: the whole range must be covered by one kind of READ.
    ("Range r/1 | root", "OK [r/1=v-r/1]"),
    ("Range r/1 | reader", "OK [r/1=v-r/1]"),
    ("Range r/1 | writer", DENIED),
    ("Range r/1 | nobody", DENIED),
    ("Range r/1 | anonymous", NO_USER),
    ("Range r/1 | bad token", BAD_TOKEN),
    ("Range both | reader", "OK [both=v-both]"),
    ("Range both | writer", "OK [both=v-both]"),
    ("Range both | nobody", DENIED),
    ("Range w/1 | root", "OK [w/1=v-w/1]"),
    ("Range w/1 | writer", DENIED), // WRITE does not read
    ("Range prefix r/ | root", R_ALL),
    ("Range prefix r/ | reader", R_ALL),
    ("Range prefix r/ | writer", DENIED),
    ("Range [r/, s) | root", R_ALL),
    ("Range [r/, s) | reader", DENIED), // [r0, s) is not covered
    // Compact: etcd 3.4.23 checks nothing but the token (3.4.42 made it
    // root's; oxcd has not followed that one).
    ("Compact | root", "OK"),
    ("Compact | reader", "OK"),
    ("Compact | nobody", "OK"),
    ("Compact | anonymous", "OK"),
    ("Compact | bad token", BAD_TOKEN),
    // Put: WRITE on the key; READ too for prev_kv; WRITE on every key of
    // the lease it attaches to.
    ("Put w/new | root", "OK"),
    ("Put w/new | writer", "OK"),
    ("Put w/new | reader", DENIED),
    ("Put w/new | nobody", DENIED),
    ("Put w/new | anonymous", NO_USER),
    ("Put w/new | bad token", BAD_TOKEN),
    ("Put both | writer", "OK"),
    ("Put both | reader", DENIED),
    ("Put r/1 | root", "OK"),
    ("Put r/1 | reader", DENIED),
    ("Put w/1 prev_kv | root", "OK prev w/1=v-w/1"),
    ("Put w/1 prev_kv | writer", DENIED),
    ("Put both prev_kv | writer", "OK prev both=v-both"),
    ("Put w/new with lease R (r/leased) | writer", DENIED),
    ("Put w/lease-w with lease W (w/leased) | writer", "OK"),
    // DeleteRange: WRITE on the range; READ too for prev_kv.
    ("DeleteRange w/del | reader", DENIED),
    ("DeleteRange w/del | nobody", DENIED),
    ("DeleteRange w/del | anonymous", NO_USER),
    ("DeleteRange w/del | bad token", BAD_TOKEN),
    ("DeleteRange w/del | writer", "OK deleted 1 prev []"),
    ("DeleteRange w/del-prev prev_kv | writer", DENIED),
    (
        "DeleteRange w/del-prev prev_kv | root",
        "OK deleted 1 prev [w/del-prev=v-w/del-prev]",
    ),
    ("DeleteRange [w/x/, w/x0) | writer", "OK deleted 0 prev []"),
    ("DeleteRange [r/, s) | reader", DENIED),
    (
        "DeleteRange both prev_kv | writer",
        "OK deleted 1 prev [both=v-both]",
    ),
    // Txn: READ for every compare, and each op of both branches as its
    // own request, nested txns included.
    ("Txn compare r/1 | root", "OK true []"),
    ("Txn compare r/1 | reader", "OK true []"),
    ("Txn compare r/1 | writer", DENIED),
    ("Txn compare r/1 | anonymous", NO_USER),
    ("Txn compare r/1 | bad token", BAD_TOKEN),
    ("Txn compare w/1 | writer", DENIED),
    ("Txn success put w/t | writer", "OK true [put]"),
    ("Txn success put w/t | reader", DENIED),
    (
        "Txn success range r/1, both | reader",
        "OK true [range [r/1=v-r/1], range [both=v-both]]",
    ),
    ("Txn success range r/1, both | writer", DENIED),
    ("Txn success range w/1 | writer", DENIED),
    ("Txn success delete w/t prev_kv | writer", DENIED),
    ("Txn success put w/t2, failure put r/t | writer", DENIED),
    (
        "Txn success put w/t2, failure put r/t | root",
        "OK true [put]",
    ),
    (
        "Txn nested put w/nested | writer",
        "OK true [txn true [put]]",
    ),
    ("Txn nested put w/nested | root", "OK true [txn true [put]]"),
    ("Txn nested put r/nested | writer", DENIED),
    ("Txn nested put r/nested | root", "OK true [txn true [put]]"),
    ("Txn nested range w/1 | reader", DENIED),
    (
        "Txn nested range w/1 | root",
        "OK true [txn true [range [w/1=v-w/1]]]",
    ),
    ("Txn nested compare w/1 (failure branch) | writer", DENIED),
    ("Txn put w/1 prev_kv | writer", DENIED),
    ("Txn put w/1 prev_kv | root", "OK true [put prev w/1=v-w/1]"),
    ("Txn put w/t3 with lease R2 (r/leased2) | writer", DENIED),
    // Leases: listing and keep-alives check nothing but the token (3.4.42
    // checks the lease's keys there too; oxcd has not followed); a grant
    // needs a user; revoking needs WRITE on every key of the lease; a
    // lease's keys are shown to who may READ them all.
    ("LeaseLeases | root", "OK 5 leases"),
    ("LeaseLeases | reader", "OK 5 leases"),
    ("LeaseLeases | nobody", "OK 5 leases"),
    ("LeaseLeases | anonymous", "OK 5 leases"),
    ("LeaseLeases | bad token", BAD_TOKEN),
    ("LeaseGrant | root", "OK ttl 600"),
    ("LeaseGrant | reader", "OK ttl 600"),
    ("LeaseGrant | nobody", "OK ttl 600"),
    ("LeaseGrant | anonymous", NO_USER),
    ("LeaseGrant | bad token", BAD_TOKEN),
    (
        "LeaseTimeToLive R keys | root",
        "OK granted 600 keys [r/leased]",
    ),
    (
        "LeaseTimeToLive R keys | reader",
        "OK granted 600 keys [r/leased]",
    ),
    ("LeaseTimeToLive R keys | writer", DENIED),
    ("LeaseTimeToLive R keys | nobody", DENIED),
    ("LeaseTimeToLive R keys | anonymous", NO_USER),
    ("LeaseTimeToLive R keys | bad token", BAD_TOKEN),
    (
        "LeaseTimeToLive W keys | root",
        "OK granted 600 keys [w/lease-w, w/leased]",
    ),
    ("LeaseTimeToLive W keys | reader", DENIED),
    ("LeaseTimeToLive W keys | writer", DENIED), // WRITE does not read
    ("LeaseTimeToLive R no keys | writer", "OK granted 600"),
    ("LeaseTimeToLive R no keys | anonymous", "OK granted 600"),
    (
        "LeaseTimeToLive unknown keys | root",
        "OK ttl -1 (not found)",
    ),
    (
        "LeaseTimeToLive unknown keys | reader",
        "OK ttl -1 (not found)",
    ),
    ("LeaseKeepAlive W | root", "OK ttl > 0"),
    ("LeaseKeepAlive W | reader", "OK ttl > 0"),
    ("LeaseKeepAlive W | anonymous", "OK ttl > 0"),
    ("LeaseKeepAlive W | bad token", BAD_TOKEN),
    ("LeaseKeepAlive unknown | reader", "OK ttl 0"),
    ("LeaseRevoke W (w/leased) | reader", DENIED),
    ("LeaseRevoke W (w/leased) | nobody", DENIED),
    ("LeaseRevoke W (w/leased) | anonymous", NO_USER),
    ("LeaseRevoke W (w/leased) | bad token", BAD_TOKEN),
    ("LeaseRevoke R (r/leased) | writer", DENIED),
    ("LeaseRevoke empty lease | anonymous", "OK"),
    ("LeaseRevoke empty lease | nobody", "OK"),
    (
        "LeaseRevoke unknown | nobody",
        "NotFound: etcdserver: requested lease not found",
    ),
    ("LeaseRevoke W (w/leased) | writer", "OK"),
    (
        "LeaseTimeToLive W keys (revoked) | root",
        "OK ttl -1 (not found)",
    ),
    // Watch: READ on the range, checked at creation.
    (
        "Watch r/1 | root",
        "created 0; PUT r/1=v-r/1 prev r/1=v-r/1",
    ),
    (
        "Watch r/1 | reader",
        "created 0; PUT r/1=v-r/1 prev r/1=v-r/1",
    ),
    ("Watch r/1 | writer", WATCH_DENIED),
    ("Watch r/1 | nobody", WATCH_DENIED),
    ("Watch r/1 | anonymous", WATCH_NO_USER),
    ("Watch r/1 | bad token", WATCH_BAD_TOKEN),
    (
        "Watch prefix r/ | reader",
        "created 0; PUT r/1=v-r/1 prev r/1=v-r/1",
    ),
    ("Watch prefix r/ | writer", WATCH_DENIED),
    ("Watch [r/, s) | reader", WATCH_DENIED),
    (
        "Watch w/1 | root",
        "created 0; PUT w/1=v-w/1 prev w/1=v-w/1",
    ),
    ("Watch w/1 | writer", WATCH_DENIED),
    (
        "Watch both | writer",
        "created 0; PUT both=v-both prev both=v-both",
    ),
    // Maintenance: root only (Alarm GET: any user; at the end).
    ("Status | root", "OK"),
    ("Status | reader", DENIED),
    ("Status | anonymous", NO_USER),
    ("Status | bad token", BAD_TOKEN),
    ("Defragment | root", "OK"),
    ("Defragment | reader", RAW_DENIED),
    ("Defragment | anonymous", RAW_NO_USER),
    ("Defragment | bad token", RAW_BAD_TOKEN),
    ("Hash | root", "OK"),
    ("Hash | reader", RAW_DENIED),
    ("Hash | anonymous", RAW_NO_USER),
    ("Hash | bad token", RAW_BAD_TOKEN),
    ("HashKV | root", "OK"),
    ("HashKV | reader", RAW_DENIED),
    ("HashKV | anonymous", RAW_NO_USER),
    ("HashKV | bad token", RAW_BAD_TOKEN),
    (
        "MoveLeader to a non-member | root",
        "FailedPrecondition: etcdserver: bad leader transferee",
    ),
    ("MoveLeader to a non-member | reader", DENIED),
    ("MoveLeader to a non-member | anonymous", NO_USER),
    ("MoveLeader to a non-member | bad token", BAD_TOKEN),
    // Cluster: anyone may list; changes are root's (refused before the
    // change is looked at).
    ("MemberList | root", "OK 1 members"),
    ("MemberList | reader", "OK 1 members"),
    ("MemberList | nobody", "OK 1 members"),
    ("MemberList | anonymous", "OK 1 members"),
    ("MemberList | bad token", BAD_TOKEN),
    (
        "MemberAdd learner, taken peer URL | root",
        "FailedPrecondition: etcdserver: Peer URLs already exists",
    ),
    ("MemberAdd learner, taken peer URL | reader", DENIED),
    ("MemberAdd learner, taken peer URL | anonymous", NO_USER),
    ("MemberAdd learner, taken peer URL | bad token", BAD_TOKEN),
    (
        "MemberUpdate unknown id | root",
        "NotFound: etcdserver: member not found",
    ),
    ("MemberUpdate unknown id | writer", DENIED),
    ("MemberUpdate unknown id | anonymous", NO_USER),
    (
        "MemberRemove unknown id | root",
        "NotFound: etcdserver: member not found",
    ),
    ("MemberRemove unknown id | writer", DENIED),
    ("MemberRemove unknown id | anonymous", NO_USER),
    (
        "MemberPromote unknown id | root",
        "NotFound: etcdserver: member not found",
    ),
    ("MemberPromote unknown id | writer", DENIED),
    ("MemberPromote unknown id | anonymous", NO_USER),
    // Auth: management and listing are root's; a user may read itself and
    // the roles it holds.
    ("AuthStatus | root", "OK enabled true"),
    ("AuthStatus | reader", DENIED),
    ("AuthStatus | anonymous", NO_USER),
    ("UserGet self | reader", "OK roles [\"reading\"]"),
    ("UserGet self | writer", "OK roles [\"writing\"]"),
    ("UserGet self | nobody", "OK roles []"),
    ("UserGet writer | root", "OK roles [\"writing\"]"),
    ("UserGet writer | reader", DENIED),
    ("UserGet writer | nobody", DENIED),
    ("UserGet writer | anonymous", NO_USER),
    ("UserGet writer | bad token", BAD_TOKEN),
    // No user asks about the user named "": itself, so it is looked up.
    (
        "UserGet \"\" | anonymous",
        "FailedPrecondition: etcdserver: user name not found",
    ),
    ("UserGet \"\" | reader", DENIED),
    (
        "UserList | root",
        "OK [\"nobody\", \"nopass\", \"reader\", \"root\", \"writer\"]",
    ),
    ("UserList | reader", DENIED),
    ("UserList | anonymous", NO_USER),
    ("UserList | bad token", BAD_TOKEN),
    (
        "RoleGet reading | root",
        "OK perms [READ both, READ r/..r0]",
    ),
    (
        "RoleGet reading | reader",
        "OK perms [READ both, READ r/..r0]",
    ),
    (
        "RoleGet writing | root",
        "OK perms [READWRITE both, WRITE w/..w0]",
    ),
    ("RoleGet writing | reader", DENIED),
    ("RoleGet writing | nobody", DENIED),
    ("RoleGet writing | anonymous", NO_USER),
    ("RoleGet writing | bad token", BAD_TOKEN),
    ("RoleList | root", "OK [\"reading\", \"writing\"]"),
    ("RoleList | writer", DENIED),
    ("RoleList | anonymous", NO_USER),
    ("UserAdd added | reader", DENIED),
    ("UserAdd added | anonymous", NO_USER),
    ("UserAdd added | bad token", BAD_TOKEN),
    ("UserAdd added | root", "OK"),
    ("RoleAdd added | writer", DENIED),
    ("RoleAdd added | anonymous", NO_USER),
    ("RoleAdd added | root", "OK"),
    ("RoleGrantPermission added | reader", DENIED),
    ("RoleGrantPermission added | root", "OK"),
    ("UserGrantRole added | writer", DENIED),
    ("UserGrantRole added | root", "OK"),
    ("UserGrantRole writing to self | reader", DENIED),
    ("UserChangePassword self | reader", DENIED), // even one's own
    ("UserRevokeRole reader | writer", DENIED),
    ("RoleRevokePermission reading | writer", DENIED),
    ("UserDelete nobody | writer", DENIED),
    ("RoleDelete reading | reader", DENIED),
    ("AuthDisable | reader", DENIED),
    ("AuthDisable | anonymous", NO_USER),
    ("AuthDisable | bad token", BAD_TOKEN),
    ("AuthEnable | reader", DENIED),
    // Authenticate needs no token; a no-password user is told why.
    ("Authenticate reader | anonymous", "OK token"),
    (
        "Authenticate reader, wrong password | anonymous",
        AUTH_FAILED,
    ),
    ("Authenticate unknown user | anonymous", AUTH_FAILED),
    (
        "Authenticate no-password user | anonymous",
        "Unknown: auth: authentication failed, password was given for no password user",
    ),
    (
        "Authenticate no-password user, empty password | anonymous",
        "Unknown: auth: authentication failed, password was given for no password user",
    ),
    ("Authenticate added | anonymous", "OK token"),
    // Alarms: listing needs a user, raising and lowering root.
    ("Alarm GET | root", "OK alarms []"),
    ("Alarm GET | reader", "OK alarms []"),
    ("Alarm GET | anonymous", NO_USER),
    ("Alarm GET | bad token", BAD_TOKEN),
    ("Alarm DEACTIVATE | root", "OK alarms []"),
    ("Alarm ACTIVATE | reader", DENIED),
    ("Alarm ACTIVATE | anonymous", NO_USER),
    ("Alarm ACTIVATE | bad token", BAD_TOKEN),
    ("Alarm DEACTIVATE | reader", DENIED),
    ("Alarm DEACTIVATE | anonymous", NO_USER),
];

/// Cells where oxcd deliberately answers as a later etcd 3.4 release does
/// (its security fixes), not as 3.4.23: these, and only these, differ.
const KNOWN_DIFFERENCES: &[&str] = &[
    // 3.4.42 (`requireAuthInfo` in LeaseGrant): anonymous grants were a
    // way to exhaust the cluster; 3.4.23 grants.
    "LeaseGrant | anonymous",
    // 3.4.26 (`checkLeaseTimeToLive`): a lease's keys only for a user who
    // may read them all; 3.4.23 shows them to anyone, token or not.
    "LeaseTimeToLive R keys | writer",
    "LeaseTimeToLive R keys | nobody",
    "LeaseTimeToLive R keys | anonymous",
    "LeaseTimeToLive R keys | bad token",
    "LeaseTimeToLive W keys | reader",
    "LeaseTimeToLive W keys | writer",
    // 3.4.42 (`authMaintenanceServer`): Status and MoveLeader are root's;
    // 3.4.23 answers anyone (MoveLeader then fails on its target).
    "Status | reader",
    "Status | anonymous",
    "Status | bad token",
    "MoveLeader to a non-member | reader",
    "MoveLeader to a non-member | anonymous",
    "MoveLeader to a non-member | bad token",
    // 3.4.42/3.4.43: raising and lowering alarms is root's, listing them
    // needs a user, and the refusal is mapped to its gRPC form; 3.4.23
    // lets anyone (the raised alarm is of type NONE here), and sends an
    // invalid token's error unmapped.
    "Alarm GET | anonymous",
    "Alarm GET | bad token",
    "Alarm ACTIVATE | reader",
    "Alarm ACTIVATE | anonymous",
    "Alarm ACTIVATE | bad token",
    "Alarm DEACTIVATE | reader",
    "Alarm DEACTIVATE | anonymous",
    // 3.4.42 (`checkTxnAuth` recursing): a nested txn's compares and ops
    // are checked; 3.4.23 runs them unchecked (and shows w/1 to reader).
    "Txn nested put r/nested | writer",
    "Txn nested range w/1 | reader",
    "Txn nested compare w/1 (failure branch) | writer",
    // 3.4.44 (`checkPutAuth` in txns): a txn's put is checked as a put is,
    // prev_kv and lease included; 3.4.23 shows w/1 to a write-only user
    // and attaches its key to a lease it could not revoke.
    "Txn put w/1 prev_kv | writer",
    "Txn put w/t3 with lease R2 (r/leased2) | writer",
    // 3.4.31: AuthStatus is answered (root only); 3.4.23 does not know it.
    "AuthStatus | root",
    "AuthStatus | reader",
    "AuthStatus | anonymous",
    // 3.4.42 ("guard unauthenticated endpoints"): these now resolve the
    // token too, so an invalid one is refused (oxcd's `admit` resolves it
    // for every RPC but the watch stream); 3.4.23 never looks at it here.
    "LeaseLeases | bad token",
    "LeaseKeepAlive W | bad token",
    "MemberList | bad token",
];

// ------------------------------------------------------------------ the test

/// Starts `bin` (ours when `None`) fresh and runs the matrix on it.
fn matrix_on(bin: Option<&str>, rt: &tokio::runtime::Runtime) -> Vec<Cell> {
    let tag = if bin.is_some() { "etcd" } else { "oxcd" };
    let dir = temp_dir(&format!("auth-matrix-{tag}"));
    let (port, peer) = (free_port(), free_port());
    let server = match bin {
        Some(bin) => Server::spawn_bin(bin, None, &dir, port, peer, FLAGS),
        None => Server::spawn(&dir, port, peer, FLAGS),
    };
    server.wait_ready();
    let cells = rt.block_on(run_matrix(server.endpoint()));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    cells
}

#[test]
fn every_rpc_checks_permissions_as_etcd_does() {
    let compare = common::real_etcd_present(REAL_ETCD, "AUTH MATRIX: COMPARISON WITH ETCD");
    let rt = common::runtime();
    let ours = matrix_on(None, &rt);
    let theirs = compare.then(|| matrix_on(Some(REAL_ETCD), &rt));

    // The whole matrix, both servers.
    let known: BTreeSet<&str> = KNOWN_DIFFERENCES.iter().copied().collect();
    println!("\nauthorization matrix ({} cells)", ours.len());
    let mut differing = BTreeSet::new();
    for (i, c) in ours.iter().enumerate() {
        let etcd = theirs.as_ref().map(|t| &t[i]);
        let same = etcd.is_none_or(|e| e.text == c.text);
        if !same {
            differing.insert(c.name.clone());
        }
        let mark = match (etcd.is_some(), same, known.contains(c.name.as_str())) {
            (false, _, _) => "      ",
            (true, true, _) => "same  ",
            (true, false, true) => "KNOWN ",
            (true, false, false) => "DIFFER",
        };
        println!("{mark} {}", c.name);
        println!("         oxcd: {}", c.text);
        if let Some(e) = etcd.filter(|_| !same) {
            println!("         etcd: {}", e.text);
        }
        if let Some(e) = etcd.filter(|e| !e.leaks.is_empty()) {
            println!("         etcd 3.4.23 leaked: {}", e.leaks.join(", "));
        }
    }

    // (1) Every oxcd cell as written down here.
    let mut wrong = Vec::new();
    for c in &ours {
        match EXPECTED.iter().find(|(name, _)| *name == c.name) {
            Some((_, want)) if *want == c.text => {}
            Some((_, want)) => wrong.push(format!(
                "{}\n    expected: {want}\n    oxcd:     {}",
                c.name, c.text
            )),
            None => wrong.push(format!("{}: no expectation (oxcd: {})", c.name, c.text)),
        }
    }
    for (name, _) in EXPECTED {
        if !ours.iter().any(|c| c.name == *name) {
            wrong.push(format!("{name}: expected, but the matrix has no such cell"));
        }
    }

    // (3) No value to a caller who may not read it.
    for c in &ours {
        if !c.leaks.is_empty() {
            wrong.push(format!("{}: oxcd leaked {}", c.name, c.leaks.join(", ")));
        }
    }

    // (2) etcd 3.4.23 agrees everywhere but the known differences.
    if let Some(theirs) = &theirs {
        assert_eq!(ours.len(), theirs.len(), "both servers ran the same cells");
        for (c, e) in ours.iter().zip(theirs) {
            assert_eq!(c.name, e.name, "both servers ran the same cells");
            if !e.leaks.is_empty() && !known.contains(e.name.as_str()) {
                wrong.push(format!("{}: etcd leaked {}", e.name, e.leaks.join(", ")));
            }
        }
        let agreeing = ours.len() - differing.len();
        println!(
            "\n{} cells: {agreeing} agree with etcd 3.4.23, {} differ ({} known differences listed)",
            ours.len(),
            differing.len(),
            known.len()
        );
        let want: BTreeSet<String> = known.iter().map(|s| s.to_string()).collect();
        for d in differing.difference(&want) {
            wrong.push(format!(
                "{d}: differs from etcd 3.4.23 but is not a known difference"
            ));
        }
        for d in want.difference(&differing) {
            wrong.push(format!(
                "{d}: listed as a known difference but agrees with etcd 3.4.23"
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
