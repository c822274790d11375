//! The lock workload: clients take turns holding one lock (the v3lock
//! service, each round on a fresh lease), and while they hold it increment
//! two counters by read-modify-write:
//!
//! * `lock/counter/fenced`, read and written in txns guarded by the lock
//!   key's create revision (the fencing token etcd's lock documents: the
//!   key's revision tells holders apart, and a txn on it fails once the key
//!   is gone);
//! * `lock/counter/unfenced`, read and written by plain range and put, as a
//!   client that trusts "I hold the lock" would.
//!
//! Sometimes a holder stalls between its read and its write for longer than
//! its lease's TTL (a process pause): the lease expires, the next waiter
//! takes the lock, and the stalled client's writes come late. Everything the
//! clients saw is logged for [`crate::checker::lock`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxcd::pb::etcdserverpb::{
    compare, kv_client::KvClient, lease_client::LeaseClient, request_op, response_op, Compare,
    LeaseGrantRequest, LeaseRevokeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use oxcd::pb::mvccpb::KeyValue;
use oxcd::pb::v3lockpb::{lock_client::LockClient, LockRequest, UnlockRequest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::now as sim_now;
use crate::coverage;
use crate::workload::lease::Conn;
use crate::workload::REQUEST_TIMEOUT;

/// The lock every client queues on.
pub const LOCK_NAME: &str = "lock/mutex";
/// The counter written only under the fence.
pub const FENCED: &str = "lock/counter/fenced";
/// The counter written by whoever thinks it holds the lock.
pub const UNFENCED: &str = "lock/counter/unfenced";

/// How long a client waits in the lock's queue before giving up (the server
/// then takes its key out of the queue).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(6);

/// What happened, as the clients saw it. Revisions are response header
/// revisions; times are simulated.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `client` holds the lock: its key was created at `generation` (the
    /// fencing token); Lock answered at `at`.
    Acquired {
        client: usize,
        generation: i64,
        at: Duration,
    },
    /// `client` stopped believing it holds `generation` at `at` (it sent
    /// Unlock, or gave up after a failed request).
    Released {
        client: usize,
        generation: i64,
        at: Duration,
    },
    /// A fenced txn of `generation` succeeded at `revision`: it read `read`
    /// (and the lock's queue: `earlier`, the create revisions of keys queued
    /// before this holder's) or wrote `wrote`.
    Fenced {
        client: usize,
        generation: i64,
        revision: i64,
        read: Option<i64>,
        earlier: Vec<i64>,
        wrote: Option<i64>,
    },
    /// A fenced txn failed its compare: the lock key was gone.
    FenceRejected { client: usize, generation: i64 },
    /// A plain put of `wrote` to the unfenced counter, at `revision`.
    Unfenced {
        client: usize,
        generation: i64,
        revision: i64,
        wrote: i64,
    },
}

pub type SharedEvents = Arc<Mutex<Vec<Event>>>;

pub struct LockWorkloadClient {
    id: usize,
    conn: Conn,
    events: SharedEvents,
    rng: StdRng,
    /// One round in this many stalls past its lease's TTL mid-update.
    stall_one_in: u32,
}

/// Why a hold ended early.
struct Lost;

impl LockWorkloadClient {
    pub fn new(id: usize, urls: Vec<String>, events: SharedEvents, stall_one_in: u32) -> Self {
        let seed = crate::clock::rng().gen::<u64>();
        LockWorkloadClient {
            id,
            conn: Conn::new(id, urls),
            events,
            rng: StdRng::seed_from_u64(seed),
            stall_one_in,
        }
    }

    fn log(&self, e: Event) {
        self.events.lock().expect("lock").push(e);
    }

