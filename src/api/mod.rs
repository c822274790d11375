//! v3rpc: the gRPC face of the server. Thin: validate like etcd's
//! `v3rpc/key.go`, call [`EtcdServer`], map errors to etcd's status codes.

pub mod http;
pub mod unimplemented;

use std::collections::HashSet;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use self::unimplemented::{Unimplemented, Unsupported};
use crate::apply::MemberError;
use crate::mvcc::MvccError;
use crate::pb::etcdserverpb::{
    self, cluster_server, kv_server, maintenance_server, range_request, request_op, AlarmRequest,
    AlarmResponse, CompactionRequest, CompactionResponse, DefragmentRequest, DefragmentResponse,
    DeleteRangeRequest, DeleteRangeResponse, DowngradeRequest, DowngradeResponse, HashKvRequest,
    HashKvResponse, HashRequest, HashResponse, MemberAddRequest, MemberAddResponse,
    MemberListRequest, MemberListResponse, MemberPromoteRequest, MemberPromoteResponse,
    MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
    MoveLeaderRequest, MoveLeaderResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    RequestOp, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse, TxnRequest,
    TxnResponse,
};
use crate::pb::{v3electionpb, v3lockpb};
use crate::rt::net::{self, Listener, ServeOptions};
use crate::server::{EtcdServer, ServerError};

/// Limits the API enforces before anything reaches raft.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 1536 * 1024,
            max_txn_ops: 128,
        }
    }
}

/// gRPC adds framing around a request; etcd allows this much on top of
/// `--max-request-bytes` before the transport itself refuses a message.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The decoder's own hard bound; sizes between the configured limit and this
/// are refused by [`Kv::check_size`] with grpc-go's message.
pub const DECODE_BYTES_MAX: usize = 64 << 20;

fn empty_key() -> Status {
    Status::invalid_argument("etcdserver: key is not provided")
}

fn too_large() -> Status {
    Status::invalid_argument("etcdserver: request is too large")
}

/// etcd's `isRPCSupportedForLearner`: a learner answers only `Status` and
/// serializable `Range`; everything else gets this.
fn learner_check(server: &EtcdServer) -> Result<(), Status> {
    if server.is_learner() {
        return Err(Status::unavailable(
            "etcdserver: rpc not supported for learner",
        ));
    }
    Ok(())
}

/// Maps a server error to the status etcd's `rpctypes` would send.
pub fn to_status(e: ServerError) -> Status {
    match e {
        ServerError::Mvcc(MvccError::Compacted) | ServerError::Mvcc(MvccError::FutureRev) => {
            Status::out_of_range(format!("etcdserver: {e}"))
        }
        ServerError::Mvcc(MvccError::KeyNotFound) => Status::invalid_argument(e.to_string()),
        ServerError::Mvcc(MvccError::LeaseNotFound) => Status::not_found(e.to_string()),
        ServerError::Member(MemberError::NotFound) => Status::not_found(e.to_string()),
        ServerError::Member(MemberError::BadUrls) => Status::invalid_argument(e.to_string()),
        ServerError::Member(MemberError::Unhealthy) => Status::unavailable(e.to_string()),
        // etcd 3.4 sends this one without a gRPC code of its own.
        ServerError::Member(MemberError::NotEnoughStarted) => Status::unknown(e.to_string()),
        ServerError::Member(_) => Status::failed_precondition(e.to_string()),
        ServerError::Timeout
        | ServerError::NoLeader
        | ServerError::Stopped
        | ServerError::TimeoutLeaderTransfer => Status::unavailable(e.to_string()),
        ServerError::NotLeader | ServerError::BadLeaderTransferee => {
            Status::failed_precondition(e.to_string())
        }
    }
}

fn check_range(r: &RangeRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    if range_request::SortOrder::try_from(r.sort_order).is_err()
        || range_request::SortTarget::try_from(r.sort_target).is_err()
    {
        return Err(Status::invalid_argument("etcdserver: invalid sort option"));
    }
    Ok(())
}

fn check_put(r: &PutRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(Status::invalid_argument("etcdserver: value is provided"));
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(Status::invalid_argument("etcdserver: lease is provided"));
    }
    Ok(())
}

fn check_delete(r: &DeleteRangeRequest) -> Result<(), Status> {
    if r.key.is_empty() {
        return Err(empty_key());
    }
    Ok(())
}

