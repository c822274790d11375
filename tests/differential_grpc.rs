//! Differential test at the gRPC level: the same KV requests, sent one by one
//! to oxcd and to the real etcd 3.4 (both fresh, single member), must get the
//! same answers — every response field (headers' revisions; cluster and
//! member ids and raft terms are per server) and every error's code and
//! message.
//!
//! etcdctl cannot send what the simulator's model relies on (nested txns,
//! txn ranges with options, sort targets with no order, ignore_value with a
//! lease, …), so this test sends them directly: a few fixed cases, then a
//! seeded random history over five keys shaped like the simulator's KV
//! workload. `OXCD_GRPC_DIFF_OPS` sets its length (default 600),
//! `OXCD_GRPC_DIFF_SEED` its seed.
//!
//! The oracle is `/usr/bin/etcd` (Debian's etcd-server); as in
//! `tests/differential.rs`, a missing oracle fails under `CI=true` or
//! `OXCD_REQUIRE_DIFFERENTIAL=1` and is reported as not run elsewhere.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{free_port, temp_dir, Server};
use oxcd::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use oxcd::pb::etcdserverpb::kv_client::KvClient;
use oxcd::pb::etcdserverpb::range_request::{SortOrder, SortTarget};
use oxcd::pb::etcdserverpb::watch_client::WatchClient;
use oxcd::pb::etcdserverpb::watch_create_request::FilterType;
use oxcd::pb::etcdserverpb::{
    request_op, response_op, CompactionRequest, Compare, DeleteRangeRequest, PutRequest,
    RangeRequest, RequestOp, ResponseHeader, TxnRequest,
};
use oxcd::pb::etcdserverpb::{watch_request, WatchCreateRequest, WatchRequest, WatchResponse};
use tonic::transport::Channel;

use common::REAL_ETCD;
const KEYS: usize = 5;

#[derive(Clone, Debug)]
enum Req {
    Range(RangeRequest),
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact(CompactionRequest),
}

/// xorshift64*: the history must not depend on a crate's RNG version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("k{i}").into_bytes()
}

/// Builds requests like the simulator's KV workload, for one client that
/// knows the revision it last saw.
struct Gen {
    rng: Rng,
    seq: u64,
    seen: i64,
}

impl Gen {
    fn value(&mut self) -> Vec<u8> {
        self.seq += 1;
        // Repeated values, so value sorts and compares see ties.
        format!("v{}", self.seq % 7).into_bytes()
    }

    fn revision(&mut self) -> i64 {
        (self.seen - self.rng.below(14) as i64 + 2).max(1)
    }

    fn span(&mut self) -> (Vec<u8>, Vec<u8>) {
        let k = self.rng.below(KEYS as u64) as usize;
        match self.rng.below(10) {
            0..=4 => (key(k), vec![]),
            5..=7 => {
                let end = k + self.rng.below((KEYS - k + 1) as u64) as usize;
                (
                    key(k),
                    if end == KEYS {
                        b"k9".to_vec()
                    } else {
                        key(end)
                    },
                )
            }
            8 => (key(k), vec![0]),
            _ => (vec![0], vec![0]),
        }
    }

    fn range(&mut self) -> RangeRequest {
        let (key, range_end) = self.span();
        let mut r = RangeRequest {
            key,
            range_end,
            ..Default::default()
        };
        if self.rng.chance(30) {
            r.limit = 1 + self.rng.below(3) as i64;
        }
        if self.rng.chance(40) {
            r.sort_target = self.rng.below(5) as i32;
            r.sort_order = self.rng.below(3) as i32;
        }
        r.keys_only = self.rng.chance(15);
        r.count_only = self.rng.chance(10);
        r.serializable = self.rng.chance(10);
        if self.rng.chance(20) {
            r.revision = self.revision();
        }
        for field in [
            &mut r.min_mod_revision,
            &mut r.max_mod_revision,
            &mut r.min_create_revision,
            &mut r.max_create_revision,
        ] {
            if self.rng.chance(8) {
                *field = (self.seen - self.rng.below(14) as i64 + 2).max(1);
            }
        }
        r
    }

