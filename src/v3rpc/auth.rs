//! etcd's Auth service: enable and disable, authenticate, users and roles.
//! Everything but `Authenticate` runs as the caller's user and is checked
//! at apply time (management needs root; a user may read itself and its
//! roles), as etcd's `authApplierV3` does.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::errors::to_status;
use super::interceptor::{admit, ForLearner};
use super::validation::check_size;
use crate::apply::auth::AuthAnswer;
use crate::pb::etcdserverpb::ResponseHeader;
use crate::pb::etcdserverpb::{self as pb, auth_server, internal_raft_request::Request as Raft};
use crate::server::EtcdServer;

#[derive(Clone)]
pub struct Auth {
    pub server: Arc<EtcdServer>,
    pub limits: super::Limits,
}

impl ForLearner for pb::AuthEnableRequest {}
impl ForLearner for pb::AuthDisableRequest {}
impl ForLearner for pb::AuthStatusRequest {}
impl ForLearner for pb::AuthenticateRequest {}
impl ForLearner for pb::AuthUserAddRequest {}
impl ForLearner for pb::AuthUserGetRequest {}
impl ForLearner for pb::AuthUserListRequest {}
impl ForLearner for pb::AuthUserDeleteRequest {}
impl ForLearner for pb::AuthUserChangePasswordRequest {}
impl ForLearner for pb::AuthUserGrantRoleRequest {}
impl ForLearner for pb::AuthUserRevokeRoleRequest {}
impl ForLearner for pb::AuthRoleAddRequest {}
impl ForLearner for pb::AuthRoleGetRequest {}
impl ForLearner for pb::AuthRoleListRequest {}
impl ForLearner for pb::AuthRoleDeleteRequest {}
impl ForLearner for pb::AuthRoleGrantPermissionRequest {}
impl ForLearner for pb::AuthRoleRevokePermissionRequest {}

impl Auth {
    /// etcd's `newHeader`: this member, its term and the KV revision.
    fn header(&self) -> Option<ResponseHeader> {
        Some(self.server.header_at(self.server.current_revision()))
    }

    /// `admit`, and the size limits every service applies.
    fn admit<T: ForLearner + prost::Message>(
        &self,
        r: Request<T>,
    ) -> Result<(T, Option<crate::auth::AuthInfo>), Status> {
        let (m, ai) = admit(&self.server, r)?;
        check_size(&self.limits, &m)?;
        Ok((m, ai))
    }

    /// Admits `r` and replicates it as the caller's user.
    async fn run<T: ForLearner + prost::Message>(
        &self,
        r: Request<T>,
        raft: impl FnOnce(T) -> Raft,
    ) -> Result<AuthAnswer, Status> {
        let (m, ai) = self.admit(r)?;
        self.server
            .auth_request(raft(m), ai.as_ref())
            .await
            .map_err(to_status)
    }
}

fn names(a: AuthAnswer) -> Vec<String> {
    match a {
        AuthAnswer::Names(n) => n,
        _ => Vec::new(),
    }
}

#[tonic::async_trait]
impl auth_server::Auth for Auth {
    async fn auth_enable(
        &self,
        r: Request<pb::AuthEnableRequest>,
    ) -> Result<Response<pb::AuthEnableResponse>, Status> {
        self.run(r, Raft::AuthEnable).await?;
        Ok(Response::new(pb::AuthEnableResponse {
            header: self.header(),
        }))
    }

    async fn auth_disable(
        &self,
        r: Request<pb::AuthDisableRequest>,
    ) -> Result<Response<pb::AuthDisableResponse>, Status> {
        self.run(r, Raft::AuthDisable).await?;
        Ok(Response::new(pb::AuthDisableResponse {
            header: self.header(),
        }))
    }

    async fn auth_status(
        &self,
        r: Request<pb::AuthStatusRequest>,
    ) -> Result<Response<pb::AuthStatusResponse>, Status> {
        let (enabled, auth_revision) = match self.run(r, Raft::AuthStatus).await? {
            AuthAnswer::Status { enabled, revision } => (enabled, revision),
            _ => (false, 0),
        };
        Ok(Response::new(pb::AuthStatusResponse {
            header: self.header(),
            enabled,
            auth_revision,
        }))
    }

