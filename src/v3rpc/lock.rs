//! etcd's Lock service (`v3lock`): a distributed mutex on lease-attached
//! keys, run by the server ([`EtcdServer::lock`]).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::errors::recipe_status;
use super::interceptor::admit;
use crate::pb::v3lockpb::{lock_server, LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use crate::server::EtcdServer;

/// The Lock service.
#[derive(Clone)]
pub struct Lock {
    pub server: Arc<EtcdServer>,
}

#[tonic::async_trait]
impl lock_server::Lock for Lock {
    async fn lock(&self, r: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let (header, key) = self
            .server
            .lock(&req.name, req.lease, ai)
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(LockResponse {
            header: Some(header),
            key,
        }))
    }

    async fn unlock(&self, r: Request<UnlockRequest>) -> Result<Response<UnlockResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let header = self
            .server
            .unlock(&req.key, ai.as_ref())
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(UnlockResponse {
            header: Some(header),
        }))
    }
}
