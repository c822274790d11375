//! etcd's concurrency recipes (`clientv3/concurrency`: `Mutex` and
//! `Election`), run inside the server the way etcd's `v3lock` and
//! `v3election` services run them over their in-process client: ordinary
//! txns and ranges through raft, and watches on this member's
//! [`WatchableStore`](crate::mvcc::watchable_store::WatchableStore). The
//! recipes keep no state of their own; everything is in the key space.
//!
//! Both recipes queue clients by the create revision of one key each under a
//! prefix (`<name>/<lease id in hex>`, attached to the client's lease): the
//! key created first holds the lock (or leads), and every other waits until
//! all keys created before its own are deleted. A client that gives up while
//! waiting has its key deleted, as etcd does when the request's context ends,
//! so a waiter that went away never blocks the queue until its lease expires.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{EtcdServer, ServerError};
use crate::auth::AuthInfo;
use crate::mvcc::prefix_end;
use crate::mvcc::watchable_store::{Out, WatchSpec};
use crate::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::pb::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::pb::etcdserverpb::{
    request_op, Compare, DeleteRangeRequest, LeaseGrantRequest, PutRequest, RangeRequest,
    RequestOp, ResponseHeader, TxnRequest, TxnResponse,
};
use crate::pb::mvccpb::event::EventType;
use crate::pb::mvccpb::KeyValue;
use crate::pb::v3electionpb::{LeaderKey, LeaderResponse};

/// clientv3 `concurrency.NewSession`'s default TTL, used when a request
/// names no lease (etcd then grants one), and by etcdctl's sessions.
pub const SESSION_TTL: i64 = 60;
/// Batches a recipe's watcher may have queued.
const WATCH_BUFFER: usize = 16;

/// Why a recipe failed; `Display` is etcd's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipeError {
    /// A request the recipe made failed.
    Server(ServerError),
    /// `election: not leader`
    NotLeader,
    /// `election: no leader`
    NoLeader,
    /// `"leader" field must be provided`
    MissingLeaderKey,
    /// The watch a waiter needed was compacted away.
    Compacted,
    /// `lost watcher waiting for delete`
    LostWatcher,
}

impl std::fmt::Display for RecipeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecipeError::Server(e) => e.fmt(f),
            RecipeError::NotLeader => f.write_str("election: not leader"),
            RecipeError::NoLeader => f.write_str("election: no leader"),
            RecipeError::MissingLeaderKey => f.write_str("\"leader\" field must be provided"),
            RecipeError::Compacted => {
                f.write_str("etcdserver: mvcc: required revision has been compacted")
            }
            RecipeError::LostWatcher => f.write_str("lost watcher waiting for delete"),
        }
    }
}

impl From<ServerError> for RecipeError {
    fn from(e: ServerError) -> Self {
        RecipeError::Server(e)
    }
}

/// The prefix under which `name`'s queue lives (`<name>/`).
fn queue_prefix(name: &[u8]) -> Vec<u8> {
    [name, b"/"].concat()
}

/// A session's key in the queue under `pfx`: the lease id as Go's `%x`
/// writes it.
fn queue_key(pfx: &[u8], lease: i64) -> Vec<u8> {
    let hex = if lease < 0 {
        format!("-{:x}", lease.unsigned_abs())
    } else {
        format!("{lease:x}")
    };
    [pfx, hex.as_bytes()].concat()
}

/// The oldest (`Ascend`) or newest (`Descend`) key under `pfx` by create
/// revision (clientv3's `WithFirstCreate` / `WithLastCreate`).
fn by_create(pfx: &[u8], order: SortOrder, max_create_revision: i64) -> RangeRequest {
    RangeRequest {
        key: pfx.to_vec(),
        range_end: prefix_end(pfx),
        limit: 1,
        sort_order: order as i32,
        sort_target: SortTarget::Create as i32,
        max_create_revision,
        ..Default::default()
    }
}

fn op_range(r: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(r)),
    }
}

fn op_put(key: &[u8], value: &[u8], lease: i64) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        })),
    }
}

fn create_rev_is(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(TargetUnion::CreateRevision(rev)),
        ..Default::default()
    }
}

/// The kvs of the `i`th response of a txn (a range the recipe put there).
fn range_kvs(resp: &TxnResponse, i: usize) -> &[KeyValue] {
    use crate::pb::etcdserverpb::response_op::Response;
    match resp.responses.get(i).and_then(|r| r.response.as_ref()) {
        Some(Response::ResponseRange(r)) => &r.kvs,
        _ => &[],
    }
}

