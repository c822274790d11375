//! The KV workload: clients issue random requests over the whole KV API —
//! ranges with every option (prefixes and ranges, limits, sorts on every
//! target, keys/count only, serializable, past revisions, revision filters),
//! puts (prev_kv, ignore_value, ignore_lease, an unknown lease), deletes
//! (single, range, prev_kv), txns (every compare target and operator, on
//! keys and ranges, nested txns, every op kind in both branches) and
//! compactions — on a few keys, every value unique. Each request and its
//! full response is recorded for [`crate::checker::kv`], and every feature
//! used is counted for the coverage report ([`crate::coverage`]).

use std::sync::{Arc, Mutex};

use madsim::time::Instant;
use oxcd::pb::etcdserverpb::{
    compare, kv_client::KvClient, range_request, request_op, CompactionRequest, Compare,
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::transport::Channel;

use crate::checker::kv::KvOp;
use crate::coverage;
use crate::model::{KvError, Request, Response};
use crate::workload::{Conn, REQUEST_TIMEOUT};

/// Shared between client tasks.
pub type SharedHistory = Arc<Mutex<Vec<KvOp>>>;

/// The keys every client works on (a small space, so requests collide).
pub const KEYS: [&str; 5] = ["k0", "k1", "k2", "k3", "k4"];

pub struct KvWorkloadClient {
    pub id: usize,
    conn: Conn,
    start: Instant,
    history: SharedHistory,
    rng: StdRng,
    seq: u64,
    /// The highest revision this client has seen: past reads, filters and
    /// compactions aim around it.
    seen: i64,
}

fn key(i: usize) -> Vec<u8> {
    KEYS[i % KEYS.len()].as_bytes().to_vec()
}

impl KvWorkloadClient {
    pub fn new(id: usize, urls: Vec<String>, start: Instant, history: SharedHistory) -> Self {
        // Seeded from madsim's RNG, so a seed replays exactly.
        let seed = crate::clock::rng().gen::<u64>();
        KvWorkloadClient {
            id,
            conn: Conn::new(id, urls),
            start,
            history,
            rng: StdRng::seed_from_u64(seed),
            seq: 0,
            seen: 1,
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Runs `n` random requests.
    pub async fn run(&mut self, n: usize) {
        for _ in 0..n {
            let req = self.request();
            self.send(req).await;
        }
    }

    /// A fresh value, unique in the history.
    pub fn next_value(&mut self) -> Vec<u8> {
        self.value()
    }

    /// This client's random source (seeded from madsim's).
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Sends one request and records it; its outcome (`None`: unknown, or
    /// not sent).
    pub async fn send(&mut self, req: Request) -> Option<Result<Response, KvError>> {
        let Some(mut kv) = self.conn.kv().await else {
            return None; // not connected: nothing was sent
        };
        let call = self.now();
        let res = tokio::time::timeout(REQUEST_TIMEOUT, invoke(&mut kv, &req)).await;
        let ret = self.now();
        let out = match res {
            Ok(Ok(resp)) => {
                self.seen = self.seen.max(resp.revision());
                Some(Ok(resp))
            }
            Ok(Err(st)) => match KvError::from_message(st.message()) {
                Some(e) => {
                    coverage::hit(&format!("error.{e:?}"));
                    Some(Err(e))
                }
                None => {
                    coverage::hit(&format!("error.grpc.{:?}", st.code()));
                    self.conn.next();
                    None
                }
            },
            Err(_) => {
                coverage::hit("error.timeout");
                self.conn.next();
                None
            }
        };
        let read = matches!(req, Request::Range(_));
        if out.is_none() && read {
            return None; // a lost read constrains nothing
        }
        self.history.lock().expect("history lock").push(KvOp {
            client: self.id,
            call,
            ret: out.as_ref().map(|_| ret),
            req,
            out: out.clone(),
        });
        out
    }

    fn value(&mut self) -> Vec<u8> {
        self.seq += 1;
        format!("c{}-{}", self.id, self.seq).into_bytes()
    }

    /// A revision near what this client has seen (sometimes ahead of it).
    fn revision(&mut self) -> i64 {
        let back = self.rng.gen_range(-2..12);
        (self.seen - back).max(1)
    }

    fn request(&mut self) -> Request {
        match self.rng.gen_range(0..100) {
            0..=29 => Request::Range(self.range()),
            30..=54 => Request::Put(self.put()),
            55..=64 => Request::DeleteRange(self.delete()),
            65..=96 => Request::Txn(self.txn(true)),
            _ => {
                coverage::hit("compact");
                Request::Compact(CompactionRequest {
                    revision: self.revision(),
                    physical: false,
                })
            }
        }
    }

    /// `(key, range_end)`: a key, a range of keys, a prefix-style open
    /// range, or every key.
    fn span(&mut self, what: &str) -> (Vec<u8>, Vec<u8>) {
        let k = self.rng.gen_range(0..KEYS.len());
        match self.rng.gen_range(0..10) {
            0..=4 => {
                coverage::hit(&format!("{what}.key"));
                (key(k), vec![])
            }
            5..=7 => {
                coverage::hit(&format!("{what}.range_end"));
                let end = self.rng.gen_range(k..KEYS.len() + 1);
                let end = if end == KEYS.len() {
                    b"k9".to_vec()
                } else {
                    key(end)
                };
                (key(k), end)
            }
            8 => {
                coverage::hit(&format!("{what}.from_key"));
                (key(k), vec![0])
            }
            _ => {
                coverage::hit(&format!("{what}.all"));
                (vec![0], vec![0])
            }
        }
    }

    fn range(&mut self) -> RangeRequest {
        use range_request::{SortOrder, SortTarget};
        let (key, range_end) = self.span("range");
        let mut r = RangeRequest {
            key,
            range_end,
            ..Default::default()
        };
        let option = |name: &str, p: f64, rng: &mut StdRng| {
            let on = rng.gen_bool(p);
            if on {
                coverage::hit(&format!("range.{name}"));
            }
            on
        };
        if option("limit", 0.3, &mut self.rng) {
            r.limit = self.rng.gen_range(1..4);
        }
        if option("sort", 0.4, &mut self.rng) {
            let targets = [
                SortTarget::Key,
                SortTarget::Version,
                SortTarget::Create,
                SortTarget::Mod,
                SortTarget::Value,
            ];
            let orders = [SortOrder::None, SortOrder::Ascend, SortOrder::Descend];
            let (t, o) = (
                targets[self.rng.gen_range(0..5)],
                orders[self.rng.gen_range(0..3)],
            );
            coverage::hit(&format!("range.sort.{t:?}.{o:?}"));
            r.sort_target = t as i32;
            r.sort_order = o as i32;
        }
        r.keys_only = option("keys_only", 0.15, &mut self.rng);
        r.count_only = option("count_only", 0.1, &mut self.rng);
        r.serializable = option("serializable", 0.1, &mut self.rng);
        if option("revision", 0.2, &mut self.rng) {
            r.revision = self.revision();
        }
        if option("min_mod_revision", 0.08, &mut self.rng) {
            r.min_mod_revision = self.revision();
        }
        if option("max_mod_revision", 0.08, &mut self.rng) {
            r.max_mod_revision = self.revision();
        }
        if option("min_create_revision", 0.08, &mut self.rng) {
            r.min_create_revision = self.revision();
        }
        if option("max_create_revision", 0.08, &mut self.rng) {
            r.max_create_revision = self.revision();
        }
        r
    }

    fn put(&mut self) -> PutRequest {
        coverage::hit("put");
        let k = self.rng.gen_range(0..KEYS.len());
        self.put_on(k)
    }

    /// A put of key `k`, with any of its options.
    fn put_on(&mut self, k: usize) -> PutRequest {
        let mut p = PutRequest {
            key: key(k),
            value: self.value(),
            prev_kv: self.rng.gen_bool(0.5),
            ..Default::default()
        };
        if p.prev_kv {
            coverage::hit("put.prev_kv");
        }
        match self.rng.gen_range(0..20) {
            0 => {
                coverage::hit("put.ignore_value");
                p.ignore_value = true;
                p.value.clear();
            }
            1 => {
                coverage::hit("put.ignore_lease");
                p.ignore_lease = true;
            }
            2 => {
                coverage::hit("put.lease");
                p.lease = 7;
            }
            3 => {
                // Which check comes first differs in and out of a txn.
                coverage::hit("put.ignore_value_and_lease");
                p.ignore_value = true;
                p.lease = 7;
            }
            _ => {}
        }
        p
    }

    fn delete(&mut self) -> DeleteRangeRequest {
        let (key, range_end) = self.span("delete");
        let prev_kv = self.rng.gen_bool(0.5);
        if prev_kv {
            coverage::hit("delete.prev_kv");
        }
        DeleteRangeRequest {
            key,
            range_end,
            prev_kv,
        }
    }

    fn compare(&mut self) -> Compare {
        use compare::{CompareResult, CompareTarget, TargetUnion};
        let (key, range_end) = if self.rng.gen_bool(0.8) {
            (key(self.rng.gen_range(0..KEYS.len())), vec![])
        } else {
            coverage::hit("compare.range_end");
            self.span("compare")
        };
        let results = [
            CompareResult::Equal,
            CompareResult::Greater,
            CompareResult::Less,
            CompareResult::NotEqual,
        ];
        let result = results[self.rng.gen_range(0..4)];
        let (target, union) = match self.rng.gen_range(0..5) {
            0 => {
                // A value some client wrote lately, or an impossible one.
                let v = if self.rng.gen_bool(0.5) {
                    let c = self.rng.gen_range(0..4);
                    let s = self.seq.saturating_sub(self.rng.gen_range(0..3));
                    format!("c{c}-{s}").into_bytes()
                } else {
                    b"c".to_vec()
                };
                (CompareTarget::Value, TargetUnion::Value(v))
            }
            1 => (
                CompareTarget::Version,
                TargetUnion::Version(self.rng.gen_range(0..4)),
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
                TargetUnion::Lease(self.rng.gen_range(0..2)),
            ),
        };
        coverage::hit(&format!("compare.{target:?}.{result:?}"));
        Compare {
            result: result as i32,
            target: target as i32,
            key,
            range_end,
            target_union: Some(union),
        }
    }

    /// A txn branch over keys from `free`: up to three ops, each on its own
    /// key (etcd refuses a key written twice in one branch), possibly a
    /// nested txn, which gets the keys this branch leaves.
    fn branch(&mut self, mut free: Vec<usize>, nest: bool) -> Vec<RequestOp> {
        let n = self.rng.gen_range(0..4);
        let mut ops = Vec::new();
        let mut nested = false;
        for _ in 0..n {
            if free.is_empty() {
                break;
            }
            let roll = self.rng.gen_range(0..10);
            if roll == 9 && nest && !nested {
                nested = true;
                continue; // added last, on the keys left
            }
            if roll >= 6 {
                // Ranges may overlap anything (etcd checks only writes for
                // duplicates) and take every option, a past revision too.
                coverage::hit("txn.op.range");
                ops.push(RequestOp {
                    request: Some(request_op::Request::RequestRange(self.range())),
                });
                continue;
            }
            let k = free.swap_remove(self.rng.gen_range(0..free.len()));
            let request = match roll {
                0..=3 => {
                    coverage::hit("txn.op.put");
                    request_op::Request::RequestPut(self.put_on(k))
                }
                _ => {
                    coverage::hit("txn.op.delete");
                    request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                        key: key(k),
                        prev_kv: self.rng.gen_bool(0.3),
                        ..Default::default()
                    })
                }
            };
            ops.push(RequestOp {
                request: Some(request),
            });
        }
        if nested && !free.is_empty() {
            coverage::hit("txn.op.txn");
            ops.push(RequestOp {
                request: Some(request_op::Request::RequestTxn(self.txn_on(free, false))),
            });
        }
        ops
    }

    fn txn(&mut self, nest: bool) -> TxnRequest {
        self.txn_on((0..KEYS.len()).collect(), nest)
    }

    /// A txn writing only keys from `keys`; its then and else branches may
    /// share keys (only one runs).
    fn txn_on(&mut self, keys: Vec<usize>, nest: bool) -> TxnRequest {
        coverage::hit(if nest { "txn" } else { "txn.nested" });
        let compares = self.rng.gen_range(0..3);
        let compare = (0..compares).map(|_| self.compare()).collect();
        TxnRequest {
            compare,
            success: self.branch(keys.clone(), nest),
            failure: self.branch(keys, nest),
        }
    }
}

/// Sends one request; its full response.
async fn invoke(kv: &mut KvClient<Channel>, req: &Request) -> Result<Response, tonic::Status> {
    Ok(match req {
        Request::Range(r) => Response::Range(kv.range(r.clone()).await?.into_inner()),
        Request::Put(r) => Response::Put(kv.put(r.clone()).await?.into_inner()),
        Request::DeleteRange(r) => {
            Response::DeleteRange(kv.delete_range(r.clone()).await?.into_inner())
        }
        Request::Txn(r) => Response::Txn(kv.txn(r.clone()).await?.into_inner()),
        Request::Compact(r) => {
            let resp = kv.compact(*r).await?.into_inner();
            Response::Compact(resp.header.map_or(0, |h| h.revision))
        }
    })
}
