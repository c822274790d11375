//! Services (or the remaining RPCs of services) that oxcd does not serve
//! yet. Each answers `UNIMPLEMENTED` with a message naming the RPC, so a
//! client learns exactly what is missing. Generated once from `proto/` by a
//! script; edit by hand as RPCs get built (and move them out of here).

use futures::stream::BoxStream;
use tonic::{Request, Response, Status};

use crate::pb::etcdserverpb;

/// Stream type of an RPC that never produces a stream.
pub type Unsupported<T> = BoxStream<'static, Result<T, Status>>;

pub fn unimplemented(rpc: &str) -> Status {
    Status::unimplemented(format!("oxcd: {rpc} is not implemented yet"))
}

/// Auth: not built yet.
#[derive(Clone, Copy, Default)]
pub struct Unimplemented;

#[tonic::async_trait]
impl etcdserverpb::auth_server::Auth for Unimplemented {
    async fn auth_enable(
        &self,
        _r: Request<etcdserverpb::AuthEnableRequest>,
    ) -> Result<Response<etcdserverpb::AuthEnableResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.AuthEnable"))
    }
    async fn auth_disable(
        &self,
        _r: Request<etcdserverpb::AuthDisableRequest>,
    ) -> Result<Response<etcdserverpb::AuthDisableResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.AuthDisable"))
    }
    async fn auth_status(
        &self,
        _r: Request<etcdserverpb::AuthStatusRequest>,
    ) -> Result<Response<etcdserverpb::AuthStatusResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.AuthStatus"))
    }
    async fn authenticate(
        &self,
        _r: Request<etcdserverpb::AuthenticateRequest>,
    ) -> Result<Response<etcdserverpb::AuthenticateResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.Authenticate"))
    }
    async fn user_add(
        &self,
        _r: Request<etcdserverpb::AuthUserAddRequest>,
    ) -> Result<Response<etcdserverpb::AuthUserAddResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.UserAdd"))
    }
    async fn user_get(
        &self,
        _r: Request<etcdserverpb::AuthUserGetRequest>,
    ) -> Result<Response<etcdserverpb::AuthUserGetResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.UserGet"))
    }
    async fn user_list(
        &self,
        _r: Request<etcdserverpb::AuthUserListRequest>,
    ) -> Result<Response<etcdserverpb::AuthUserListResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.UserList"))
    }
    async fn user_delete(
        &self,
        _r: Request<etcdserverpb::AuthUserDeleteRequest>,
    ) -> Result<Response<etcdserverpb::AuthUserDeleteResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.UserDelete"))
    }
    async fn user_change_password(
        &self,
        _r: Request<etcdserverpb::AuthUserChangePasswordRequest>,
    ) -> Result<Response<etcdserverpb::AuthUserChangePasswordResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.UserChangePassword"))
    }
    async fn user_grant_role(
        &self,
        _r: Request<etcdserverpb::AuthUserGrantRoleRequest>,
    ) -> Result<Response<etcdserverpb::AuthUserGrantRoleResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.UserGrantRole"))
    }
    async fn user_revoke_role(
        &self,
        _r: Request<etcdserverpb::AuthUserRevokeRoleRequest>,
    ) -> Result<Response<etcdserverpb::AuthUserRevokeRoleResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.UserRevokeRole"))
    }
    async fn role_add(
        &self,
        _r: Request<etcdserverpb::AuthRoleAddRequest>,
    ) -> Result<Response<etcdserverpb::AuthRoleAddResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.RoleAdd"))
    }
    async fn role_get(
        &self,
        _r: Request<etcdserverpb::AuthRoleGetRequest>,
    ) -> Result<Response<etcdserverpb::AuthRoleGetResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.RoleGet"))
    }
    async fn role_list(
        &self,
        _r: Request<etcdserverpb::AuthRoleListRequest>,
    ) -> Result<Response<etcdserverpb::AuthRoleListResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.RoleList"))
    }
    async fn role_delete(
        &self,
        _r: Request<etcdserverpb::AuthRoleDeleteRequest>,
    ) -> Result<Response<etcdserverpb::AuthRoleDeleteResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.RoleDelete"))
    }
    async fn role_grant_permission(
        &self,
        _r: Request<etcdserverpb::AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<etcdserverpb::AuthRoleGrantPermissionResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.RoleGrantPermission"))
    }
    async fn role_revoke_permission(
        &self,
        _r: Request<etcdserverpb::AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<etcdserverpb::AuthRoleRevokePermissionResponse>, Status> {
        Err(unimplemented("etcdserverpb.Auth.RoleRevokePermission"))
    }
}
