//! The auth domain of the applier, as etcd's `authApplierV3`: the auth
//! management requests on [`AuthStore`](crate::auth::AuthStore), and the
//! permission checks every write makes again at apply time against the
//! user and auth revision its proposer put in the `RequestHeader`.
//!
//! Checking at apply is what makes a revoked permission stick: a put
//! authorised at revision 5 and applied after a revoke at revision 6 fails
//! with `ErrAuthOldRevision` (the client authenticates again and retries,
//! and is then refused), on every member alike, because every member
//! applies the same entries to the same auth state.

use super::{ApplyError, State};
use crate::auth::{AuthError, AuthInfo};
use crate::pb::etcdserverpb::{
    internal_raft_request::Request, request_op, DeleteRangeRequest, PutRequest, TxnRequest,
};

/// What an applied auth request answers (the server builds the response).
#[derive(Clone, Debug, PartialEq)]
pub enum AuthAnswer {
    Done,
    Status {
        enabled: bool,
        revision: u64,
    },
    Token(String),
    /// A user's roles, or every user's or role's name.
    Names(Vec<String>),
    Perms(Vec<crate::pb::authpb::Permission>),
}

/// Whether the request is auth management, which only root may do
/// (etcd's `needAdminPermission`; user and role reads are checked below).
fn needs_admin(r: &Request) -> bool {
    matches!(
        r,
        Request::AuthEnable(_)
            | Request::AuthDisable(_)
            | Request::AuthStatus(_)
            | Request::AuthUserAdd(_)
            | Request::AuthUserDelete(_)
            | Request::AuthUserChangePassword(_)
            | Request::AuthUserGrantRole(_)
            | Request::AuthUserRevokeRole(_)
            | Request::AuthRoleAdd(_)
            | Request::AuthRoleGrantPermission(_)
            | Request::AuthRoleRevokePermission(_)
            | Request::AuthRoleDelete(_)
            | Request::AuthUserList(_)
            | Request::AuthRoleList(_)
    )
}

/// The check a request must pass before it is applied at all.
pub(super) fn check(st: &State, ai: &AuthInfo, r: &Request) -> Result<(), ApplyError> {
    let auth = &st.auth;
    let named = (!ai.username.is_empty()).then_some(ai);
    let res = match r {
        r if needs_admin(r) => auth.is_admin_permitted(named),
        // A user may read itself, and the roles it holds.
        Request::AuthUserGet(g) => match auth.is_admin_permitted(named) {
            Err(e) if g.name != ai.username => Err(e),
            _ => Ok(()),
        },
        Request::AuthRoleGet(g) => match auth.is_admin_permitted(named) {
            Err(e) if !auth.has_role(&ai.username, &g.role) => Err(e),
            _ => Ok(()),
        },
        Request::Put(p) => check_put(st, ai, p),
        Request::DeleteRange(d) => check_delete(st, ai, d),
        Request::Txn(t) => check_txn(st, ai, t),
        Request::LeaseRevoke(l) => check_lease_keys(st, ai, l.id),
        _ => Ok(()),
    };
    res.map_err(ApplyError::Auth)
}

fn check_put(st: &State, ai: &AuthInfo, r: &PutRequest) -> Result<(), AuthError> {
    st.auth.is_put_permitted(ai, &r.key)?;
    // A lease whose keys this user may not write cannot be given more keys
    // by it: it could not revoke them.
    check_lease_keys(st, ai, r.lease)?;
    if r.prev_kv {
        st.auth.is_range_permitted(ai, &r.key, &[])?;
    }
    Ok(())
}

fn check_delete(st: &State, ai: &AuthInfo, r: &DeleteRangeRequest) -> Result<(), AuthError> {
    st.auth
        .is_delete_range_permitted(ai, &r.key, &r.range_end)?;
    if r.prev_kv {
        st.auth.is_range_permitted(ai, &r.key, &r.range_end)?;
    }
    Ok(())
}