/// Runs `wait` in a task of its own and answers with its result; if the
/// caller goes away first (the client cancelled, its future was dropped),
/// or nobody takes the answer, `leave` runs instead, as etcd's recipes
/// leave the queue when the request's context ends. A task, because a
/// dropped future cannot clean up after itself.
async fn wait_or_leave<T, W, L>(wait: W, leave: L) -> Result<T, RecipeError>
where
    T: Send + 'static,
    W: std::future::Future<Output = Result<T, RecipeError>> + Send + 'static,
    L: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut tx = tx;
        let waited = tokio::select! {
            biased;
            _ = tx.closed() => None,
            r = wait => Some(r),
        };
        match waited {
            Some(r) => {
                if let Err(Ok(_)) = tx.send(r) {
                    leave.await;
                }
            }
            None => leave.await,
        }
    });
    rx.await
        .unwrap_or(Err(RecipeError::Server(ServerError::Stopped)))
}

impl EtcdServer {
    /// The lease a recipe's key is attached to: the client's, or a new one
    /// with the session default TTL when it named none.
    async fn session_lease(&self, lease: i64, ai: Option<&AuthInfo>) -> Result<i64, ServerError> {
        if lease != 0 {
            return Ok(lease);
        }
        self.require_auth_info(ai)?;
        let r = self
            .lease_grant(LeaseGrantRequest {
                ttl: SESSION_TTL,
                id: 0,
            })
            .await?;
        Ok(r.id)
    }

    async fn delete_key(
        &self,
        key: &[u8],
        ai: Option<&AuthInfo>,
    ) -> Result<ResponseHeader, ServerError> {
        let r = self
            .delete_range(
                DeleteRangeRequest {
                    key: key.to_vec(),
                    ..Default::default()
                },
                ai,
            )
            .await?;
        Ok(r.header.unwrap_or_default())
    }

    /// Deletes `key` if it still has create revision `rev` (`Election.Resign`).
    async fn resign_key(
        &self,
        key: &[u8],
        rev: i64,
        ai: Option<&AuthInfo>,
    ) -> Result<ResponseHeader, ServerError> {
        let del = RequestOp {
            request: Some(request_op::Request::RequestDeleteRange(
                DeleteRangeRequest {
                    key: key.to_vec(),
                    ..Default::default()
                },
            )),
        };
        let r = self
            .txn(
                TxnRequest {
                    compare: vec![create_rev_is(key, rev)],
                    success: vec![del],
                    failure: vec![],
                },
                ai,
            )
            .await?;
        Ok(r.header.unwrap_or_default())
    }

