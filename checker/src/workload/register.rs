//! The register workload: clients read, write and compare-and-set a few keys
//! (each key a register), the requests etcd users issue most. Every request
//! and its full response is recorded, as the KV workload records them
//! ([`super::kv`]), and checked the same way ([`crate::checker::kv`]).

use madsim::time::Instant;
use oxcd::pb::etcdserverpb::{
    compare, request_op, Compare, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use rand::Rng;

use super::kv::KvWorkloadClient;
use crate::model::{Request, Response};

/// A recorded history, shared between client tasks.
pub type SharedHistory = super::kv::SharedHistory;

pub struct RegisterClient {
    client: KvWorkloadClient,
    pub keys: usize,
    /// The last value this client read or wrote per key: what its CAS expects.
    last_seen: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
}

impl RegisterClient {
    pub fn new(
        id: usize,
        urls: Vec<String>,
        keys: usize,
        start: Instant,
        history: SharedHistory,
    ) -> Self {
        RegisterClient {
            client: KvWorkloadClient::new(id, urls, start, history),
            keys,
            last_seen: Default::default(),
        }
    }

    /// Runs `n` random operations.
    pub async fn run(&mut self, n: usize) {
        for _ in 0..n {
            self.one().await;
        }
    }

    /// One random operation: a get, a put, or a compare-and-set, recorded.
    pub async fn one(&mut self) {
        let keys = self.keys;
        let (k, roll) = {
            let rng = self.client.rng();
            (rng.gen_range(0..keys), rng.gen_range(0..10))
        };
        let key = format!("k{k}").into_bytes();
        let value = self.client.next_value();
        let req = match roll {
            0..=3 => Request::Range(RangeRequest {
                key: key.clone(),
                ..Default::default()
            }),
            4..=7 => Request::Put(PutRequest {
                key: key.clone(),
                value: value.clone(),
                ..Default::default()
            }),
            _ => {
                let expect = self.last_seen.get(&key).cloned().unwrap_or_default();
                Request::Txn(cas(&key, expect, value.clone()))
            }
        };
        match self.client.send(req).await {
            Some(Ok(Response::Range(r))) => {
                if let Some(kv) = r.kvs.first() {
                    self.last_seen.insert(key, kv.value.clone());
                }
            }
            Some(Ok(Response::Put(_))) => {
                self.last_seen.insert(key, value);
            }
            Some(Ok(Response::Txn(t))) if t.succeeded => {
                self.last_seen.insert(key, value);
            }
            _ => {}
        }
    }
}

/// `if value(key) == expect then put(key, value)`.
fn cas(key: &[u8], expect: Vec<u8>, value: Vec<u8>) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Value as i32,
            key: key.to_vec(),
            target_union: Some(compare::TargetUnion::Value(expect)),
            range_end: vec![],
        }],
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: key.to_vec(),
                value,
                ..Default::default()
            })),
        }],
        failure: vec![],
    }
}

/// The liveness probe after healing: a fresh client's operations on `keys`
/// registers, recorded in `history`; how many got an answer.
pub async fn probe(
    urls: Vec<String>,
    keys: usize,
    start: Instant,
    history: SharedHistory,
) -> usize {
    let before = history.lock().expect("lock").len();
    let mut c = RegisterClient::new(super::PROBE_CLIENT, urls, keys, start, history.clone());
    for _ in 0..super::PROBE_OPS {
        c.one().await;
    }
    let h = history.lock().expect("lock");
    h[before..].iter().filter(|o| o.out.is_some()).count()
}
