//! The Cluster proxy (etcd's `proxy/grpcproxy/cluster.go`): member changes
//! forwarded; MemberList answers the proxy itself when
//! `--advertise-client-url` is set (its default is), as etcd 3.4's does
//! without `--resolver-prefix`; MemberPromote is etcd's "not implemented".

use tonic::{Request, Response, Status};

use super::{forward, up, via_clientv3, Upstream};
use crate::pb::etcdserverpb::{
    cluster_server, Member, MemberAddRequest, MemberAddResponse, MemberListRequest,
    MemberListResponse, MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest,
    MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
};

pub struct ClusterProxy {
    pub up: Upstream,
    pub advertise_client_url: String,
}

/// Go's `os.Hostname` (the kernel's node name).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

forward! {
    impl cluster_server::Cluster => ClusterProxy, cluster, via_clientv3 {
        member_add(MemberAddRequest) -> MemberAddResponse;
        member_remove(MemberRemoveRequest) -> MemberRemoveResponse;
        member_update(MemberUpdateRequest) -> MemberUpdateResponse;
    }

    async fn member_list(
        &self,
        r: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        if self.advertise_client_url.is_empty() {
            let (md, _, msg) = r.into_parts();
            let resp = self
                .up
                .cluster()
                .member_list(up(&md, msg))
                .await
                .map_err(via_clientv3)?;
            return Ok(Response::new(resp.into_inner()));
        }
        Ok(Response::new(MemberListResponse {
            members: vec![Member {
                name: hostname(),
                client_ur_ls: vec![self.advertise_client_url.clone()],
                ..Default::default()
            }],
            ..Default::default()
        }))
    }

    async fn member_promote(
        &self,
        _: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        Err(Status::unknown("not implemented"))
    }
}
