//! The one place every request enters the services: [`admit`] unwraps the
//! gRPC request, after the checks etcd's unary interceptor makes
//! (`isRPCSupportedForLearner`: a learner serves only `Status` and
//! serializable `Range`), and resolves its auth token to the user it names,
//! which the handler passes on to the server's permission checks.
//!
//! A handler gets its message only through `admit`, so a new RPC cannot
//! forget the checks; whether a request may run on a learner is said once
//! per request type, by [`ForLearner`].

use tonic::{Request, Status};

use super::errors::to_status;
use crate::auth::AuthInfo;
use crate::pb::etcdserverpb::{
    AlarmRequest, CompactionRequest, DefragmentRequest, DeleteRangeRequest, HashKvRequest,
    HashRequest, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseLeasesRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest, MemberAddRequest, MemberListRequest, MemberPromoteRequest,
    MemberRemoveRequest, MemberUpdateRequest, MoveLeaderRequest, PutRequest, RangeRequest,
    StatusRequest, TxnRequest,
};
use crate::server::EtcdServer;

/// etcd's `isRPCSupportedForLearner`, per request type.
pub trait ForLearner {
    /// Whether a learner may serve this request (most may not).
    fn allowed_on_learner(&self) -> bool {
        false
    }
}

impl ForLearner for StatusRequest {
    fn allowed_on_learner(&self) -> bool {
        true
    }
}

impl ForLearner for RangeRequest {
    fn allowed_on_learner(&self) -> bool {
        self.serializable
    }
}

impl ForLearner for PutRequest {}
impl ForLearner for DeleteRangeRequest {}
impl ForLearner for TxnRequest {}
impl ForLearner for CompactionRequest {}
impl ForLearner for LeaseGrantRequest {}
impl ForLearner for LeaseRevokeRequest {}
impl ForLearner for LeaseTimeToLiveRequest {}
impl ForLearner for LeaseLeasesRequest {}
/// The watch stream (its messages are not checked one by one).
impl ForLearner for tonic::Streaming<crate::pb::etcdserverpb::WatchRequest> {}
/// The keep-alive stream (its messages are not checked one by one).
impl ForLearner for tonic::Streaming<LeaseKeepAliveRequest> {}
impl ForLearner for AlarmRequest {}
impl ForLearner for DefragmentRequest {}
impl ForLearner for crate::pb::etcdserverpb::SnapshotRequest {}
impl ForLearner for HashRequest {}
impl ForLearner for HashKvRequest {}
impl ForLearner for MoveLeaderRequest {}
impl ForLearner for MemberListRequest {}
impl ForLearner for MemberAddRequest {}
impl ForLearner for MemberRemoveRequest {}
impl ForLearner for MemberUpdateRequest {}
impl ForLearner for MemberPromoteRequest {}
impl ForLearner for crate::pb::v3lockpb::LockRequest {}
impl ForLearner for crate::pb::v3lockpb::UnlockRequest {}
impl ForLearner for crate::pb::v3electionpb::CampaignRequest {}
impl ForLearner for crate::pb::v3electionpb::ProclaimRequest {}
impl ForLearner for crate::pb::v3electionpb::LeaderRequest {}
impl ForLearner for crate::pb::v3electionpb::ResignRequest {}

/// The request's message, if this member may serve it, and the user its
/// token names (`None`: auth is off, or no token was sent). A token that is
/// unknown or expired is refused here, as etcd's `AuthInfoFromCtx` refuses
/// it, before the request does anything.
pub fn admit<T: ForLearner>(
    server: &EtcdServer,
    r: Request<T>,
) -> Result<(T, Option<AuthInfo>), Status> {
    let ai = server
        .auth_info_from(token(&r).as_deref(), client_cn(&r).as_deref())
        .map_err(to_status)?;
    Ok((admit_any_token(server, r)?, ai))
}

/// As [`admit`], without resolving the token: for the services that look
/// at it themselves, as etcd does (the watch stream opens whatever its
/// token says and checks it with each create request; etcd 3.4's
/// Defragment, Hash and HashKV send its error unmapped).
pub fn admit_any_token<T: ForLearner>(server: &EtcdServer, r: Request<T>) -> Result<T, Status> {
    let r = r.into_inner();
    if server.is_learner() && !r.allowed_on_learner() {
        return Err(Status::unavailable(
            "etcdserver: rpc not supported for learner",
        ));
    }
    Ok(r)
}

/// The Subject CN of the verified client certificate the request came with
/// (TLS with `--client-cert-auth`), if any.
pub fn client_cn<T>(r: &Request<T>) -> Option<String> {
    crate::rt::net::client_cert_cn(r).map(str::to_string)
}

/// The auth token of a request: gRPC's `token` metadata, or the JSON
/// gateway's `authorization` header, as etcd reads them.
pub fn token<T>(r: &Request<T>) -> Option<String> {
    let md = r.metadata();
    md.get("token")
        .or_else(|| md.get("authorization"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