    fn put(&mut self, k: usize) -> PutRequest {
        let mut p = PutRequest {
            key: key(k),
            value: self.value(),
            prev_kv: self.rng.chance(50),
            ..Default::default()
        };
        match self.rng.below(16) {
            0 => {
                p.ignore_value = true;
                p.value.clear();
            }
            1 => p.ignore_lease = true,
            2 => p.lease = 7,
            3 => {
                p.ignore_value = true;
                p.lease = 7;
            }
            _ => {}
        }
        p
    }

    fn compare(&mut self) -> Compare {
        let (key, range_end) = if self.rng.chance(80) {
            (key(self.rng.below(KEYS as u64) as usize), vec![])
        } else {
            self.span()
        };
        let result = self.rng.below(4) as i32;
        let (target, union) = match self.rng.below(5) {
            0 => (CompareTarget::Value, TargetUnion::Value(self.value())),
            1 => (
                CompareTarget::Version,
                TargetUnion::Version(self.rng.below(4) as i64),
            ),
            2 => (
                CompareTarget::Create,
                TargetUnion::CreateRevision(self.revision()),
            ),
            3 => (
                CompareTarget::Mod,
                TargetUnion::ModRevision(self.revision()),
            ),
            _ => (
                CompareTarget::Lease,
                TargetUnion::Lease(self.rng.below(2) as i64),
            ),
        };
        Compare {
            result,
            target: target as i32,
            key,
            range_end,
            target_union: Some(union),
        }
    }

    /// Up to three ops on distinct keys (etcd refuses a key written twice),
    /// ranges with any options, maybe a nested txn on the keys left.
    fn branch(&mut self, mut free: Vec<usize>, nest: bool) -> Vec<RequestOp> {
        let mut ops = Vec::new();
        let mut nested = false;
        for _ in 0..self.rng.below(4) {
            let roll = self.rng.below(10);
            if roll == 9 && nest && !nested {
                nested = true;
                continue;
            }
            let request = match roll {
                6..=9 => request_op::Request::RequestRange(self.range()),
                _ if free.is_empty() => continue,
                0..=3 => {
                    let k = free.swap_remove(self.rng.below(free.len() as u64) as usize);
                    request_op::Request::RequestPut(self.put(k))
                }
                _ => {
                    let k = free.swap_remove(self.rng.below(free.len() as u64) as usize);
                    request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                        key: key(k),
                        prev_kv: self.rng.chance(30),
                        ..Default::default()
                    })
                }
            };
            ops.push(RequestOp {
                request: Some(request),
            });
        }
        if nested {
            ops.push(RequestOp {
                request: Some(request_op::Request::RequestTxn(self.txn(free, false))),
            });
        }
        ops
    }

    fn txn(&mut self, keys: Vec<usize>, nest: bool) -> TxnRequest {
        TxnRequest {
            compare: (0..self.rng.below(3)).map(|_| self.compare()).collect(),
            success: self.branch(keys.clone(), nest),
            failure: self.branch(keys, nest),
        }
    }

    fn request(&mut self) -> Req {
        match self.rng.below(100) {
            0..=29 => Req::Range(self.range()),
            30..=54 => {
                let k = self.rng.below(KEYS as u64) as usize;
                Req::Put(self.put(k))
            }
            55..=64 => {
                let (key, range_end) = self.span();
                Req::Delete(DeleteRangeRequest {
                    key,
                    range_end,
                    prev_kv: self.rng.chance(50),
                })
            }
            65..=96 => Req::Txn(self.txn((0..KEYS).collect(), true)),
            _ => Req::Compact(CompactionRequest {
                revision: self.revision(),
                physical: false,
            }),
        }
    }
}

fn put_op(k: &str, v: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: k.into(),
            value: v.into(),
            ..Default::default()
        })),
    }
}