fn check_op(op: &RequestOp, max_txn_ops: usize) -> Result<(), Status> {
    match &op.request {
        Some(request_op::Request::RequestRange(r)) => check_range(r),
        Some(request_op::Request::RequestPut(r)) => check_put(r),
        Some(request_op::Request::RequestDeleteRange(r)) => check_delete(r),
        Some(request_op::Request::RequestTxn(t)) => check_txn(t, max_txn_ops),
        None => Ok(()),
    }
}

/// etcd's `checkTxnRequest`: op count, empty keys, nested ops.
fn check_txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), Status> {
    let opc = r.compare.len().max(r.success.len()).max(r.failure.len());
    if opc > max_txn_ops {
        return Err(Status::invalid_argument(
            "etcdserver: too many operations in txn request",
        ));
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(empty_key());
    }
    for op in r.success.iter().chain(&r.failure) {
        check_op(op, max_txn_ops - opc)?;
    }
    Ok(())
}

fn duplicate_key() -> Status {
    Status::invalid_argument("etcdserver: duplicate key given in txn request")
}

/// A delete's interval: a point when `end` is empty, else `[key, end)`.
type Interval = (Vec<u8>, Vec<u8>);

fn intersects(dels: &[Interval], k: &[u8]) -> bool {
    dels.iter().any(|(key, end)| {
        if end.is_empty() {
            key.as_slice() == k
        } else {
            key.as_slice() <= k && k < end.as_slice()
        }
    })
}

