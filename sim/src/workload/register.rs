//! The register workload: clients read, write and compare-and-set a few keys
//! (each key a register), recording every invocation and completion with its
//! outcome — ok, failed, or unknown (the client never learned).

use std::sync::{Arc, Mutex};

use madsim::time::Instant;
use oxcd::pb::etcdserverpb::{
    compare, kv_client::KvClient, request_op, Compare, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use rand::Rng;
use tonic::transport::Channel;

use crate::checker::linearizability::register::{Input, Output};
use crate::workload::{Conn, REQUEST_TIMEOUT};

/// A recorded history.
pub type History = super::History<Input, Output>;

/// Shared between client tasks.
pub type SharedHistory = Arc<Mutex<History>>;

pub struct RegisterClient {
    pub id: usize,
    conn: Conn,
    pub keys: usize,
    pub start: Instant,
    pub history: SharedHistory,
    next_value: u64,
    /// The last value this client read or wrote per key: what its CAS expects.
    last_seen: std::collections::BTreeMap<String, String>,
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
            id,
            conn: Conn::new(id, urls),
            keys,
            start,
            history,
            next_value: 0,
            last_seen: Default::default(),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Runs `n` random operations.
    pub async fn run(&mut self, n: usize) {
        for _ in 0..n {
            self.one().await;
        }
    }

    /// One random operation, recorded.
    pub async fn one(&mut self) {
        let (key, roll) = {
            let mut rng = madsim::rand::thread_rng();
            (
                format!("k{}", rng.gen_range(0..self.keys)),
                rng.gen_range(0..10),
            )
        };
        self.next_value += 1;
        let value = format!("c{}-{}", self.id, self.next_value);
        let input = match roll {
            0..=3 => Input::Get { key },
            4..=7 => Input::Put { key, value },
            _ => {
                let expect = self.last_seen.get(&key).cloned().unwrap_or_default();
                Input::Cas { key, expect, value }
            }
        };
        let Some(mut kv) = self.conn.kv().await else {
            return; // not even connected: nothing was sent
        };
        let call = self.now();
        let res = tokio::time::timeout(REQUEST_TIMEOUT, invoke(&mut kv, &input)).await;
        let ret = self.now();
        let (output, revision) = match res {
            Ok(Ok((o, rev))) => (Some(o), Some(rev)),
            _ => {
                self.conn.next();
                (None, None)
            }
        };
        match (&input, &output) {
            (Input::Get { key }, Some(Output::Get { value: Some(v), .. })) => {
                self.last_seen.insert(key.clone(), v.clone());
            }
            (Input::Put { key, value }, Some(_))
            | (
                Input::Cas { key, value, .. },
                Some(Output::Cas {
                    succeeded: true, ..
                }),
            ) => {
                self.last_seen.insert(key.clone(), value.clone());
            }
            _ => {}
        }
        if output.is_none() && matches!(input, Input::Get { .. }) {
            return; // a failed read constrains nothing
        }
        let mut h = self.history.lock().expect("history lock");
        h.record(self.id, (call, ret), input, output, revision);
    }
}

/// Sends one operation; returns its output and the response header revision.
async fn invoke(kv: &mut KvClient<Channel>, input: &Input) -> Result<(Output, i64), tonic::Status> {
    let rev_of =
        |h: &Option<oxcd::pb::etcdserverpb::ResponseHeader>| h.as_ref().map_or(0, |h| h.revision);
    match input {
        Input::Get { key } => {
            let r = kv
                .range(RangeRequest {
                    key: key.clone().into_bytes(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            let kv0 = r.kvs.first();
            Ok((
                Output::Get {
                    value: kv0.map(|kv| String::from_utf8_lossy(&kv.value).into_owned()),
                    mod_rev: kv0.map_or(0, |kv| kv.mod_revision),
                },
                rev_of(&r.header),
            ))
        }
        Input::Put { key, value } => {
            let r = kv
                .put(PutRequest {
                    key: key.clone().into_bytes(),
                    value: value.clone().into_bytes(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            let rev = rev_of(&r.header);
            Ok((Output::Put { rev }, rev))
        }
        Input::Cas { key, expect, value } => {
            let r = kv
                .txn(TxnRequest {
                    compare: vec![Compare {
                        result: compare::CompareResult::Equal as i32,
                        target: compare::CompareTarget::Value as i32,
                        key: key.clone().into_bytes(),
                        target_union: Some(compare::TargetUnion::Value(
                            expect.clone().into_bytes(),
                        )),
                        range_end: vec![],
                    }],
                    success: vec![RequestOp {
                        request: Some(request_op::Request::RequestPut(PutRequest {
                            key: key.clone().into_bytes(),
                            value: value.clone().into_bytes(),
                            ..Default::default()
                        })),
                    }],
                    failure: vec![],
                })
                .await?
                .into_inner();
            let rev = rev_of(&r.header);
            Ok((
                Output::Cas {
                    succeeded: r.succeeded,
                    rev,
                },
                rev,
            ))
        }
    }
}