/// Cases the random history reaches only by luck.
fn fixed_cases() -> Vec<Req> {
    let version_is_0 = |k: &str| Compare {
        key: k.into(),
        target: CompareTarget::Version as i32,
        result: CompareResult::Equal as i32,
        target_union: Some(TargetUnion::Version(0)),
        ..Default::default()
    };
    let future_range = RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: b"k0".to_vec(),
            revision: 1000,
            ..Default::default()
        })),
    };
    let ignore_value_with_lease = PutRequest {
        key: b"nothing-here".to_vec(),
        ignore_value: true,
        lease: 7,
        ..Default::default()
    };
    vec![
        // A nested compare reads the store as the txn began.
        Req::Txn(TxnRequest {
            compare: vec![],
            success: vec![
                put_op("n0", "outer"),
                RequestOp {
                    request: Some(request_op::Request::RequestTxn(TxnRequest {
                        compare: vec![version_is_0("n0")],
                        success: vec![put_op("n1", "inner-success")],
                        failure: vec![put_op("n1", "inner-failure")],
                    })),
                },
            ],
            failure: vec![],
        }),
        Req::Range(RangeRequest {
            key: b"n".to_vec(),
            range_end: b"o".to_vec(),
            ..Default::default()
        }),
        // Puts are checked before ranges, the key before the lease.
        Req::Txn(TxnRequest {
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
        }),
        // A put of its own asks for the lease first.
        Req::Put(ignore_value_with_lease),
        // A sort target with no order, and a limit, over ties.
        Req::Range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            limit: 1,
            sort_target: SortTarget::Version as i32,
            sort_order: SortOrder::None as i32,
            ..Default::default()
        }),
        Req::Compact(CompactionRequest {
            revision: 3,
            physical: false,
        }),
        Req::Compact(CompactionRequest {
            revision: 3,
            physical: false,
        }),
        Req::Range(RangeRequest {
            key: b"n0".to_vec(),
            revision: 2,
            ..Default::default()
        }),
    ]
}

/// A response, with what differs between two servers zeroed; an error as
/// its code and message.
async fn send(kv: &mut KvClient<Channel>, req: &Req) -> String {
    fn norm(h: &mut Option<ResponseHeader>) {
        if let Some(h) = h {
            h.cluster_id = 0;
            h.member_id = 0;
            h.raft_term = 0;
        }
    }
    fn norm_ops(ops: &mut [oxcd::pb::etcdserverpb::ResponseOp]) {
        for op in ops {
            match &mut op.response {
                Some(response_op::Response::ResponseRange(r)) => norm(&mut r.header),
                Some(response_op::Response::ResponsePut(r)) => norm(&mut r.header),
                Some(response_op::Response::ResponseDeleteRange(r)) => norm(&mut r.header),
                Some(response_op::Response::ResponseTxn(t)) => {
                    norm(&mut t.header);
                    norm_ops(&mut t.responses);
                }
                None => {}
            }
        }
    }
    let out = match req.clone() {
        Req::Range(r) => kv.range(r).await.map(|r| {
            let mut r = r.into_inner();
            norm(&mut r.header);
            format!("{r:?}")
        }),
        Req::Put(r) => kv.put(r).await.map(|r| {
            let mut r = r.into_inner();
            norm(&mut r.header);
            format!("{r:?}")
        }),
        Req::Delete(r) => kv.delete_range(r).await.map(|r| {
            let mut r = r.into_inner();
            norm(&mut r.header);
            format!("{r:?}")
        }),
        Req::Txn(r) => kv.txn(r).await.map(|r| {
            let mut r = r.into_inner();
            norm(&mut r.header);
            norm_ops(&mut r.responses);
            format!("{r:?}")
        }),
        Req::Compact(r) => kv.compact(r).await.map(|r| {
            let mut r = r.into_inner();
            norm(&mut r.header);
            format!("{r:?}")
        }),
    };
    out.unwrap_or_else(|s| format!("error {:?}: {}", s.code(), s.message()))
}

