//! `stm`: clientv3's software transactional memory (`concurrency.NewSTM`)
//! over txn, each transaction reading `--keys-per-txn` random keys and
//! writing `--txn-wr-percent` of them, retried until its compares hold;
//! optionally each one under a lock (`--stm-locker`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxcd::pb::etcdserverpb::{
    compare, kv_client::KvClient, lease_client::LeaseClient, range_request, request_op,
    response_op, watch_client::WatchClient, watch_request, Compare, DeleteRangeRequest,
    LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, RangeRequest, RangeResponse, RequestOp,
    TxnRequest, TxnResponse, WatchCreateRequest, WatchRequest,
};
use oxcd::pb::v3lockpb::{lock_client::LockClient, LockRequest, UnlockRequest};
use oxcd::rt::stream::ReceiverStream;
use tonic::transport::Channel;

use crate::report::Recorder;
use crate::{f, Int, Str};
use crate::{fail, put_varint, rand_below, rand_bytes, req, status_text, Flag, Global, Limiter};

pub const STM_FLAGS: &[Flag] = &[
    f(
        "isolation",
        Str,
        "r",
        "Read Committed (c), Repeatable Reads (r), Serializable (s), or Snapshot (ss)",
    ),
    f(
        "keys",
        Int,
        "1",
        "Total unique keys accessible by the benchmark",
    ),
    f(
        "total",
        Int,
        "10000",
        "Total number of completed STM transactions",
    ),
    f(
        "keys-per-txn",
        Int,
        "1",
        "Number of keys to access per transaction",
    ),
    f(
        "txn-wr-percent",
        Int,
        "50",
        "Percentage of keys to overwrite per transaction",
    ),
    f(
        "stm-locker",
        Str,
        "stm",
        "Wrap STM transaction with a custom locking mechanism (stm, lock-client, lock-rpc)",
    ),
    f("val-size", Int, "8", "Value size of each STM put request"),
    f(
        "rate",
        Int,
        "0",
        "Maximum STM transactions per second (0 is no limit)",
    ),
];

/// clientv3's isolation levels.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Iso {
    ReadCommitted,
    RepeatableReads,
    Serializable,
    SerializableSnapshot,
}

impl Iso {
    /// Serializable and snapshot reads pin the first read's revision.
    fn pins(self) -> bool {
        matches!(self, Iso::Serializable | Iso::SerializableSnapshot)
    }
}

fn range_op(key: &[u8], serializable: bool, revision: i64) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: key.to_vec(),
            serializable,
            revision,
            ..Default::default()
        })),
    }
}

fn mod_cmp(key: &[u8], result: compare::CompareResult, rev: i64) -> Compare {
    Compare {
        result: result as i32,
        target: compare::CompareTarget::Mod as i32,
        key: key.to_vec(),
        range_end: Vec::new(),
        target_union: Some(compare::TargetUnion::ModRevision(rev)),
    }
}

async fn txn(ch: &Channel, t: TxnRequest) -> Result<TxnResponse, String> {
    KvClient::new(ch.clone())
        .txn(req(t))
        .await
        .map(|r| r.into_inner())
        .map_err(|s| status_text(&s))
}

/// A read: what it returned and at which revision.
#[derive(Clone)]
struct Read {
    resp: RangeResponse,
    rev: i64,
}

/// The ranges of a txn response, each with its revision (the txn's when
/// the nested response carries none).
fn reads(resp: TxnResponse) -> Vec<Read> {
    let txn_rev = resp.header.as_ref().map_or(0, |h| h.revision);
    resp.responses
        .into_iter()
        .filter_map(|r| match r.response {
            Some(response_op::Response::ResponseRange(rr)) => Some(Read {
                rev: rr.header.as_ref().map_or(txn_rev, |h| h.revision),
                resp: rr,
            }),
            _ => None,
        })
        .collect()
}

/// One STM's state across attempts (clientv3's `stm`/`stmSerializable`).
struct Stm {
    ch: Channel,
    iso: Iso,
    rset: HashMap<Vec<u8>, Read>,
    wset: HashMap<Vec<u8>, Vec<u8>>,
    /// Reads at this revision (after a serializable STM's first read).
    pinned: Option<i64>,
    /// What a failed serializable commit read, for the next attempt.
    prefetch: HashMap<Vec<u8>, Read>,
}

