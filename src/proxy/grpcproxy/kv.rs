//! The KV proxy (etcd's `proxy/grpcproxy/kv.go`): everything forwarded;
//! serializable ranges answered from the [`Cache`] when it can, every
//! range's answer cached (a linearizable one as serializable), and every
//! write through the proxy invalidating what it touches.

use std::sync::{Arc, Mutex};

use tonic::{Request, Response, Status};

use super::cache::{Cache, Miss, MAX_ENTRIES};
use super::{up, via_clientv3, Upstream};
use crate::pb::etcdserverpb::{
    kv_server, request_op, response_op, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    ResponseOp, TxnRequest, TxnResponse,
};

pub struct KvProxy {
    up: Upstream,
    /// A std mutex: held only for in-memory cache work, never across I/O.
    cache: Arc<Mutex<Cache>>,
}

/// etcd's `ErrGRPCCompacted`: the cache answers it as a gRPC status
/// (OutOfRange), unlike errors that come through clientv3.
fn compacted() -> Status {
    Status::out_of_range("etcdserver: mvcc: required revision has been compacted")
}

impl KvProxy {
    pub fn new(up: Upstream) -> KvProxy {
        KvProxy {
            up,
            cache: Arc::new(Mutex::new(Cache::new(MAX_ENTRIES))),
        }
    }

    /// Runs `f` on the cache, then publishes its size.
    fn with_cache<R>(&self, f: impl FnOnce(&mut Cache) -> R) -> R {
        let mut c = self.cache.lock().expect("cache lock");
        let r = f(&mut c);
        self.up.metrics.cache_keys.set(c.len() as i64);
        r
    }

    /// What a txn's chosen branch did to the cache: writes invalidate,
    /// reads are cached (nested txns too; etcd's proxy looks at the top
    /// level only, so a nested write would leave a stale answer there).
    fn txn_to_cache(c: &mut Cache, reqs: &[RequestOp], resps: &[ResponseOp]) {
        for (req, resp) in reqs.iter().zip(resps) {
            match (&req.request, &resp.response) {
                (Some(request_op::Request::RequestPut(p)), _) => c.invalidate(&p.key, b""),
                (Some(request_op::Request::RequestDeleteRange(d)), _) => {
                    c.invalidate(&d.key, &d.range_end)
                }
                (
                    Some(request_op::Request::RequestRange(r)),
                    Some(response_op::Response::ResponseRange(answer)),
                ) => c.add(r, answer),
                (
                    Some(request_op::Request::RequestTxn(t)),
                    Some(response_op::Response::ResponseTxn(answer)),
                ) => {
                    let branch = if answer.succeeded {
                        &t.success
                    } else {
                        &t.failure
                    };
                    for cmp in &t.compare {
                        c.invalidate(&cmp.key, &cmp.range_end);
                    }
                    Self::txn_to_cache(c, branch, &answer.responses);
                }
                _ => {}
            }
        }
    }
}

#[tonic::async_trait]
impl kv_server::Kv for KvProxy {
    async fn range(&self, r: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let (md, _, req) = r.into_parts();
        if req.serializable {
            match self.with_cache(|c| c.get(&req)) {
                Ok(resp) => {
                    self.up.metrics.cache_hits.inc();
                    return Ok(Response::new(resp));
                }
                Err(Miss::Compacted) => {
                    self.up.metrics.cache_hits.inc();
                    return Err(compacted());
                }
                Err(Miss::Absent) => self.up.metrics.cache_misses.inc(),
            }
        }
        let mut sent = req.clone();
        self.up.ns.range(&mut sent).map_err(via_clientv3)?;
        let mut resp = self
            .up
            .kv()
            .range(up(&md, sent))
            .await
            .map_err(via_clientv3)?
            .into_inner();
        self.up.ns.range_response(&mut resp);
        self.with_cache(|c| c.add(&req, &resp));
        Ok(Response::new(resp))
    }

    async fn put(&self, r: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let (md, _, mut req) = r.into_parts();
        self.with_cache(|c| c.invalidate(&req.key, b""));
        self.up.ns.put(&mut req).map_err(via_clientv3)?;
        let mut resp = self
            .up
            .kv()
            .put(up(&md, req))
            .await
            .map_err(via_clientv3)?
            .into_inner();
        self.up.ns.put_response(&mut resp);
        Ok(Response::new(resp))
    }

    async fn delete_range(
        &self,
        r: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let (md, _, mut req) = r.into_parts();
        self.with_cache(|c| c.invalidate(&req.key, &req.range_end));
        self.up.ns.delete(&mut req).map_err(via_clientv3)?;
        let mut resp = self
            .up
            .kv()
            .delete_range(up(&md, req))
            .await
            .map_err(via_clientv3)?
            .into_inner();
        self.up.ns.delete_response(&mut resp);
        Ok(Response::new(resp))
    }

    async fn txn(&self, r: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let (md, _, req) = r.into_parts();
        let mut sent = req.clone();
        self.up.ns.txn(&mut sent);
        let mut resp = self
            .up
            .kv()
            .txn(up(&md, sent))
            .await
            .map_err(via_clientv3)?
            .into_inner();
        self.up.ns.txn_response(&mut resp);
        self.with_cache(|c| {
            // A txn may claim an outdated key is updated: be safe.
            for cmp in &req.compare {
                c.invalidate(&cmp.key, &cmp.range_end);
            }
            let branch = if resp.succeeded {
                &req.success
            } else {
                &req.failure
            };
            Self::txn_to_cache(c, branch, &resp.responses);
        });
        Ok(Response::new(resp))
    }

    async fn compact(
        &self,
        r: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let (md, _, req) = r.into_parts();
        let revision = req.revision;
        let resp = self
            .up
            .kv()
            .compact(up(&md, req))
            .await
            .map_err(via_clientv3)?
            .into_inner();
        self.with_cache(|c| c.compact(revision));
        Ok(Response::new(resp))
    }
}
