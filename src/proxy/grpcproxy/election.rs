//! The Election proxy (etcd's `proxy/grpcproxy/election.go`): forwarded,
//! `Observe`'s stream passed through. As in etcd 3.4, names are not
//! namespaced (the recipe runs on the member).

use tonic::{Request, Response, Status};

use super::{forward, pass, up, Passed, Upstream};
use crate::pb::v3electionpb::{
    election_server, CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse,
    ProclaimRequest, ProclaimResponse, ResignRequest, ResignResponse,
};

pub struct ElectionProxy {
    pub up: Upstream,
}

forward! {
    impl election_server::Election => ElectionProxy, election, std::convert::identity {
        campaign(CampaignRequest) -> CampaignResponse;
        proclaim(ProclaimRequest) -> ProclaimResponse;
        leader(LeaderRequest) -> LeaderResponse;
        resign(ResignRequest) -> ResignResponse;
    }

    type ObserveStream = Passed<LeaderResponse>;

    async fn observe(
        &self,
        r: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let (md, _, msg) = r.into_parts();
        let s = self.up.election().observe(up(&md, msg)).await?;
        Ok(Response::new(pass(s.into_inner())))
    }
}