    /// `rounds` holds, one after another.
    pub async fn run(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.round().await;
            let d = Duration::from_millis(self.rng.gen_range(0..300));
            madsim::time::sleep(d).await;
        }
    }

    async fn round(&mut self) {
        let ttl = self.rng.gen_range(2..=4);
        let Some(lease) = self.grant(ttl).await else {
            return;
        };
        let Some(key) = self.lock(lease).await else {
            return;
        };
        let Some(generation) = self.create_revision(&key).await else {
            return;
        };
        self.log(Event::Acquired {
            client: self.id,
            generation,
            at: sim_now(),
        });
        coverage::hit("lock.acquired");
        let increments = self.rng.gen_range(1..=3);
        for _ in 0..increments {
            if self.increment(&key, generation, ttl).await.is_err() {
                break;
            }
        }
        self.log(Event::Released {
            client: self.id,
            generation,
            at: sim_now(),
        });
        self.unlock(key).await;
        self.revoke(lease).await;
    }

    async fn grant(&mut self, ttl: i64) -> Option<i64> {
        let ch = self.conn.channel().await?;
        let req = LeaseGrantRequest { ttl, id: 0 };
        match tokio::time::timeout(REQUEST_TIMEOUT, LeaseClient::new(ch).lease_grant(req)).await {
            Ok(Ok(r)) => Some(r.into_inner().id),
            _ => {
                self.conn.next();
                None
            }
        }
    }

    /// Queues for the lock; its key once held.
    async fn lock(&mut self, lease: i64) -> Option<Vec<u8>> {
        let ch = self.conn.channel().await?;
        let req = LockRequest {
            name: LOCK_NAME.as_bytes().to_vec(),
            lease,
        };
        match tokio::time::timeout(LOCK_TIMEOUT, LockClient::new(ch).lock(req)).await {
            Ok(Ok(r)) => Some(r.into_inner().key),
            Ok(Err(_)) => {
                self.conn.next();
                None
            }
            Err(_) => {
                // Gave up waiting: the dropped call leaves the queue.
                coverage::hit("lock.gave_up");
                None
            }
        }
    }

    /// The lock key's create revision: the holder's fencing token.
    async fn create_revision(&mut self, key: &[u8]) -> Option<i64> {
        let ch = self.conn.channel().await?;
        let req = RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, KvClient::new(ch).range(req)).await {
            Ok(Ok(r)) => {
                let kv = r.into_inner().kvs.into_iter().next();
                if kv.is_none() {
                    coverage::hit("lock.lost_before_use");
                }
                kv.map(|kv| kv.create_revision)
            }
            _ => {
                self.conn.next();
                None
            }
        }
    }

    /// Reads both counters, maybe stalls, writes both plus one.
    async fn increment(&mut self, key: &[u8], generation: i64, ttl: i64) -> Result<(), Lost> {
        let fenced = self.fenced_read(key, generation).await?;
        let unfenced = self.plain_read().await?;
        let d = if self.rng.gen_ratio(1, self.stall_one_in) {
            coverage::hit("lock.stall");
            Duration::from_millis(ttl as u64 * 1000 + self.rng.gen_range(500..3000))
        } else {
            Duration::from_millis(self.rng.gen_range(0..200))
        };
        madsim::time::sleep(d).await;
        // The plain write first: it goes in whether or not the lock is
        // still held, which is the point.
        self.plain_write(generation, unfenced + 1).await?;
        self.fenced_write(key, generation, fenced + 1).await
    }

    fn fence(key: &[u8], generation: i64) -> Vec<Compare> {
        vec![Compare {
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Create as i32,
            key: key.to_vec(),
            target_union: Some(compare::TargetUnion::CreateRevision(generation)),
            range_end: vec![],
        }]
    }

    /// A txn: whether it succeeded, its revision, and the kvs of each range
    /// it ran.
    async fn txn(&mut self, req: TxnRequest) -> Result<(bool, i64, Vec<Vec<KeyValue>>), Lost> {
        let ch = self.conn.channel().await.ok_or(Lost)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, KvClient::new(ch).txn(req)).await {
            Ok(Ok(r)) => {
                let r = r.into_inner();
                let rev = r.header.map_or(0, |h| h.revision);
                let ranges = r
                    .responses
                    .into_iter()
                    .filter_map(|op| match op.response {
                        Some(response_op::Response::ResponseRange(r)) => Some(r.kvs),
                        _ => None,
                    })
                    .collect();
                Ok((r.succeeded, rev, ranges))
            }
            _ => {
                self.conn.next();
                Err(Lost)
            }
        }
    }

    /// Reads the fenced counter, and the lock's queue with it: a holder
    /// must be the queue's first key.
    async fn fenced_read(&mut self, key: &[u8], generation: i64) -> Result<i64, Lost> {
        let get = |key: Vec<u8>, range_end: Vec<u8>, keys_only: bool| RequestOp {
            request: Some(request_op::Request::RequestRange(RangeRequest {
                key,
                range_end,
                keys_only,
                ..Default::default()
            })),
        };
        let counter = get(FENCED.as_bytes().to_vec(), vec![], false);
        let pfx = format!("{LOCK_NAME}/").into_bytes();
        let end = oxcd::ctl::prefix_end(&pfx);
        let req = TxnRequest {
            compare: Self::fence(key, generation),
            success: vec![counter, get(pfx, end, true)],
            failure: vec![],
        };
        let (ok, revision, ranges) = self.txn(req).await?;
        let read = ranges.first().map_or(0, |kvs| counter_value(kvs));
        let earlier = ranges.get(1).map_or(vec![], |kvs| {
            kvs.iter()
                .map(|kv| kv.create_revision)
                .filter(|&c| c < generation)
                .collect()
        });
        self.fenced_outcome(generation, ok, revision, (Some(read), earlier), None)?;
        Ok(read)
    }

    async fn fenced_write(&mut self, key: &[u8], generation: i64, value: i64) -> Result<(), Lost> {
        let put = RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key: FENCED.as_bytes().to_vec(),
                value: value.to_string().into_bytes(),
                ..Default::default()
            })),
        };
        let req = TxnRequest {
            compare: Self::fence(key, generation),
            success: vec![put],
            failure: vec![],
        };
        let (ok, revision, _) = self.txn(req).await?;
        self.fenced_outcome(generation, ok, revision, (None, vec![]), Some(value))
    }

    fn fenced_outcome(
        &self,
        generation: i64,
        ok: bool,
        revision: i64,
        (read, earlier): (Option<i64>, Vec<i64>),
        wrote: Option<i64>,
    ) -> Result<(), Lost> {
        if !ok {
            coverage::hit("lock.fence_rejected");
            self.log(Event::FenceRejected {
                client: self.id,
                generation,
            });
            return Err(Lost);
        }
        self.log(Event::Fenced {
            client: self.id,
            generation,
            revision,
            read,
            earlier,
            wrote,
        });
        Ok(())
    }

    async fn plain_read(&mut self) -> Result<i64, Lost> {
        let ch = self.conn.channel().await.ok_or(Lost)?;
        let req = RangeRequest {
            key: UNFENCED.as_bytes().to_vec(),
            ..Default::default()
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, KvClient::new(ch).range(req)).await {
            Ok(Ok(r)) => Ok(counter_value(&r.into_inner().kvs)),
            _ => {
                self.conn.next();
                Err(Lost)
            }
        }
    }

    async fn plain_write(&mut self, generation: i64, value: i64) -> Result<(), Lost> {
        let ch = self.conn.channel().await.ok_or(Lost)?;
        let req = PutRequest {
            key: UNFENCED.as_bytes().to_vec(),
            value: value.to_string().into_bytes(),
            ..Default::default()
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, KvClient::new(ch).put(req)).await {
            Ok(Ok(r)) => {
                self.log(Event::Unfenced {
                    client: self.id,
                    generation,
                    revision: r.into_inner().header.map_or(0, |h| h.revision),
                    wrote: value,
                });
                Ok(())
            }
            _ => {
                self.conn.next();
                Err(Lost)
            }
        }
    }

    async fn unlock(&mut self, key: Vec<u8>) {
        let Some(ch) = self.conn.channel().await else {
            return;
        };
        let mut locks = LockClient::new(ch);
        let r = locks.unlock(UnlockRequest { key });
        if !matches!(tokio::time::timeout(REQUEST_TIMEOUT, r).await, Ok(Ok(_))) {
            // The key goes with the lease.
            self.conn.next();
        }
    }

    async fn revoke(&mut self, id: i64) {
        let Some(ch) = self.conn.channel().await else {
            return;
        };
        let mut leases = LeaseClient::new(ch);
        let r = leases.lease_revoke(LeaseRevokeRequest { id });
        if !matches!(tokio::time::timeout(REQUEST_TIMEOUT, r).await, Ok(Ok(_))) {
            self.conn.next();
        }
    }
}