/// etcd's `checkIntervals`: within one branch, no key may be put twice or
/// be both put and deleted (then/else of a nested txn may overlap).
fn check_intervals(reqs: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Interval>), Status> {
    let mut dels: Vec<Interval> = reqs
        .iter()
        .filter_map(|r| match &r.request {
            Some(request_op::Request::RequestDeleteRange(d)) => {
                Some((d.key.clone(), d.range_end.clone()))
            }
            _ => None,
        })
        .collect();
    let mut puts = HashSet::new();
    for r in reqs {
        let Some(request_op::Request::RequestTxn(t)) = &r.request else {
            continue;
        };
        let (puts_then, dels_then) = check_intervals(&t.success)?;
        let (puts_else, dels_else) = check_intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || intersects(&dels, k) {
                return Err(duplicate_key());
            }
            puts.insert(k.clone());
        }
        for k in puts_else {
            if puts.contains(&k) && !puts_then.contains(&k) || intersects(&dels, &k) {
                return Err(duplicate_key());
            }
            puts.insert(k);
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for r in reqs {
        let Some(request_op::Request::RequestPut(p)) = &r.request else {
            continue;
        };
        if puts.contains(&p.key) || intersects(&dels, &p.key) {
            return Err(duplicate_key());
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

/// The KV service.
#[derive(Clone)]
pub struct Kv {
    pub server: Arc<EtcdServer>,
    pub limits: Limits,
}

impl Kv {
    /// grpc-go refuses a message over `max + overhead` in the transport;
    /// etcd then refuses a request over `max` before proposing it.
    fn check_size<M: prost::Message>(&self, m: &M) -> Result<(), Status> {
        let len = m.encoded_len();
        let transport_max = self.limits.max_request_bytes + GRPC_OVERHEAD_BYTES;
        if len > transport_max {
            return Err(Status::resource_exhausted(format!(
                "grpc: received message larger than max ({len} vs. {transport_max})"
            )));
        }
        if len > self.limits.max_request_bytes {
            return Err(too_large());
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl kv_server::Kv for Kv {
    async fn range(&self, r: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let r = r.into_inner();
        if !r.serializable {
            learner_check(&self.server)?;
        }
        check_range(&r)?;
        self.check_size(&r)?;
        let resp = self.server.range(r).await.map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn put(&self, r: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        learner_check(&self.server)?;
        let r = r.into_inner();
        check_put(&r)?;
        self.check_size(&r)?;
        let resp = self.server.put(r).await.map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn delete_range(
        &self,
        r: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        learner_check(&self.server)?;
        let r = r.into_inner();
        check_delete(&r)?;
        self.check_size(&r)?;
        let resp = self.server.delete_range(r).await.map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn txn(&self, r: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        learner_check(&self.server)?;
        let r = r.into_inner();
        check_txn(&r, self.limits.max_txn_ops)?;
        check_intervals(&r.success)?;
        check_intervals(&r.failure)?;
        self.check_size(&r)?;
        let resp = self.server.txn(r).await.map_err(to_status)?;
        Ok(Response::new(resp))
    }

    async fn compact(
        &self,
        r: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        learner_check(&self.server)?;
        let resp = self
            .server
            .compact(r.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(resp))
    }
}

/// The Maintenance service.
#[derive(Clone)]
pub struct Maintenance {
    pub server: Arc<EtcdServer>,
}

#[tonic::async_trait]
impl maintenance_server::Maintenance for Maintenance {
    async fn alarm(&self, _r: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        learner_check(&self.server)?;
        // No alarm is ever raised yet (quota and corruption checks come later).
        let mut resp = AlarmResponse::default();
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn status(&self, _r: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let st = self.server.raft_status();
        let db = self.server.db_size() as i64;
        let mut resp = StatusResponse {
            version: self.server.version.to_string(),
            db_size: db,
            leader: st.leader_id,
            raft_index: st.commit_index,
            raft_term: st.term,
            raft_applied_index: st.applied_index,
            db_size_in_use: db,
            is_learner: self.server.is_learner(),
            ..Default::default()
        };
        self.server.header(&mut resp.header);
        resp.header.as_mut().expect("set").revision = self.server.current_revision();
        Ok(Response::new(resp))
    }

    async fn defragment(
        &self,
        _r: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        learner_check(&self.server)?;
        // sled compacts its own files; there is nothing to rewrite.
        let mut resp = DefragmentResponse::default();
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }

    async fn hash(&self, _r: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        learner_check(&self.server)?;
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
        learner_check(&self.server)?;
        let at = r.into_inner().revision;
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

    type SnapshotStream = Unsupported<SnapshotResponse>;
    async fn snapshot(
        &self,
        _r: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(unimplemented::unimplemented(
            "etcdserverpb.Maintenance.Snapshot",
        ))
    }
    async fn move_leader(
        &self,
        r: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        learner_check(&self.server)?;
        self.server
            .move_leader(r.into_inner().target_id)
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

/// The Cluster service.
#[derive(Clone)]
pub struct Cluster {
    pub server: Arc<EtcdServer>,
}

#[tonic::async_trait]
impl cluster_server::Cluster for Cluster {
    async fn member_list(
        &self,
        _r: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        learner_check(&self.server)?;
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
        learner_check(&self.server)?;
        let r = r.into_inner();
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
        learner_check(&self.server)?;
        let members = self
            .server
            .member_remove(r.into_inner().id)
            .await
            .map_err(to_status)?;
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
        learner_check(&self.server)?;
        let r = r.into_inner();
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
        learner_check(&self.server)?;
        let members = self
            .server
            .member_promote(r.into_inner().id)
            .await
            .map_err(to_status)?;
        let mut resp = MemberPromoteResponse {
            header: None,
            members,
        };
        self.server.header(&mut resp.header);
        Ok(Response::new(resp))
    }
}

/// Serves every gRPC service (and, on real networks, etcd's HTTP endpoints)
/// on `listener` until `shutdown` resolves.
pub async fn serve(
    server: Arc<EtcdServer>,
    limits: Limits,
    listener: Listener,
    opts: &ServeOptions,
    cors: http::Cors,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = (limits.max_request_bytes + GRPC_OVERHEAD_BYTES).max(DECODE_BYTES_MAX);
    let kv = kv_server::KvServer::new(Kv {
        server: server.clone(),
        limits,
    })
    .max_decoding_message_size(max);
    let maint = maintenance_server::MaintenanceServer::new(Maintenance {
        server: server.clone(),
    });
    let cluster = cluster_server::ClusterServer::new(Cluster {
        server: server.clone(),
    });
    let http = Arc::new(http::ClientHttp { server, cors });
    let router = net::grpc_server(opts, http)
        .add_service(kv)
        .add_service(maint)
        .add_service(cluster)
        .add_service(etcdserverpb::watch_server::WatchServer::new(Unimplemented))
        .add_service(etcdserverpb::lease_server::LeaseServer::new(Unimplemented))
        .add_service(etcdserverpb::auth_server::AuthServer::new(Unimplemented))
        .add_service(v3lockpb::lock_server::LockServer::new(Unimplemented))
        .add_service(v3electionpb::election_server::ElectionServer::new(
            Unimplemented,
        ));
    net::serve(router, listener, opts.drain, shutdown).await
}