/// The revision a normalised response names (0 for an error).
fn revision_of(resp: &str) -> i64 {
    resp.split("revision: ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn watch_from(key: &[u8], end: &[u8], start_revision: i64, prev_kv: bool) -> WatchCreateRequest {
    WatchCreateRequest {
        key: key.to_vec(),
        range_end: end.to_vec(),
        start_revision,
        prev_kv,
        ..Default::default()
    }
}

/// Watchers over the history as it is written: everything with `prev_kv`,
/// one key without puts, a range without deletes, explicit ids.
fn live_watches() -> Vec<WatchCreateRequest> {
    vec![
        watch_from(b"", b"\0", 0, true),
        WatchCreateRequest {
            filters: vec![FilterType::Noput as i32],
            watch_id: 7,
            ..watch_from(&key(1), b"", 0, false)
        },
        WatchCreateRequest {
            filters: vec![FilterType::Nodelete as i32],
            ..watch_from(&key(2), &key(4), 0, true)
        },
    ]
}

/// One watch stream and every response it gets.
struct Watching {
    responses: tokio::sync::mpsc::UnboundedReceiver<String>,
    _requests: tokio::sync::mpsc::Sender<WatchRequest>,
}

impl Watching {
    async fn open(endpoint: String, creates: Vec<WatchCreateRequest>) -> Watching {
        let mut c = WatchClient::connect(endpoint).await.unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel::<WatchRequest>(16);
        let requests = oxcd::rt::stream::ReceiverStream(rx);
        let n = creates.len();
        for cr in creates {
            let req = WatchRequest {
                request_union: Some(watch_request::RequestUnion::CreateRequest(cr)),
            };
            tx.send(req).await.unwrap();
        }
        let mut stream = c.watch(requests).await.unwrap().into_inner();
        let (out, responses) = tokio::sync::mpsc::unbounded_channel();
        // The created answers first, so no write happens before the watch.
        for _ in 0..n {
            let r = stream.message().await.unwrap().unwrap();
            let _ = out.send(norm_watch(r));
        }
        tokio::spawn(async move {
            while let Ok(Some(r)) = stream.message().await {
                if out.send(norm_watch(r)).is_err() {
                    return;
                }
            }
        });
        Watching {
            responses,
            _requests: tx,
        }
    }

    /// Every response until none came for a second, each watcher's in
    /// order, watcher after watcher.
    async fn collect(mut self) -> Vec<String> {
        let mut all = Vec::new();
        while let Ok(Some(r)) =
            tokio::time::timeout(std::time::Duration::from_secs(1), self.responses.recv()).await
        {
            all.push(r);
        }
        let id = |r: &String| {
            r.split("watch_id: ")
                .nth(1)
                .and_then(|t| t.split(',').next())
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(i64::MIN)
        };
        all.sort_by_key(id);
        all
    }
}

/// A watch response without what differs between servers (cluster and
/// member ids, raft terms).
fn norm_watch(mut r: WatchResponse) -> String {
    if let Some(h) = r.header.as_mut() {
        h.cluster_id = 0;
        h.member_id = 0;
        h.raft_term = 0;
    }
    format!("{r:?}")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn kv_requests_get_etcds_answers() {
    if !common::real_etcd_present(REAL_ETCD, "GRPC DIFFERENTIAL TEST") {
        return;
    }
    let (ours_dir, real_dir) = (temp_dir("grpc-diff-oxcd"), temp_dir("grpc-diff-etcd"));
    let ours = Server::spawn(&ours_dir, free_port(), free_port(), &[]);
    let real = Server::spawn_bin(REAL_ETCD, None, &real_dir, free_port(), free_port(), &[]);
    ours.wait_ready();
    real.wait_ready();

    let ops = env_u64("OXCD_GRPC_DIFF_OPS", 600);
    let seed = env_u64("OXCD_GRPC_DIFF_SEED", 0x0dd5_eed5).max(1);
    let rt = common::runtime();
    let mismatches = rt.block_on(async {
        let mut a = KvClient::connect(ours.endpoint()).await.unwrap();
        let mut b = KvClient::connect(real.endpoint()).await.unwrap();
        // Watchers on both servers see the whole history as it is written.
        let watching_a = Watching::open(ours.endpoint(), live_watches()).await;
        let watching_b = Watching::open(real.endpoint(), live_watches()).await;
        let mut gen = Gen {
            rng: Rng(seed),
            seq: 0,
            seen: 1,
        };
        let mut mismatches = Vec::new();
        let fixed = fixed_cases();
        let n_fixed = fixed.len();
        for i in 0..n_fixed + ops as usize {
            let req = match fixed.get(i) {
                Some(r) => r.clone(),
                None => gen.request(),
            };
            let (got, want) = (send(&mut a, &req).await, send(&mut b, &req).await);
            gen.seen = gen.seen.max(revision_of(&want));
            if i == 1 {
                // The premise of the first fixed case, as etcd answers it.
                let inner_success = format!("{:?}", b"inner-success".to_vec());
                assert!(want.contains(&inner_success), "etcd: {want}");
            }
            if got != want {
                mismatches.push(format!(
                    "request {i}: {req:?}\n  etcd: {want}\n  oxcd: {got}"
                ));
            }
        }
        // And watchers created afterwards, from a past revision (compacted
        // or not: the random history compacts), catch up the same way.
        let late = vec![
            watch_from(b"", b"\0", 1, false),
            watch_from(b"", b"\0", gen.seen / 2, true),
            watch_from(b"", b"\0", gen.seen - 3, true),
        ];
        let late_a = Watching::open(ours.endpoint(), late.clone()).await;
        let late_b = Watching::open(real.endpoint(), late).await;
        for (what, (x, y)) in [
            ("live", (watching_a, watching_b)),
            ("late", (late_a, late_b)),
        ] {
            // Per watcher: the order among watchers of one revision is Go's
            // map order in etcd.
            let (got, want) = (x.collect().await, y.collect().await);
            eprintln!("{what} watchers: {} responses from etcd", want.len());
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                if g != w {
                    mismatches.push(format!(
                        "{what} watch response {j}:\n  etcd: {w}\n  oxcd: {g}"
                    ));
                }
            }
            if got.len() != want.len() {
                mismatches.push(format!(
                    "{what} watchers: etcd sent {} responses, oxcd {}",
                    want.len(),
                    got.len()
                ));
            }
        }
        mismatches
    });
    drop((ours, real));
    let _ = std::fs::remove_dir_all(&ours_dir);
    let _ = std::fs::remove_dir_all(&real_dir);
    eprintln!(
        "{} requests (seed {seed}), {} answered differently",
        ops as usize + fixed_cases().len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of the requests got other answers than etcd's; the first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A response or error of the Lock and Election services, normalised as
/// [`send`]'s are.
fn norm_recipe<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> String {
    match r {
        // Only headers carry these fields.
        Ok(r) => ["cluster_id: ", "member_id: ", "raft_term: "].iter().fold(
            format!("{:?}", r.into_inner()),
            |s, f| {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(at) = rest.find(f) {
                    let from = at + f.len();
                    out.push_str(&rest[..from]);
                    out.push('0');
                    let digits = rest[from..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .count();
                    rest = &rest[from + digits..];
                }
                out.push_str(rest);
                out
            },
        ),
        Err(s) => format!("error {:?}: {}", s.code(), s.message()),
    }
}

/// The lock and election script: every answer, normalised, in order.
/// Leases have fixed ids, so the recipes' keys (`<name>/<lease in hex>`)
/// are the same on both servers; blocked calls run in tasks and are
/// released by the steps after them.
async fn lock_and_election_script(endpoint: String) -> Vec<String> {
    use oxcd::pb::etcdserverpb::lease_client::LeaseClient;
    use oxcd::pb::etcdserverpb::{LeaseGrantRequest, LeaseRevokeRequest};
    use oxcd::pb::v3electionpb::election_client::ElectionClient;
    use oxcd::pb::v3electionpb::{
        CampaignRequest, LeaderKey, LeaderRequest, ProclaimRequest, ResignRequest,
    };
    use oxcd::pb::v3lockpb::lock_client::LockClient;
    use oxcd::pb::v3lockpb::{LockRequest, UnlockRequest};
    use std::time::Duration;

    let pause = || tokio::time::sleep(Duration::from_millis(600));
    let mut out = Vec::new();
    let mut leases = LeaseClient::connect(endpoint.clone()).await.unwrap();
    let mut lock = LockClient::connect(endpoint.clone()).await.unwrap();
    let mut elect = ElectionClient::connect(endpoint.clone()).await.unwrap();
    let mut kv = KvClient::connect(endpoint.clone()).await.unwrap();
    for id in [0x1111, 0x2222, 0x4444] {
        let r = leases.lease_grant(LeaseGrantRequest { ttl: 60, id }).await;
        out.push(norm_recipe(r));
    }
    let lreq = |name: &str, lease: i64| LockRequest {
        name: name.as_bytes().to_vec(),
        lease,
    };
    // Uncontended, taken again by the same lease, unknown lease.
    out.push(norm_recipe(lock.lock(lreq("L", 0x1111)).await));
    out.push(norm_recipe(lock.lock(lreq("L", 0x1111)).await));
    out.push(norm_recipe(lock.lock(lreq("L", 0x3333)).await));
    // Contended: the second waits until the first unlocks.
    let mut waiter = lock.clone();
    let second = tokio::spawn(async move { norm_recipe(waiter.lock(lreq("L", 0x2222)).await) });
    pause().await;
    out.push(format!("second done early: {}", second.is_finished()));
    let unlock = |key: &str| UnlockRequest {
        key: key.as_bytes().to_vec(),
    };
    out.push(norm_recipe(lock.unlock(unlock("L/1111")).await));
    out.push(second.await.unwrap());
    // A waiter that gives up leaves the queue: the next one is not blocked.
    let mut quitter = lock.clone();
    let quits = tokio::spawn(async move { quitter.lock(lreq("L", 0x1111)).await });
    pause().await;
    quits.abort();
    pause().await;
    out.push(norm_recipe(lock.unlock(unlock("L/2222")).await));
    out.push(norm_recipe(
        tokio::time::timeout(Duration::from_secs(5), lock.lock(lreq("L", 0x4444)))
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("still blocked"))),
    ));
    out.push(norm_recipe(lock.unlock(unlock("L/4444")).await));
    out.push(norm_recipe(lock.unlock(unlock("no/such")).await));
    out.push(norm_recipe(lock.lock(lreq("", 0x1111)).await));
    out.push(norm_recipe(lock.unlock(unlock("/1111")).await));

    // Election.
    let name = b"E".to_vec();
    let leader_of = |name: &[u8]| LeaderRequest {
        name: name.to_vec(),
    };
    out.push(norm_recipe(elect.leader(leader_of(&name)).await));
    let campaign = |lease: i64, value: &str| CampaignRequest {
        name: b"E".to_vec(),
        lease,
        value: value.as_bytes().to_vec(),
    };
    let first = elect.campaign(campaign(0x1111, "a")).await;
    let leader: LeaderKey = first
        .as_ref()
        .ok()
        .and_then(|r| r.get_ref().leader.clone())
        .unwrap_or_default();
    out.push(norm_recipe(first));
    out.push(norm_recipe(elect.leader(leader_of(&name)).await));
    // The same lease again with another value: proclaimed.
    out.push(norm_recipe(elect.campaign(campaign(0x1111, "b")).await));
    let proclaim = |leader: Option<LeaderKey>, value: &str| ProclaimRequest {
        leader,
        value: value.as_bytes().to_vec(),
    };
    out.push(norm_recipe(
        elect.proclaim(proclaim(Some(leader.clone()), "c")).await,
    ));
    let stale = LeaderKey {
        rev: leader.rev + 1,
        ..leader.clone()
    };
    out.push(norm_recipe(
        elect.proclaim(proclaim(Some(stale), "d")).await,
    ));
    out.push(norm_recipe(elect.proclaim(proclaim(None, "d")).await));
    out.push(norm_recipe(
        elect.resign(ResignRequest { leader: None }).await,
    ));
    // An observer sees the leader, its proclamations, and the next leader.
    let mut observer = elect.observe(leader_of(&name)).await.unwrap().into_inner();
    let mut challenger = elect.clone();
    let next = tokio::spawn(async move { challenger.campaign(campaign(0x2222, "x")).await });
    pause().await;
    out.push(norm_recipe(
        elect.proclaim(proclaim(Some(leader.clone()), "e")).await,
    ));
    out.push(norm_recipe(
        elect
            .resign(ResignRequest {
                leader: Some(leader.clone()),
            })
            .await,
    ));
    let next = next.await.unwrap();
    let second: Option<LeaderKey> = next.as_ref().ok().and_then(|r| r.get_ref().leader.clone());
    out.push(norm_recipe(next));
    for _ in 0..3 {
        let got = tokio::time::timeout(Duration::from_secs(3), observer.message()).await;
        out.push(match got {
            Ok(Ok(Some(r))) => norm_recipe(Ok(tonic::Response::new(r))),
            other => format!("observer: {other:?}"),
        });
    }
    // Resigning twice is no error; then nobody leads.
    out.push(norm_recipe(
        elect
            .resign(ResignRequest {
                leader: second.clone(),
            })
            .await,
    ));
    out.push(norm_recipe(
        elect.resign(ResignRequest { leader: second }).await,
    ));
    out.push(norm_recipe(elect.leader(leader_of(&name)).await));
    // A revoked lease cannot lock or campaign.
    let r = leases.lease_revoke(LeaseRevokeRequest { id: 0x2222 }).await;
    out.push(norm_recipe(r));
    out.push(norm_recipe(lock.lock(lreq("L", 0x2222)).await));
    out.push(norm_recipe(elect.campaign(campaign(0x2222, "y")).await));
    // What the recipes left in the key space.
    let all = RangeRequest {
        key: vec![0],
        range_end: vec![0],
        ..Default::default()
    };
    out.push(send(&mut kv, &Req::Range(all)).await);
    out
}

/// Runs `script` against a fresh oxcd and a fresh real etcd 3.4, both
/// started with `flags`: what each answered, `(oxcd, etcd)`.
fn script_on_both<F, Fut>(tag: &str, flags: &[&str], script: F) -> (Vec<String>, Vec<String>)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let (ours_dir, real_dir) = (
        temp_dir(&format!("grpc-{tag}-oxcd")),
        temp_dir(&format!("grpc-{tag}-etcd")),
    );
    let ours = Server::spawn(&ours_dir, free_port(), free_port(), flags);
    let real = Server::spawn_bin(REAL_ETCD, None, &real_dir, free_port(), free_port(), flags);
    ours.wait_ready();
    real.wait_ready();
    let rt = common::runtime();
    let got = rt.block_on(script(ours.endpoint()));
    let want = rt.block_on(script(real.endpoint()));
    drop((ours, real));
    let _ = std::fs::remove_dir_all(&ours_dir);
    let _ = std::fs::remove_dir_all(&real_dir);
    (got, want)
}

/// Fails with every step where oxcd's answer differs from etcd's.
fn assert_same_steps(what: &str, got: &[String], want: &[String]) {
    let mismatches: Vec<String> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g != w)
        .map(|(i, (g, w))| format!("step {i}:\n  etcd: {w}\n  oxcd: {g}"))
        .collect();
    eprintln!("{} {what} steps, {} differ", want.len(), mismatches.len());
    assert_eq!(got.len(), want.len());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn lock_and_election_get_etcds_answers() {
    if !common::real_etcd_present(REAL_ETCD, "GRPC DIFFERENTIAL TEST") {
        return;
    }
    let (got, want) = script_on_both("lock", &[], lock_and_election_script);
    assert_same_steps("lock and election", &got, &want);
}

/// Periodic progress notifications (`progress_notify`, with
/// `--experimental-watch-progress-notify-interval`): what a watcher hears
/// while idle, after an event, and what a watcher without the option does
/// not hear, in the order it hears it.
async fn progress_notify_script(endpoint: String) -> Vec<String> {
    use oxcd::pb::etcdserverpb::watch_client::WatchClient;
    use oxcd::pb::etcdserverpb::{watch_request, PutRequest, WatchCreateRequest, WatchRequest};
    use std::time::Duration;

    let mut kv = KvClient::connect(endpoint.clone()).await.unwrap();
    let watch = WatchClient::connect(endpoint).await.unwrap();
    // One stream with `creates`; the stream ends when the sender is dropped.
    let open = |creates: Vec<WatchCreateRequest>| {
        let mut watch = watch.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(creates.len());
        for create in creates {
            let req = WatchRequest {
                request_union: Some(watch_request::RequestUnion::CreateRequest(create)),
            };
            tx.try_send(req).expect("room for every create");
        }
        async move {
            let resps = watch.watch(oxcd::rt::stream::ReceiverStream(rx)).await;
            (tx, resps.unwrap().into_inner())
        }
    };
    let creates = [("p", true), ("q", false)].map(|(key, progress_notify)| WatchCreateRequest {
        key: key.as_bytes().to_vec(),
        progress_notify,
        ..Default::default()
    });
    let (tx, mut resps) = open(creates.to_vec()).await;
    let mut out = Vec::new();
    // Two created answers, then (the interval is 500 ms) a notification for
    // the first watcher only, then another.
    for _ in 0..4 {
        let got = tokio::time::timeout(Duration::from_millis(1800), resps.message()).await;
        out.push(match got {
            Ok(Ok(Some(r))) => norm_recipe(Ok(tonic::Response::new(r))),
            other => format!("watch: {other:?}"),
        });
    }
    // An event; the tick after it stays quiet, the one after that speaks.
    let put = PutRequest {
        key: b"p".to_vec(),
        value: b"1".to_vec(),
        ..Default::default()
    };
    out.push(send(&mut kv, &Req::Put(put)).await);
    for _ in 0..2 {
        let got = tokio::time::timeout(Duration::from_millis(2500), resps.message()).await;
        out.push(match got {
            Ok(Ok(Some(r))) => norm_recipe(Ok(tonic::Response::new(r))),
            other => format!("watch: {other:?}"),
        });
    }
    drop(tx);

    // Fragments: ten 300 KB puts, then a watch from revision 1 with
    // `fragment` gets them in one catch-up response, over etcd's limit
    // (`--max-request-bytes` plus gRPC's 512 KiB of overhead, 2 MiB by
    // default): split into responses that fit, all but the last marked
    // `fragment`.
    for i in 0..10 {
        let put = PutRequest {
            key: format!("f{i}").into_bytes(),
            value: vec![b'x'; 300 * 1024],
            ..Default::default()
        };
        out.push(send(&mut kv, &Req::Put(put)).await);
    }
    let create = WatchCreateRequest {
        key: b"f".to_vec(),
        range_end: b"g".to_vec(),
        start_revision: 1,
        fragment: true,
        ..Default::default()
    };
    let (tx, mut resps) = open(vec![create]).await;
    let mut events = 0;
    while events < 10 {
        let got = tokio::time::timeout(Duration::from_secs(3), resps.message()).await;
        let Ok(Ok(Some(r))) = got else {
            out.push(format!("watch: {got:?}"));
            break;
        };
        events += r.events.len();
        let keys: Vec<String> = r
            .events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.kv.as_ref().unwrap().key).into_owned())
            .collect();
        out.push(format!(
            "created {} fragment {} revision {} keys {keys:?}",
            r.created,
            r.fragment,
            r.header.map_or(0, |h| h.revision)
        ));
    }
    drop(tx);
    out
}

#[test]
fn watch_progress_and_fragments_match_etcds() {
    if !common::real_etcd_present(REAL_ETCD, "GRPC DIFFERENTIAL TEST") {
        return;
    }
    let flag = ["--experimental-watch-progress-notify-interval=500ms"];
    let (got, want) = script_on_both("prog", &flag, progress_notify_script);
    assert_same_steps("progress and fragment", &got, &want);
    // Not vacuous: etcd did notify the idle watcher.
    assert!(
        want[2].contains("watch_id: 0, created: false") && want[2].contains("events: []"),
        "{want:?}"
    );
    assert!(want.iter().any(|w| w.contains("fragment true")), "{want:?}");
}