/// Every compare and every op of both branches, nested txns included.
pub fn check_txn(st: &State, ai: &AuthInfo, t: &TxnRequest) -> Result<(), AuthError> {
    for c in &t.compare {
        st.auth.is_range_permitted(ai, &c.key, &c.range_end)?;
    }
    for op in t.success.iter().chain(&t.failure) {
        match &op.request {
            Some(request_op::Request::RequestRange(r)) => {
                st.auth.is_range_permitted(ai, &r.key, &r.range_end)?
            }
            Some(request_op::Request::RequestPut(p)) => check_put(st, ai, p)?,
            Some(request_op::Request::RequestDeleteRange(d)) => check_delete(st, ai, d)?,
            Some(request_op::Request::RequestTxn(t)) => check_txn(st, ai, t)?,
            None => {}
        }
    }
    Ok(())
}

/// Writing every key attached to lease `id` (revoking it deletes them).
fn check_lease_keys(st: &State, ai: &AuthInfo, id: i64) -> Result<(), AuthError> {
    let Some(lease) = st.lessor.lookup(id) else {
        return Ok(());
    };
    let named = (!ai.username.is_empty()).then_some(ai);
    if st.auth.is_admin_permitted(named).is_ok() {
        return Ok(());
    }
    for k in &lease.keys {
        st.auth.is_put_permitted(ai, k)?;
    }
    Ok(())
}

/// Applies an auth management request (already checked by [`check`]).
/// `index` is the entry's raft index (simple tokens end with it).
pub(super) fn apply(
    st: &mut State,
    r: Request,
    index: u64,
    now: std::time::Duration,
) -> Result<AuthAnswer, ApplyError> {
    let a = &mut st.auth;
    let done = |r: Result<(), AuthError>| r.map(|()| AuthAnswer::Done);
    let res = match r {
        Request::AuthEnable(_) => done(a.enable()),
        Request::AuthDisable(_) => {
            a.disable();
            Ok(AuthAnswer::Done)
        }
        Request::AuthStatus(_) => Ok(AuthAnswer::Status {
            enabled: a.is_enabled(),
            revision: a.revision(),
        }),
        Request::Authenticate(r) => authenticate(a, &r.name, &r.simple_token, index, now),
        Request::AuthUserAdd(r) => done(a.user_add(&r.name, &r.hashed_password, r.options)),
        Request::AuthUserDelete(r) => done(a.user_delete(&r.name)),
        Request::AuthUserChangePassword(r) => {
            done(a.user_change_password(&r.name, &r.hashed_password))
        }
        Request::AuthUserGrantRole(r) => done(a.user_grant_role(&r.user, &r.role)),
        Request::AuthUserRevokeRole(r) => done(a.user_revoke_role(&r.name, &r.role)),
        Request::AuthUserGet(r) => a.user_get(&r.name).map(AuthAnswer::Names),
        Request::AuthUserList(_) => Ok(AuthAnswer::Names(a.user_list())),
        Request::AuthRoleAdd(r) => done(a.role_add(&r.name)),
        Request::AuthRoleDelete(r) => done(a.role_delete(&r.role)),
        Request::AuthRoleGet(r) => a.role_get(&r.role).map(AuthAnswer::Perms),
        Request::AuthRoleList(_) => Ok(AuthAnswer::Names(a.role_list())),
        Request::AuthRoleGrantPermission(r) => {
            done(a.role_grant_permission(&r.name, r.perm.as_ref()))
        }
        Request::AuthRoleRevokePermission(r) => {
            done(a.role_revoke_permission(&r.role, &r.key, &r.range_end))
        }
        other => unreachable!("not an auth request: {other:?}"),
    };
    res.map_err(ApplyError::Auth)
}

/// etcd's `authStore.Authenticate` as applied: the password was checked by
/// the proposer; here the user must still exist (it may have been deleted
/// since) and gets the token.
fn authenticate(
    a: &mut crate::auth::AuthStore,
    name: &str,
    prefix: &str,
    index: u64,
    now: std::time::Duration,
) -> Result<AuthAnswer, AuthError> {
    if !a.is_enabled() {
        return Err(AuthError::AuthNotEnabled);
    }
    let user = a.user(name).ok_or(AuthError::AuthFailed)?;
    if user.options.as_ref().is_some_and(|o| o.no_password) {
        return Err(AuthError::AuthFailed);
    }
    let prefix = if prefix.is_empty() {
        // An entry without a prefix (not written by oxcd) still gets a
        // token every member agrees on.
        "oxcd"
    } else {
        prefix
    };
    Ok(AuthAnswer::Token(a.assign_token(prefix, index, name, now)?))
}
