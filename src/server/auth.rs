//! The auth requests of the server (etcd's `v3_server.go` Auth*, User*,
//! Role*): passwords are hashed or checked here, on the member that takes
//! the request, and everything else goes through raft, so every member
//! applies the same change at the same index.

use super::{EtcdServer, ServerError};
use crate::apply::auth::AuthAnswer;
use crate::auth::{self, AuthError, AuthInfo, SimpleTokens};
use crate::pb::etcdserverpb::{
    internal_raft_request::Request, AuthUserAddRequest, AuthUserChangePasswordRequest,
    InternalAuthenticateRequest,
};
use crate::raftnode::Waiter;

impl EtcdServer {
    /// The user a request's token names (etcd's `AuthInfoFromCtx`):
    /// `None` when auth is off or the request has no token; an unknown or
    /// expired token is `ErrInvalidAuthToken`.
    /// (Private: requests go through [`Self::auth_info_from`], which also
    /// knows the client certificate.)
    fn auth_info(&self, token: Option<&str>) -> Result<Option<AuthInfo>, ServerError> {
        let now = self.clock.now();
        Ok(self.read().state.auth.auth_info(token, now)?)
    }

    /// [`Self::auth_info`], or, for a request without a token over TLS with
    /// `--client-cert-auth`, its client certificate's CN as the user
    /// (etcd's `AuthInfoFromTLS`).
    pub fn auth_info_from(
        &self,
        token: Option<&str>,
        cn: Option<&str>,
    ) -> Result<Option<AuthInfo>, ServerError> {
        // The common case, auth or not: nothing to resolve, so no lock
        // and no clock reading on the request path.
        if token.is_none() && (cn.is_none() || !self.client_cert_auth) {
            return Ok(None);
        }
        let ai = self.auth_info(token)?;
        if ai.is_some() || !self.client_cert_auth {
            return Ok(ai);
        }
        let shared = self.read();
        let auth = &shared.state.auth;
        Ok(cn.filter(|_| auth.is_enabled()).map(|cn| AuthInfo {
            username: cn.to_string(),
            revision: auth.revision(),
        }))
    }

    pub fn auth_enabled(&self) -> bool {
        self.read().state.auth.is_enabled()
    }

    /// etcd's `IsAdminPermitted`, for the requests checked where they are
    /// taken (maintenance, membership).
    pub fn check_admin(&self, ai: Option<&AuthInfo>) -> Result<(), ServerError> {
        Ok(self.read().state.auth.is_admin_permitted(ai)?)
    }

    /// etcd's `requireAuthInfo`: with auth on, some user must be named.
    pub fn require_auth_info(&self, ai: Option<&AuthInfo>) -> Result<(), ServerError> {
        if self.auth_enabled() && ai.is_none() {
            return Err(AuthError::UserEmpty.into());
        }
        Ok(())
    }

    /// Any auth management request, as `ai`'s user (`Authenticate`,
    /// `UserAdd` and `UserChangePassword` have their own methods).
    pub async fn auth_request(
        &self,
        req: Request,
        ai: Option<&AuthInfo>,
    ) -> Result<AuthAnswer, ServerError> {
        self.propose_as(req, ai, Waiter::Auth).await
    }

    /// `UserAdd`: the password is hashed here and only the hash replicated.
    pub async fn user_add(
        &self,
        mut r: AuthUserAddRequest,
        ai: Option<&AuthInfo>,
    ) -> Result<AuthAnswer, ServerError> {
        let no_password = r.options.as_ref().is_some_and(|o| o.no_password);
        if !r.name.is_empty() && !no_password && r.hashed_password.is_empty() {
            r.hashed_password = self.hash(std::mem::take(&mut r.password)).await?;
        }
        r.password.clear();
        self.auth_request(Request::AuthUserAdd(r), ai).await
    }

    pub async fn user_change_password(
        &self,
        mut r: AuthUserChangePasswordRequest,
        ai: Option<&AuthInfo>,
    ) -> Result<AuthAnswer, ServerError> {
        if r.hashed_password.is_empty() {
            r.hashed_password = self.hash(std::mem::take(&mut r.password)).await?;
        }
        r.password.clear();
        self.auth_request(Request::AuthUserChangePassword(r), ai)
            .await
    }