    async fn authenticate(
        &self,
        r: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        // No token is needed (or looked at) to get one.
        let r = r.into_inner();
        check_size(&self.limits, &r)?;
        if self.server.is_learner() {
            return Err(Status::unavailable(
                "etcdserver: rpc not supported for learner",
            ));
        }
        let token = self
            .server
            .authenticate(&r.name, &r.password)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::AuthenticateResponse {
            header: self.header(),
            token,
        }))
    }

    async fn user_add(
        &self,
        r: Request<pb::AuthUserAddRequest>,
    ) -> Result<Response<pb::AuthUserAddResponse>, Status> {
        let (m, ai) = self.admit(r)?;
        self.server
            .user_add(m, ai.as_ref())
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::AuthUserAddResponse {
            header: self.header(),
        }))
    }

    async fn user_get(
        &self,
        r: Request<pb::AuthUserGetRequest>,
    ) -> Result<Response<pb::AuthUserGetResponse>, Status> {
        let roles = names(self.run(r, Raft::AuthUserGet).await?);
        Ok(Response::new(pb::AuthUserGetResponse {
            header: self.header(),
            roles,
        }))
    }

    async fn user_list(
        &self,
        r: Request<pb::AuthUserListRequest>,
    ) -> Result<Response<pb::AuthUserListResponse>, Status> {
        let users = names(self.run(r, Raft::AuthUserList).await?);
        Ok(Response::new(pb::AuthUserListResponse {
            header: self.header(),
            users,
        }))
    }

    async fn user_delete(
        &self,
        r: Request<pb::AuthUserDeleteRequest>,
    ) -> Result<Response<pb::AuthUserDeleteResponse>, Status> {
        self.run(r, Raft::AuthUserDelete).await?;
        Ok(Response::new(pb::AuthUserDeleteResponse {
            header: self.header(),
        }))
    }

    async fn user_change_password(
        &self,
        r: Request<pb::AuthUserChangePasswordRequest>,
    ) -> Result<Response<pb::AuthUserChangePasswordResponse>, Status> {
        let (m, ai) = self.admit(r)?;
        self.server
            .user_change_password(m, ai.as_ref())
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::AuthUserChangePasswordResponse {
            header: self.header(),
        }))
    }

    async fn user_grant_role(
        &self,
        r: Request<pb::AuthUserGrantRoleRequest>,
    ) -> Result<Response<pb::AuthUserGrantRoleResponse>, Status> {
        self.run(r, Raft::AuthUserGrantRole).await?;
        Ok(Response::new(pb::AuthUserGrantRoleResponse {
            header: self.header(),
        }))
    }

    async fn user_revoke_role(
        &self,
        r: Request<pb::AuthUserRevokeRoleRequest>,
    ) -> Result<Response<pb::AuthUserRevokeRoleResponse>, Status> {
        self.run(r, Raft::AuthUserRevokeRole).await?;
        Ok(Response::new(pb::AuthUserRevokeRoleResponse {
            header: self.header(),
        }))
    }

    async fn role_add(
        &self,
        r: Request<pb::AuthRoleAddRequest>,
    ) -> Result<Response<pb::AuthRoleAddResponse>, Status> {
        self.run(r, Raft::AuthRoleAdd).await?;
        Ok(Response::new(pb::AuthRoleAddResponse {
            header: self.header(),
        }))
    }

    async fn role_get(
        &self,
        r: Request<pb::AuthRoleGetRequest>,
    ) -> Result<Response<pb::AuthRoleGetResponse>, Status> {
        let perm = match self.run(r, Raft::AuthRoleGet).await? {
            AuthAnswer::Perms(p) => p,
            _ => Vec::new(),
        };
        Ok(Response::new(pb::AuthRoleGetResponse {
            header: self.header(),
            perm,
        }))
    }

    async fn role_list(
        &self,
        r: Request<pb::AuthRoleListRequest>,
    ) -> Result<Response<pb::AuthRoleListResponse>, Status> {
        let roles = names(self.run(r, Raft::AuthRoleList).await?);
        Ok(Response::new(pb::AuthRoleListResponse {
            header: self.header(),
            roles,
        }))
    }

    async fn role_delete(
        &self,
        r: Request<pb::AuthRoleDeleteRequest>,
    ) -> Result<Response<pb::AuthRoleDeleteResponse>, Status> {
        self.run(r, Raft::AuthRoleDelete).await?;
        Ok(Response::new(pb::AuthRoleDeleteResponse {
            header: self.header(),
        }))
    }

    async fn role_grant_permission(
        &self,
        r: Request<pb::AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<pb::AuthRoleGrantPermissionResponse>, Status> {
        self.run(r, Raft::AuthRoleGrantPermission).await?;
        Ok(Response::new(pb::AuthRoleGrantPermissionResponse {
            header: self.header(),
        }))
    }

    async fn role_revoke_permission(
        &self,
        r: Request<pb::AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<pb::AuthRoleRevokePermissionResponse>, Status> {
        self.run(r, Raft::AuthRoleRevokePermission).await?;
        Ok(Response::new(pb::AuthRoleRevokePermissionResponse {
            header: self.header(),
        }))
    }
}