/// A counter's value (0 before its first write).
fn counter_value(kvs: &[KeyValue]) -> i64 {
    kvs.first()
        .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok())
        .unwrap_or(0)
}

/// After the faults are healed and every client has stopped: one more
/// client must get the lock within `within` (no key is left in the queue
/// for good). How long it took.
pub async fn acquire_once(urls: Vec<String>, within: Duration) -> Result<Duration, String> {
    let started = sim_now();
    let mut conn = Conn::new(0, urls);
    while sim_now() - started < within {
        let Some(ch) = conn.channel().await else {
            continue;
        };
        let grant = LeaseGrantRequest { ttl: 5, id: 0 };
        let lease = match tokio::time::timeout(
            REQUEST_TIMEOUT,
            LeaseClient::new(ch.clone()).lease_grant(grant),
        )
        .await
        {
            Ok(Ok(r)) => r.into_inner().id,
            _ => {
                conn.next();
                continue;
            }
        };
        let req = LockRequest {
            name: LOCK_NAME.as_bytes().to_vec(),
            lease,
        };
        let left = within.saturating_sub(sim_now() - started);
        match tokio::time::timeout(left, LockClient::new(ch).lock(req)).await {
            Ok(Ok(_)) => return Ok(sim_now() - started),
            Ok(Err(_)) => conn.next(),
            Err(_) => break,
        }
    }
    Err(format!(
        "nobody could take the lock within {within:?} of healing and stopping every client"
    ))
}