impl Stm {
    fn reset(&mut self) {
        self.rset.clear();
        self.wset.clear();
    }

    async fn get(&mut self, key: &[u8]) -> Result<(), String> {
        if self.wset.contains_key(key) {
            return Ok(());
        }
        let first_read = self.rset.is_empty();
        if self.iso.pins() {
            if let Some(r) = self.prefetch.remove(key) {
                self.rset.insert(key.to_vec(), r);
            }
        }
        if !self.rset.contains_key(key) {
            let op = match (self.iso.pins(), self.pinned) {
                (true, Some(rev)) => range_op(key, true, rev),
                (true, None) => range_op(key, false, 0),
                (false, _) => range_op(key, true, 0),
            };
            let t = TxnRequest {
                success: vec![op],
                ..Default::default()
            };
            let read = reads(txn(&self.ch, t).await?)
                .pop()
                .ok_or("txn answered without its range")?;
            self.rset.insert(key.to_vec(), read);
        }
        if self.iso.pins() && first_read {
            self.pinned = Some(self.rset[key].rev);
        }
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>) {
        self.wset.insert(key.to_vec(), value);
    }

    /// Commits; `Ok(false)` when a compare failed (the STM runs again).
    async fn commit(&mut self) -> Result<bool, String> {
        let current = |rset: &HashMap<Vec<u8>, Read>| -> Vec<Compare> {
            rset.iter()
                .map(|(k, r)| {
                    let rev = r.resp.kvs.first().map_or(0, |kv| kv.mod_revision);
                    mod_cmp(k, compare::CompareResult::Equal, rev)
                })
                .collect()
        };
        let mut compare = match self.iso {
            Iso::ReadCommitted => Vec::new(),
            _ => current(&self.rset),
        };
        if self.iso == Iso::SerializableSnapshot {
            let first = self
                .rset
                .values()
                .map(|r| r.rev)
                .min()
                .unwrap_or(i64::MAX - 1);
            compare.extend(
                self.wset
                    .keys()
                    .map(|k| mod_cmp(k, compare::CompareResult::Less, first + 1)),
            );
        }
        let success = self
            .wset
            .iter()
            .map(|(k, v)| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: k.clone(),
                    value: v.clone(),
                    ..Default::default()
                })),
            })
            .collect();
        let keys: Vec<Vec<u8>> = self.rset.keys().cloned().collect();
        let failure = if self.iso.pins() {
            keys.iter().map(|k| range_op(k, false, 0)).collect()
        } else {
            Vec::new()
        };
        let resp = txn(
            &self.ch,
            TxnRequest {
                compare,
                success,
                failure,
            },
        )
        .await?;
        if resp.succeeded {
            return Ok(true);
        }
        if self.iso.pins() {
            self.prefetch = keys.into_iter().zip(reads(resp)).collect();
            self.pinned = None;
        }
        Ok(false)
    }
}

/// A session's lease, kept alive every third of its TTL (clientv3's
/// `concurrency.Session`, TTL 60 s).
async fn session(ch: &Channel) -> (i64, tokio::task::JoinHandle<()>) {
    const TTL: i64 = 60;
    let grant = LeaseGrantRequest { ttl: TTL, id: 0 };
    let id = match LeaseClient::new(ch.clone()).lease_grant(req(grant)).await {
        Ok(r) => r.into_inner().id,
        Err(s) => fail(&status_text(&s)),
    };
    let ch = ch.clone();
    let keeper = tokio::spawn(async move {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let _ = tx.send(LeaseKeepAliveRequest { id }).await;
        let Ok(r) = LeaseClient::new(ch)
            .lease_keep_alive(req(ReceiverStream(rx)))
            .await
        else {
            return;
        };
        let mut resps = r.into_inner();
        while let Ok(Some(_)) = resps.message().await {
            tokio::time::sleep(Duration::from_secs(TTL as u64 / 3)).await;
            if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
                return;
            }
        }
    });
    (id, keeper)
}

/// How each transaction is wrapped.
enum Locker {
    None,
    /// clientv3's `concurrency.Mutex` on the prefix `stmlock/`.
    Client {
        lease: i64,
        key: Vec<u8>,
    },
    /// The v3lock service's `Lock`/`Unlock`.
    Rpc {
        lease: i64,
        key: Vec<u8>,
    },
}