    /// Waits for a DELETE of `key` at or after revision `rev`.
    async fn wait_delete(&self, key: &[u8], rev: i64) -> Result<(), RecipeError> {
        let mut events = self.watch_key(key, vec![], rev, true)?;
        while let Some(b) = events.next().await {
            if b.compact_revision != 0 {
                return Err(RecipeError::Compacted);
            }
            if b.events
                .iter()
                .any(|e| e.r#type == EventType::Delete as i32)
            {
                return Ok(());
            }
        }
        Err(RecipeError::LostWatcher)
    }

    /// Waits until no key under `pfx` has a create revision of
    /// `max_create_rev` or less (etcd's `waitDeletes`); the header of the
    /// range that found none.
    async fn wait_deletes(
        &self,
        pfx: &[u8],
        max_create_rev: i64,
        ai: Option<&AuthInfo>,
    ) -> Result<ResponseHeader, RecipeError> {
        loop {
            let r = self
                .range(by_create(pfx, SortOrder::Descend, max_create_rev), ai)
                .await?;
            let header = r.header.unwrap_or_default();
            match r.kvs.first() {
                None => return Ok(header),
                Some(last) => self.wait_delete(&last.key, header.revision).await?,
            }
            if crate::bugs::active(crate::bugs::Bug::LockWaitsOnlyPredecessor) {
                return Ok(header);
            }
        }
    }

    /// A watcher on this member from revision `start_rev`, removed when the
    /// returned handle is dropped.
    fn watch_key(
        &self,
        key: &[u8],
        range_end: Vec<u8>,
        start_rev: i64,
        no_put: bool,
    ) -> Result<Watching, RecipeError> {
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let store = self.watchable.clone();
        let stream = store.new_stream();
        let spec = WatchSpec {
            key: key.to_vec(),
            range_end,
            start_rev,
            no_put,
            no_delete: false,
        };
        // A recipe's own key range is never empty and the stream is new.
        store
            .watch(stream, 0, false, spec, tx)
            .map_err(|_| RecipeError::LostWatcher)?;
        Ok(Watching { store, stream, rx })
    }

    /// etcd's `v3lock.Lock`: queues on `name` with `lease` (a new session
    /// lease when 0) and returns once this client holds the lock: the
    /// header it was acquired at, and the lock's key.
    pub async fn lock(
        self: &Arc<Self>,
        name: &[u8],
        lease: i64,
        ai: Option<AuthInfo>,
    ) -> Result<(ResponseHeader, Vec<u8>), RecipeError> {
        let lease = self.session_lease(lease, ai.as_ref()).await?;
        let pfx = queue_prefix(name);
        let key = queue_key(&pfx, lease);
        let owner = || op_range(by_create(&pfx, SortOrder::Ascend, 0));
        let resp = self
            .txn(
                TxnRequest {
                    compare: vec![create_rev_is(&key, 0)],
                    success: vec![op_put(&key, b"", lease), owner()],
                    failure: vec![
                        op_range(RangeRequest {
                            key: key.clone(),
                            ..Default::default()
                        }),
                        owner(),
                    ],
                },
                ai.as_ref(),
            )
            .await?;
        let header = resp.header.unwrap_or_default();
        // The same session asking again holds its place in the queue.
        let my_rev = if resp.succeeded {
            header.revision
        } else {
            range_kvs(&resp, 0)
                .first()
                .map_or(header.revision, |kv| kv.create_revision)
        };
        match range_kvs(&resp, 1).first() {
            None => return Ok((header, key)),
            Some(kv) if kv.create_revision == my_rev => return Ok((header, key)),
            Some(_) => {}
        }
        // Queued: wait for every key created before ours. Failing or given
        // up, leave the queue (etcd's Lock unlocks on any error).
        let (me, gone) = (self.clone(), self.clone());
        let k = key.clone();
        let ai2 = ai.clone();
        let wait = async move {
            let r = me.wait_deletes(&pfx, my_rev - 1, ai2.as_ref()).await;
            if r.is_err() {
                let _ = me.delete_key(&k, ai2.as_ref()).await;
            }
            r
        };
        let k = key.clone();
        let leave = async move {
            let _ = gone.delete_key(&k, ai.as_ref()).await;
        };
        let header = wait_or_leave(wait, leave).await?;
        Ok((header, key))
    }

    /// etcd's `v3lock.Unlock`: deletes the lock's key.
    pub async fn unlock(
        &self,
        key: &[u8],
        ai: Option<&AuthInfo>,
    ) -> Result<ResponseHeader, RecipeError> {
        Ok(self.delete_key(key, ai).await?)
    }

    /// etcd's `v3election.Campaign`: puts `value` as a candidate of `name`
    /// and returns once it leads, with the header of the campaign's txn.
    pub async fn campaign(
        self: &Arc<Self>,
        name: &[u8],
        lease: i64,
        value: &[u8],
        ai: Option<AuthInfo>,
    ) -> Result<(ResponseHeader, LeaderKey), RecipeError> {
        let lease = self.session_lease(lease, ai.as_ref()).await?;
        let pfx = queue_prefix(name);
        let key = queue_key(&pfx, lease);
        let resp = self
            .txn(
                TxnRequest {
                    compare: vec![create_rev_is(&key, 0)],
                    success: vec![op_put(&key, value, lease)],
                    failure: vec![op_range(RangeRequest {
                        key: key.clone(),
                        ..Default::default()
                    })],
                },
                ai.as_ref(),
            )
            .await?;
        let header = resp.header.unwrap_or_default();
        let mut leader = LeaderKey {
            name: name.to_vec(),
            key: key.clone(),
            rev: header.revision,
            lease,
        };
        if !resp.succeeded {
            if let Some(kv) = range_kvs(&resp, 0).first() {
                leader.rev = kv.create_revision;
                if kv.value != value {
                    if let Err(e) = self.proclaim(Some(&leader), value, ai.as_ref()).await {
                        let _ = self.resign_key(&key, leader.rev, ai.as_ref()).await;
                        return Err(e);
                    }
                }
            }
        }
        // Only a client that went away resigns; on an error etcd keeps
        // the candidacy (its context is still live).
        let (me, gone) = (self.clone(), self.clone());
        let max_create_rev = leader.rev - 1;
        let ai2 = ai.clone();
        let wait = async move { me.wait_deletes(&pfx, max_create_rev, ai2.as_ref()).await };
        let rev = leader.rev;
        let leave = async move {
            let _ = gone.resign_key(&key, rev, ai.as_ref()).await;
        };
        wait_or_leave(wait, leave).await?;
        Ok((header, leader))
    }

    /// etcd's `v3election.Proclaim`: a new value from the leader `leader`.
    pub async fn proclaim(
        &self,
        leader: Option<&LeaderKey>,
        value: &[u8],
        ai: Option<&AuthInfo>,
    ) -> Result<ResponseHeader, RecipeError> {
        let l = leader.ok_or(RecipeError::MissingLeaderKey)?;
        let resp = self
            .txn(
                TxnRequest {
                    compare: vec![create_rev_is(&l.key, l.rev)],
                    success: vec![op_put(&l.key, value, l.lease)],
                    failure: vec![],
                },
                ai,
            )
            .await?;
        if !resp.succeeded {
            return Err(RecipeError::NotLeader);
        }
        Ok(resp.header.unwrap_or_default())
    }

    /// etcd's `v3election.Resign`: the leader `leader` steps down (nothing
    /// happens when it no longer leads).
    pub async fn resign(
        &self,
        leader: Option<&LeaderKey>,
        ai: Option<&AuthInfo>,
    ) -> Result<ResponseHeader, RecipeError> {
        let l = leader.ok_or(RecipeError::MissingLeaderKey)?;
        Ok(self.resign_key(&l.key, l.rev, ai).await?)
    }

    /// etcd's `v3election.Leader`: the current leader's key and value.
    pub async fn leader(
        &self,
        name: &[u8],
        ai: Option<&AuthInfo>,
    ) -> Result<(ResponseHeader, KeyValue), RecipeError> {
        let pfx = queue_prefix(name);
        let r = self
            .range(by_create(&pfx, SortOrder::Ascend, 0), ai)
            .await?;
        let header = r.header.unwrap_or_default();
        let kv = r.kvs.into_iter().next().ok_or(RecipeError::NoLeader)?;
        Ok((header, kv))
    }

    /// etcd's `v3election.Observe`: sends every leader of `name` and each
    /// value it proclaims, in order, until `out` closes or a request fails
    /// (which ends the stream, as etcd's observer does).
    pub async fn observe(
        &self,
        name: &[u8],
        out: mpsc::Sender<LeaderResponse>,
        ai: Option<&AuthInfo>,
    ) -> Result<(), RecipeError> {
        let pfx = queue_prefix(name);
        loop {
            let r = self
                .range(by_create(&pfx, SortOrder::Ascend, 0), ai)
                .await?;
            let header = r.header.unwrap_or_default();
            let (header, kv) = match r.kvs.into_iter().next() {
                Some(kv) => (header, kv),
                None => {
                    // Wait for the first candidate.
                    let mut w = self.watch_key(&pfx, prefix_end(&pfx), header.revision, false)?;
                    loop {
                        let Some(b) = w.next_or_closed(&out).await else {
                            return Ok(());
                        };
                        if b.compact_revision != 0 {
                            return Err(RecipeError::Compacted);
                        }
                        let put = b.events.into_iter().find_map(|e| {
                            (e.r#type == EventType::Put as i32)
                                .then_some(e.kv)
                                .flatten()
                        });
                        if let Some(kv) = put {
                            let mut h = self.header_at(b.revision);
                            h.revision = kv.mod_revision;
                            break (h, kv);
                        }
                    }
                }
            };
            let (key, from) = (kv.key.clone(), header.revision + 1);
            let first = LeaderResponse {
                header: Some(header),
                kv: Some(kv),
            };
            if out.send(first).await.is_err() {
                return Ok(());
            }
            // Then that leader's proclamations, until it is deleted.
            let mut w = self.watch_key(&key, vec![], from, false)?;
            'leader: loop {
                let Some(b) = w.next_or_closed(&out).await else {
                    return Ok(());
                };
                if b.compact_revision != 0 {
                    return Err(RecipeError::Compacted);
                }
                for e in b.events {
                    if e.r#type == EventType::Delete as i32 {
                        break 'leader;
                    }
                    let Some(kv) = e.kv else { continue };
                    let next = LeaderResponse {
                        header: Some(self.header_at(b.revision)),
                        kv: Some(kv),
                    };
                    if out.send(next).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// A recipe's watcher; dropping it removes the watcher.
struct Watching {
    store: Arc<crate::mvcc::watchable_store::WatchableStore>,
    stream: u64,
    rx: mpsc::Receiver<Out>,
}

impl Watching {
    /// The watcher's next batch; `None` when the store dropped it.
    async fn next(&mut self) -> Option<crate::mvcc::watchable_store::Batch> {
        loop {
            match self.rx.recv().await? {
                Out::Batch(b) => return Some(b),
                Out::Control(_) => continue,
            }
        }
    }

    /// As [`Watching::next`], but `None` as soon as `out`'s reader is gone.
    async fn next_or_closed<T>(
        &mut self,
        out: &mpsc::Sender<T>,
    ) -> Option<crate::mvcc::watchable_store::Batch> {
        tokio::select! {
            biased;
            _ = out.closed() => None,
            b = self.next() => b,
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.store.close_stream(self.stream);
    }
}