    /// `Authenticate` (etcd's, with its CVE-2021-28235 fix: the password
    /// never leaves this member): the password is checked against the
    /// stored hash, then a token is assigned through raft. If the auth
    /// store changed in between, the check is made again.
    pub async fn authenticate(&self, name: &str, password: &str) -> Result<String, ServerError> {
        self.linearizable_barrier().await?;
        loop {
            let (hash, checked_at) = self.read().state.auth.password_of(name)?;
            if !self.password_matches(password.to_string(), hash).await? {
                tracing::warn!(target: "auth", user = name, "invalid password");
                return Err(AuthError::AuthFailed.into());
            }
            let req = InternalAuthenticateRequest {
                name: name.to_string(),
                password: String::new(),
                simple_token: SimpleTokens::gen_prefix(),
            };
            let answer = self
                .propose_as(Request::Authenticate(req), None, Waiter::Auth)
                .await?;
            if self.read().state.auth.revision() == checked_at {
                if let AuthAnswer::Token(t) = answer {
                    return Ok(t);
                }
                unreachable!("Authenticate answers a token");
            }
            tracing::info!(target: "auth", "revision when password checked became stale; retrying");
        }
    }

    /// Whether `password` matches the bcrypt `hash`, a bounded number of
    /// checks at a time.
    pub(super) async fn password_matches(
        &self,
        password: String,
        hash: String,
    ) -> Result<bool, ServerError> {
        let _permit = self
            .bcrypt_permits
            .acquire()
            .await
            .map_err(|_| ServerError::Stopped)?;
        Ok(auth_work(password, hash, |p, h| {
            auth::verify_password(&p, &h).to_string()
        })
        .await
            == "true")
    }

    /// A bcrypt hash at `--bcrypt-cost`, a bounded number at a time.
    pub(super) async fn hash(&self, password: String) -> Result<String, ServerError> {
        let cost = self.bcrypt_cost;
        let _permit = self
            .bcrypt_permits
            .acquire()
            .await
            .map_err(|_| ServerError::Stopped)?;
        Ok(auth_work(password, cost.to_string(), move |p, c| {
            auth::hash_password(&p, c.parse().unwrap_or(auth::BCRYPT_COST_DEFAULT))
        })
        .await)
    }
}

/// Runs bcrypt work off the async workers on real runtimes (it takes tens
/// of milliseconds of CPU); the simulator runs it in place, where time does
/// not pass while it computes.
async fn auth_work(
    a: String,
    b: String,
    f: impl FnOnce(String, String) -> String + Send + 'static,
) -> String {
    crate::rt::blocking(move || f(a, b)).await
}

impl EtcdServer {
    /// May `ai`'s user read every key attached to lease `id`? (Root may.)
    /// Some user must ask, even about a lease without keys (etcd 3.4.26's
    /// `checkLeaseTimeToLive`).
    pub fn check_lease_readable(&self, id: i64, ai: Option<&AuthInfo>) -> Result<(), ServerError> {
        let shared = self.read();
        let auth = &shared.state.auth;
        if !auth.is_enabled() {
            return Ok(());
        }
        let ai = ai.ok_or(AuthError::UserEmpty)?;
        if auth.is_admin_permitted(Some(ai)).is_ok() {
            return Ok(());
        }
        if let Some(lease) = shared.state.lessor.lookup(id) {
            for k in &lease.keys {
                auth.is_range_permitted_now(Some(ai), k, &[])?;
            }
        }
        Ok(())
    }
}

impl EtcdServer {
    /// May `ai`'s user read `[key, range_end)` now? (For watches, which
    /// read what is written later: checked at creation, as etcd does.)
    pub fn check_range_permitted(
        &self,
        ai: Option<&AuthInfo>,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), ServerError> {
        let shared = self.read();
        Ok(shared
            .state
            .auth
            .is_range_permitted_now(ai, key, range_end)?)
    }
}