const LOCK_PREFIX: &[u8] = b"stmlock/";

impl Locker {
    async fn lock(&mut self, ch: &Channel) -> Result<(), String> {
        match self {
            Locker::None => Ok(()),
            Locker::Client { lease, key } => mutex_lock(ch, *lease, key).await,
            Locker::Rpc { lease, key } => {
                let r = LockClient::new(ch.clone())
                    .lock(req(LockRequest {
                        name: b"stmlock".to_vec(),
                        lease: *lease,
                    }))
                    .await
                    .map_err(|s| status_text(&s))?;
                *key = r.into_inner().key;
                Ok(())
            }
        }
    }

    async fn unlock(&mut self, ch: &Channel) -> Result<(), String> {
        match self {
            Locker::None => Ok(()),
            Locker::Client { key, .. } => {
                let del = DeleteRangeRequest {
                    key: key.clone(),
                    ..Default::default()
                };
                KvClient::new(ch.clone())
                    .delete_range(req(del))
                    .await
                    .map(drop)
                    .map_err(|s| status_text(&s))
            }
            Locker::Rpc { key, .. } => LockClient::new(ch.clone())
                .unlock(req(UnlockRequest { key: key.clone() }))
                .await
                .map(drop)
                .map_err(|s| status_text(&s)),
        }
    }
}

/// clientv3's `Mutex.Lock`: our key under the prefix (created once), then
/// waits until every key created before it is deleted.
async fn mutex_lock(ch: &Channel, lease: i64, my_key: &mut Vec<u8>) -> Result<(), String> {
    *my_key = [LOCK_PREFIX, format!("{lease:x}").as_bytes()].concat();
    let end = oxcd::mvcc::prefix_end(LOCK_PREFIX);
    let owner = RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: LOCK_PREFIX.to_vec(),
            range_end: end.clone(),
            sort_order: range_request::SortOrder::Ascend as i32,
            sort_target: range_request::SortTarget::Create as i32,
            limit: 1,
            ..Default::default()
        })),
    };
    let put = RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: my_key.clone(),
            lease,
            ..Default::default()
        })),
    };
    let t = TxnRequest {
        compare: vec![Compare {
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Create as i32,
            key: my_key.clone(),
            range_end: Vec::new(),
            target_union: Some(compare::TargetUnion::CreateRevision(0)),
        }],
        success: vec![put, owner.clone()],
        failure: vec![range_op(my_key, false, 0), owner],
    };
    let resp = txn(ch, t).await?;
    let succeeded = resp.succeeded;
    let header_rev = resp.header.as_ref().map_or(0, |h| h.revision);
    let rs = reads(resp);
    let my_rev = if succeeded {
        header_rev
    } else {
        rs.first()
            .and_then(|r| r.resp.kvs.first())
            .map_or(0, |kv| kv.create_revision)
    };
    let owner_rev = rs
        .last()
        .and_then(|r| r.resp.kvs.first())
        .map(|kv| kv.create_revision);
    if owner_rev.is_none_or(|r| r == my_rev) {
        return Ok(());
    }
    // waitDeletes: the last key created before ours, until there is none.
    loop {
        let get = RangeRequest {
            key: LOCK_PREFIX.to_vec(),
            range_end: end.clone(),
            sort_order: range_request::SortOrder::Descend as i32,
            sort_target: range_request::SortTarget::Create as i32,
            max_create_revision: my_rev - 1,
            limit: 1,
            ..Default::default()
        };
        let r = KvClient::new(ch.clone())
            .range(req(get))
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        let Some(last) = r.kvs.first() else {
            return Ok(());
        };
        let rev = r.header.as_ref().map_or(0, |h| h.revision);
        wait_delete(ch, &last.key, rev).await?;
    }
}

