//! etcd's Election service (`v3election`): leader election on
//! lease-attached keys, run by the server ([`EtcdServer::campaign`] and its
//! siblings).

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

use super::errors::recipe_status;
use super::interceptor::admit;
use crate::pb::v3electionpb::{
    election_server, CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse,
    ProclaimRequest, ProclaimResponse, ResignRequest, ResignResponse,
};
use crate::rt::stream::ReceiverStream;
use crate::server::EtcdServer;

/// Leader responses an observer may have queued; the observer waits while
/// the client reads slower than leaders change.
const OBSERVE_BUFFER: usize = 16;

/// The Election service.
#[derive(Clone)]
pub struct Election {
    pub server: Arc<EtcdServer>,
}

#[tonic::async_trait]
impl election_server::Election for Election {
    async fn campaign(
        &self,
        r: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let (header, leader) = self
            .server
            .campaign(&req.name, req.lease, &req.value, ai)
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(CampaignResponse {
            header: Some(header),
            leader: Some(leader),
        }))
    }

    async fn proclaim(
        &self,
        r: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let header = self
            .server
            .proclaim(req.leader.as_ref(), &req.value, ai.as_ref())
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(ProclaimResponse {
            header: Some(header),
        }))
    }

    async fn leader(&self, r: Request<LeaderRequest>) -> Result<Response<LeaderResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let (header, kv) = self
            .server
            .leader(&req.name, ai.as_ref())
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(LeaderResponse {
            header: Some(header),
            kv: Some(kv),
        }))
    }

    type ObserveStream = BoxStream<'static, Result<LeaderResponse, Status>>;

    async fn observe(
        &self,
        r: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let (out, leaders) = mpsc::channel(OBSERVE_BUFFER);
        let (done, failed) = oneshot::channel();
        let server = self.server.clone();
        // The observer runs until the client goes away (the stream, and so
        // `leaders`, is dropped) or a request fails: then the stream ends
        // with that error, after the leaders already sent, as etcd's does.
        tokio::spawn(async move {
            let _ = done.send(server.observe(&req.name, out, ai.as_ref()).await);
        });
        let error = futures::stream::once(failed).filter_map(|r| async move {
            match r {
                Ok(Err(e)) => Some(Err(recipe_status(e))),
                _ => None,
            }
        });
        Ok(Response::new(
            ReceiverStream(leaders).map(Ok).chain(error).boxed(),
        ))
    }

    async fn resign(&self, r: Request<ResignRequest>) -> Result<Response<ResignResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let header = self
            .server
            .resign(req.leader.as_ref(), ai.as_ref())
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(ResignResponse {
            header: Some(header),
        }))
    }
}
