//! etcd's Cluster service: the member list and membership changes.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::errors::to_status;
use super::interceptor::admit;
use crate::pb::etcdserverpb::{
    cluster_server, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use crate::server::EtcdServer;

/// The Cluster service.
#[derive(Clone)]
pub struct Cluster {
    pub server: Arc<EtcdServer>,
}

#[tonic::async_trait]
impl cluster_server::Cluster for Cluster {
    async fn member_list(
        &self,
        r: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        admit(&self.server, r)?;
        // Anyone may list (etcd 3.4); changes need root.
        let mut resp = MemberListResponse {
            members: self.server.member_list(),
            ..Default::default()
        };
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn member_add(
        &self,
        r: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        self.server.check_admin(ai.as_ref()).map_err(to_status)?;
        let (member, members) = self
            .server
            .member_add(r.peer_ur_ls, r.is_learner)
            .await
            .map_err(to_status)?;
        let mut resp = MemberAddResponse {
            header: None,
            member: Some(member),
            members,
        };
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn member_remove(
        &self,
        r: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        self.server.check_admin(ai.as_ref()).map_err(to_status)?;
        let members = self.server.member_remove(r.id).await.map_err(to_status)?;
        let mut resp = MemberRemoveResponse {
            header: None,
            members,
        };
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn member_update(
        &self,
        r: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        self.server.check_admin(ai.as_ref()).map_err(to_status)?;
        let members = self
            .server
            .member_update(r.id, r.peer_ur_ls)
            .await
            .map_err(to_status)?;
        let mut resp = MemberUpdateResponse {
            header: None,
            members,
        };
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn member_promote(
        &self,
        r: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        self.server.check_admin(ai.as_ref()).map_err(to_status)?;
        let members = self.server.member_promote(r.id).await.map_err(to_status)?;
        let mut resp = MemberPromoteResponse {
            header: None,
            members,
        };
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }
}
