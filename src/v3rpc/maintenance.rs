//! etcd's Maintenance service: alarms, status, defragmentation, hashes,
//! snapshots and leadership moves.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::errors::to_status;
use super::interceptor::{self, admit, ForLearner};
use super::unimplemented;
use crate::pb::etcdserverpb::{
    maintenance_server, AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse,
    DowngradeRequest, DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse,
    MoveLeaderRequest, MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest,
    StatusResponse,
};
use crate::server::{EtcdServer, ServerError};

/// etcd's `snapshotSendBufferSize`.
const SNAPSHOT_CHUNK: usize = 32 * 1024;

/// The snapshot's messages, made as the client takes them (the file is
/// held once, and dropped with the stream when the client goes away).
pub type SnapshotStream = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<SnapshotResponse, Status>> + Send + 'static>,
>;

/// The Maintenance service.
#[derive(Clone)]
pub struct Maintenance {
    pub server: Arc<EtcdServer>,
}

impl Maintenance {
    /// Root only, refused as etcd 3.4's `authMaintenanceServer` refuses
    /// Defragment, Hash and HashKV: it returns the auth store's error
    /// without mapping it to its gRPC form, so gRPC sends it with code
    /// `Unknown` and the auth package's text ("auth: permission denied"),
    /// an invalid token included.
    fn admin_unmapped<T: ForLearner>(&self, r: Request<T>) -> Result<T, Status> {
        let (token, cn) = (interceptor::token(&r), interceptor::client_cn(&r));
        let r = interceptor::admit_any_token(&self.server, r)?;
        let admitted = self
            .server
            .auth_info_from(token.as_deref(), cn.as_deref())
            .and_then(|ai| self.server.check_admin(ai.as_ref()));
        match admitted {
            Ok(()) => Ok(r),
            Err(ServerError::Auth(e)) => Err(Status::unknown(e.go_message())),
            Err(e) => Err(to_status(e)),
        }
    }
}

#[tonic::async_trait]
impl maintenance_server::Maintenance for Maintenance {
    async fn alarm(&self, r: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        // Listing needs a user; changing needs root (etcd 3.4.45's
        // `authMaintenanceServer.Alarm`).
        if r.action == crate::pb::etcdserverpb::alarm_request::AlarmAction::Get as i32 {
            self.server
                .require_auth_info(ai.as_ref())
                .map_err(to_status)?;
        } else {
            self.server.check_admin(ai.as_ref()).map_err(to_status)?;
        }
        // Through raft, a listing too (etcd's `raftRequestOnce`). etcd 3.4
        // answers without a header (its applier builds the response bare,
        // and the maintenance server adds none): `{}` as JSON.
        let resp: AlarmResponse = self.server.alarm(r).await.map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn status(&self, r: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let (_, ai) = admit(&self.server, r)?;
        self.server.check_admin(ai.as_ref()).map_err(to_status)?;
        let st = self.server.raft_status();
        let db = self.server.db_size() as i64;
        let mut resp = StatusResponse {
            version: self.server.version.to_string(),
            db_size: db,
            leader: st.leader_id,
            raft_index: st.commit_index,
            raft_term: st.term,
            raft_applied_index: st.applied_index,
            db_size_in_use: self.server.db_size_in_use() as i64,
            is_learner: self.server.is_learner(),
            ..Default::default()
        };
        self.server.header(&mut resp.header);
        resp.header.as_mut().expect("set").revision = self.server.current_revision();
        Ok(Response::new(resp))
    }

    async fn defragment(
        &self,
        r: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        self.admin_unmapped(r)?;
        // etcd returns the backend's error as it is (code Unknown), and a
        // bare response: no header.
        self.server
            .defragment()
            .await
            .map_err(|e| Status::unknown(e.to_string()))?;
        Ok(Response::new(DefragmentResponse::default()))
    }

    async fn hash(&self, r: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.admin_unmapped(r)?;
        let (hash, rev, _) = self.server.hash_kv(0).map_err(to_status)?;
        let mut resp = HashResponse {
            hash,
            ..Default::default()
        };
        self.server.header(&mut resp.header);
        resp.header.as_mut().expect("set").revision = rev;
        Ok(Response::new(resp))
    }

    async fn hash_kv(&self, r: Request<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        let r = self.admin_unmapped(r)?;
        let at = r.revision;
        let (hash, rev, compact) = self.server.hash_kv(at).map_err(to_status)?;
        let mut resp = HashKvResponse {
            hash,
            compact_revision: compact,
            ..Default::default()
        };
        self.server.header(&mut resp.header);
        resp.header.as_mut().expect("set").revision = rev;
        Ok(Response::new(resp))
    }

    type SnapshotStream = SnapshotStream;
    /// etcd's `maintenanceServer.Snapshot`: the backend as of one commit,
    /// as an etcd 3.4 backend file, in 32 KiB chunks that say how many
    /// bytes remain, then its sha256 in a last message. No header, as etcd.
    async fn snapshot(
        &self,
        r: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        self.admin_unmapped(r)?;
        let db = self
            .server
            .snapshot_db()
            .await
            .map_err(|e| Status::unknown(e.to_string()))?;
        let sha = crate::snapshot::sha256_trailer(&db);
        tracing::info!(
            total_bytes = db.len(),
            "sending database snapshot to client"
        );
        let total = db.len();
        let chunks = (0..total.div_ceil(SNAPSHOT_CHUNK)).map(move |i| {
            let end = ((i + 1) * SNAPSHOT_CHUNK).min(total);
            Ok(SnapshotResponse {
                remaining_bytes: (total - end) as u64,
                blob: db[i * SNAPSHOT_CHUNK..end].to_vec(),
                ..Default::default()
            })
        });
        let last = std::iter::once(Ok(SnapshotResponse {
            remaining_bytes: 0,
            blob: sha.to_vec(),
            ..Default::default()
        }));
        Ok(Response::new(Box::pin(futures::stream::iter(
            chunks.chain(last),
        ))))
    }
    async fn move_leader(
        &self,
        r: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        let (r, ai) = admit(&self.server, r)?;
        self.server.check_admin(ai.as_ref()).map_err(to_status)?;
        self.server
            .move_leader(r.target_id)
            .await
            .map_err(to_status)?;
        let mut resp = MoveLeaderResponse::default();
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }
    async fn downgrade(
        &self,
        _r: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        Err(unimplemented::unimplemented(
            "etcdserverpb.Maintenance.Downgrade",
        ))
    }
}
