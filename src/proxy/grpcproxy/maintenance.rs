//! The Maintenance proxy (etcd's `proxy/grpcproxy/maintenance.go`): every
//! call forwarded to the cluster, the snapshot stream passed through.

use tonic::{Request, Response, Status};

use super::{forward, pass, up, Passed, Upstream};
use crate::pb::etcdserverpb::{
    maintenance_server, AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse,
    DowngradeRequest, DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse,
    MoveLeaderRequest, MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest,
    StatusResponse,
};

pub struct MaintenanceProxy {
    pub up: Upstream,
}

forward! {
    impl maintenance_server::Maintenance => MaintenanceProxy, maintenance, std::convert::identity {
        alarm(AlarmRequest) -> AlarmResponse;
        status(StatusRequest) -> StatusResponse;
        defragment(DefragmentRequest) -> DefragmentResponse;
        hash(HashRequest) -> HashResponse;
        hash_kv(HashKvRequest) -> HashKvResponse;
        move_leader(MoveLeaderRequest) -> MoveLeaderResponse;
        downgrade(DowngradeRequest) -> DowngradeResponse;
    }

    type SnapshotStream = Passed<SnapshotResponse>;

    async fn snapshot(
        &self,
        r: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        let (md, _, msg) = r.into_parts();
        let s = self.up.maintenance().snapshot(up(&md, msg)).await?;
        Ok(Response::new(pass(s.into_inner())))
    }
}
