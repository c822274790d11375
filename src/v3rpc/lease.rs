//! etcd's Lease service (`v3rpc/lease.go`).

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::errors::to_status;
use super::interceptor::admit;
use crate::lease::LeaseError;
use crate::pb::etcdserverpb::{
    lease_server, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest,
    LeaseKeepAliveResponse, LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, ResponseHeader,
};
use crate::rt::stream::ReceiverStream;
use crate::server::{EtcdServer, ServerError};

/// Keep-alive responses buffered for a slow reader; the stream reads no
/// further request while this is full.
const KEEPALIVE_BUFFER: usize = 16;

/// The Lease service.
#[derive(Clone)]
pub struct Lease {
    pub server: Arc<EtcdServer>,
}

impl Lease {
    /// etcd's `header.fill`: this member's ids and term, and the current
    /// revision unless the response carries one.
    fn fill(&self, h: &mut Option<ResponseHeader>) {
        self.server.header(h);
        let h = h.as_mut().expect("set by header");
        if h.revision == 0 {
            h.revision = self.server.current_revision();
        }
    }
}

#[tonic::async_trait]
impl lease_server::Lease for Lease {
    async fn lease_grant(
        &self,
        r: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        // Some user must ask (etcd 3.4.26+: anonymous grants were a way to
        // exhaust the cluster with auth on).
        self.server
            .require_auth_info(ai.as_ref())
            .map_err(to_status)?;
        let mut resp = self.server.lease_grant(req).await.map_err(to_status)?;
        self.fill(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn lease_revoke(
        &self,
        r: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let mut resp = self
            .server
            .lease_revoke(req, ai.as_ref())
            .await
            .map_err(to_status)?;
        self.fill(&mut resp.header);
        Ok(Response::new(resp))
    }

    type LeaseKeepAliveStream = BoxStream<'static, Result<LeaseKeepAliveResponse, Status>>;

    async fn lease_keep_alive(
        &self,
        r: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let (mut requests, _) = admit(&self.server, r)?;
        let (tx, rx) = mpsc::channel(KEEPALIVE_BUFFER);
        let this = self.clone();
        // One task per stream; it ends when the client closes its side, the
        // client goes away (the response stream is dropped, so `send`
        // fails), or a renew fails with an error etcd ends the stream with.
        tokio::spawn(async move {
            loop {
                let req = match requests.message().await {
                    Ok(Some(req)) => req,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                // The header is taken before the renew, so its revision is
                // never past one at which the lease was revoked (etcd).
                let mut resp = LeaseKeepAliveResponse {
                    id: req.id,
                    ..Default::default()
                };
                this.fill(&mut resp.header);
                match this.server.lease_renew(req.id).await {
                    Ok(ttl) => resp.ttl = ttl,
                    Err(ServerError::Lease(LeaseError::NotFound)) => resp.ttl = 0,
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                }
                if tx.send(Ok(resp)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream(rx).boxed()))
    }

    async fn lease_time_to_live(
        &self,
        r: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let (req, ai) = admit(&self.server, r)?;
        let id = req.id;
        // The keys of a lease are only for those who may read them all
        // (etcd 3.4.26+'s `checkLeaseTimeToLive`), checked only when the
        // keys are asked for, as there.
        if req.keys {
            self.server
                .check_lease_readable(id, ai.as_ref())
                .map_err(to_status)?;
        }
        let mut resp = match self.server.lease_time_to_live(req).await {
            Ok(resp) => resp,
            // etcd answers an unknown lease with TTL -1, not an error.
            Err(ServerError::Lease(LeaseError::NotFound)) => LeaseTimeToLiveResponse {
                id,
                ttl: -1,
                ..Default::default()
            },
            Err(e) => return Err(to_status(e)),
        };
        self.fill(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        r: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        admit(&self.server, r)?;
        let mut resp = self.server.lease_leases();
        self.fill(&mut resp.header);
        Ok(Response::new(resp))
    }
}
