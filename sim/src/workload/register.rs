//! The register workload: clients read, write and compare-and-set a few keys
//! (each key a register), recording every invocation and completion with its
//! outcome — ok, failed, or unknown (the client never learned).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::time::Instant;
use oxcd::pb::etcdserverpb::{
    compare, kv_client::KvClient, request_op, Compare, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use rand::Rng;
use tonic::transport::Channel;

use crate::checker::linearizability::register::{Input, Output};
use crate::checker::linearizability::Operation;
use crate::checker::revisions::Observed;

/// Every request gives up after this long (its outcome is then unknown).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause after a failed connect before the next attempt.
pub const CONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// A recorded history.
#[derive(Default)]
pub struct History {
    pub ops: Vec<Operation<Input, Output>>,
    pub revisions: Vec<Observed>,
}

/// Shared between client tasks.
pub type SharedHistory = Arc<Mutex<History>>;

pub struct RegisterClient {
    pub id: usize,
    /// Members to talk to; the client moves to the next one after a failure.
    pub urls: Vec<String>,
    current: usize,
    pub keys: usize,
    pub start: Instant,
    pub history: SharedHistory,
    kv: Option<KvClient<Channel>>,
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
        assert!(!urls.is_empty(), "a client needs a member to talk to");
        RegisterClient {
            id,
            current: id % urls.len(),
            urls,
            keys,
            start,
            history,
            kv: None,
            next_value: 0,
            last_seen: Default::default(),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    async fn client(&mut self) -> Option<KvClient<Channel>> {
        if self.kv.is_none() {
            let url = self.urls[self.current].clone();
            let c = tokio::time::timeout(REQUEST_TIMEOUT, KvClient::connect(url));
            match c.await {
                Ok(Ok(c)) => self.kv = Some(c),
                _ => {
                    // Back off a little, then try the next member.
                    self.current = (self.current + 1) % self.urls.len();
                    madsim::time::sleep(CONNECT_BACKOFF).await;
                }
            }
        }
        self.kv.clone()
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
        let Some(mut kv) = self.client().await else {
            return; // not even connected: nothing was sent
        };
        let call = self.now();
        let res = tokio::time::timeout(REQUEST_TIMEOUT, invoke(&mut kv, &input)).await;
        let ret = self.now();
        let (output, revision) = match res {
            Ok(Ok((o, rev))) => (Some(o), Some(rev)),
            _ => {
                // Reconnect next time, to the next member.
                self.kv = None;
                self.current = (self.current + 1) % self.urls.len();
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
        if let Some(revision) = revision {
            h.revisions.push(Observed {
                client: self.id,
                time: ret,
                revision,
            });
        }
        h.ops.push(Operation {
            client: self.id,
            call,
            ret: output.as_ref().map(|_| ret),
            input,
            output,
        });
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
