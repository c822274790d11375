//! etcd's KV service: validate, call the server, map errors.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::errors::to_status;
use super::interceptor::admit;
use super::validation::{check_delete, check_put, check_range, check_size, check_txn_request};
use super::Limits;
use crate::pb::etcdserverpb::{
    kv_server, CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::server::EtcdServer;

/// The KV service.
#[derive(Clone)]
pub struct Kv {
    pub server: Arc<EtcdServer>,
    pub limits: Limits,
}

impl Kv {
    fn check_size<M: prost::Message>(&self, m: &M) -> Result<(), Status> {
        check_size(&self.limits, m)
    }
}

#[tonic::async_trait]
impl kv_server::Kv for Kv {
    async fn range(&self, r: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        check_range(&r)?;
        self.check_size(&r)?;
        let resp = self.server.range(r, ai.as_ref()).await.map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn put(&self, r: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        check_put(&r)?;
        self.check_size(&r)?;
        let resp = self.server.put(r, ai.as_ref()).await.map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn delete_range(
        &self,
        r: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        check_delete(&r)?;
        self.check_size(&r)?;
        let resp = self
            .server
            .delete_range(r, ai.as_ref())
            .await
            .map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn txn(&self, r: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        check_txn_request(&r, self.limits.max_txn_ops)?;
        self.check_size(&r)?;
        let resp = self.server.txn(r, ai.as_ref()).await.map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn compact(
        &self,
        r: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        let resp = self
            .server
            .compact(r, ai.as_ref())
            .await
            .map_err(to_status)?;
        Ok(Response::new(resp))
    }
}