/// Watches `key` from `rev` until it is deleted.
async fn wait_delete(ch: &Channel, key: &[u8], rev: i64) -> Result<(), String> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let create = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: key.to_vec(),
                start_revision: rev,
                ..Default::default()
            },
        )),
    };
    tx.send(create).await.map_err(|e| e.to_string())?;
    let mut resps = WatchClient::new(ch.clone())
        .watch(req(ReceiverStream(rx)))
        .await
        .map_err(|s| status_text(&s))?
        .into_inner();
    loop {
        match resps.message().await {
            Ok(Some(r)) => {
                let deleted = oxcd::pb::mvccpb::event::EventType::Delete as i32;
                if r.events.iter().any(|e| e.r#type == deleted) {
                    return Ok(());
                }
            }
            Ok(None) => return Err("watch stream closed".into()),
            Err(s) => return Err(status_text(&s)),
        }
    }
}

pub async fn stm(o: &crate::Opts, g: &Global) {
    let keys = o.int("keys");
    if keys <= 0 {
        eprint!("expected positive --keys, got ({keys})");
        std::process::exit(1);
    }
    let pct = o.int("txn-wr-percent");
    if !(0..=100).contains(&pct) {
        eprint!("expected [0, 100] --txn-wr-percent, got ({pct})");
        std::process::exit(1);
    }
    let per_txn = o.int("keys-per-txn");
    if per_txn < 0 || per_txn > keys {
        eprint!("expected --keys-per-txn between 0 and {keys}, got ({per_txn})");
        std::process::exit(1);
    }
    let iso = match o.str("isolation").as_str() {
        "c" => Iso::ReadCommitted,
        "r" => Iso::RepeatableReads,
        "s" => Iso::Serializable,
        "ss" => Iso::SerializableSnapshot,
        _ => o.usage_and_exit(),
    };
    let locker = o.str("stm-locker");
    if !["stm", "lock-client", "lock-rpc"].contains(&locker.as_str()) {
        eprintln!("unexpected stm locker {locker:?}");
        std::process::exit(1);
    }
    let (keys, per_txn) = (keys as usize, per_txn as usize);
    let (total, val_size) = (o.count("total"), o.count("val-size"));
    let limit = Arc::new(Limiter::new(o.int("rate"), 1));
    let chans = g.clients(g.clients, g.conns).await;
    let rec = Recorder::new(total as u64);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for ch in chans {
        let (rec, next, limit, locker) = (rec.clone(), next.clone(), limit.clone(), locker.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lock, _keeper) = match locker.as_str() {
                "lock-client" | "lock-rpc" => {
                    let (lease, keeper) = session(&ch).await;
                    let key = Vec::new();
                    let lock = if locker == "lock-client" {
                        Locker::Client { lease, key }
                    } else {
                        Locker::Rpc { lease, key }
                    };
                    (lock, Some(keeper))
                }
                _ => (Locker::None, None),
            };
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let mut kset = HashSet::new();
                while kset.len() < per_txn {
                    let mut k = vec![0; 16];
                    put_varint(&mut k, rand_below(keys) as i64);
                    kset.insert(k);
                }
                let st = Instant::now();
                if let Err(e) = lock.lock(&ch).await {
                    fail(&e);
                }
                let r = run_stm(&ch, iso, &kset, pct as usize, val_size, &limit).await;
                if let Err(e) = lock.unlock(&ch).await {
                    fail(&e);
                }
                rec.done(st, r.err());
            }
            if let Some(k) = _keeper {
                k.abort();
            }
        }));
    }
    for t in tasks {
        t.await.expect("stm client");
    }
    let took = start.elapsed();
    print!("{}", g.reporter.render(&rec.finish(), took));
}

/// One STM transaction, retried until it commits: each attempt waits for
/// the rate limit, reads every key and overwrites the first `pct`% of them.
async fn run_stm(
    ch: &Channel,
    iso: Iso,
    kset: &HashSet<Vec<u8>>,
    pct: usize,
    val_size: usize,
    limit: &Limiter,
) -> Result<(), String> {
    let mut s = Stm {
        ch: ch.clone(),
        iso,
        rset: HashMap::new(),
        wset: HashMap::new(),
        pinned: None,
        prefetch: HashMap::new(),
    };
    loop {
        s.reset();
        limit.wait().await;
        let mut writes = kset.len() * pct / 100;
        for k in kset {
            s.get(k).await?;
            if writes > 0 {
                s.put(k, rand_bytes(val_size));
                writes -= 1;
            }
        }
        if s.commit().await? {
            return Ok(());
        }
    }
}
