//! The Lease proxy (etcd's `proxy/grpcproxy/lease.go`): calls forwarded;
//! a keep-alive stream becomes one upstream keep-alive stream, each
//! request passed up and each answer passed down, so the client gets one
//! answer per request as from a member. etcd's proxy instead keeps each
//! lease alive through clientv3's lessor and answers from it; what a
//! client sees is the same.

use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::{forward, pass, receiver_stream, up, via_clientv3, Passed, Upstream};
use crate::pb::etcdserverpb::{
    lease_server, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest,
    LeaseKeepAliveResponse, LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};

/// Keep-alive requests queued toward the cluster for one stream.
const KEEPALIVE_QUEUE: usize = 64;

pub struct LeaseProxy {
    pub up: Upstream,
}

/// Stops the task that reads a client's keep-alive requests when the
/// client's answer stream is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

forward! {
    impl lease_server::Lease => LeaseProxy, lease, via_clientv3 {
        lease_revoke(LeaseRevokeRequest) -> LeaseRevokeResponse;
        lease_leases(LeaseLeasesRequest) -> LeaseLeasesResponse;
    }

    type LeaseKeepAliveStream = Passed<LeaseKeepAliveResponse>;

    /// etcd's proxy grants through a raw gRPC client: codes as they are.
    async fn lease_grant(
        &self,
        r: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let (md, _, msg) = r.into_parts();
        Ok(Response::new(self.up.lease().lease_grant(up(&md, msg)).await?.into_inner()))
    }

    async fn lease_time_to_live(
        &self,
        r: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let (md, _, msg) = r.into_parts();
        let mut resp = self
            .up
            .lease()
            .lease_time_to_live(up(&md, msg))
            .await
            .map_err(via_clientv3)?
            .into_inner();
        self.up.ns.lease_keys(&mut resp.keys);
        Ok(Response::new(resp))
    }

    async fn lease_keep_alive(
        &self,
        r: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let (md, _, mut inbound) = r.into_parts();
        let (tx, rx) = mpsc::channel(KEEPALIVE_QUEUE);
        let outgoing = receiver_stream(rx);
        let answers = self.up.lease().lease_keep_alive(up(&md, outgoing)).await?;
        // Ends when the client closes its side, or with the answers.
        let reader = tokio::spawn(async move {
            while let Ok(Some(req)) = inbound.message().await {
                if tx.send(req).await.is_err() {
                    break;
                }
            }
        });
        let guard = AbortOnDrop(reader.abort_handle());
        Ok(Response::new(
            pass(answers.into_inner())
                .map(move |r| {
                    let _ = &guard;
                    r
                })
                .boxed(),
        ))
    }
}
