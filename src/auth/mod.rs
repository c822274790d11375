//! The auth store, as etcd's `auth/store.go`: users, roles and their key
//! permissions, whether auth is enabled, and the auth revision that every
//! change bumps.
//!
//! Two kinds of state live here:
//!
//! * **Replicated**, changed only by applying raft entries on every member
//!   (the `user_*`, `role_*` and `enable`/`disable` methods, called by
//!   `apply::auth`): persisted through [`BackendOp`]s, so a restart or a
//!   snapshot brings it back.
//! * **Per member**: the simple tokens ([`token::SimpleTokens`]). Each is
//!   assigned by applying an `Authenticate` entry, so every member knows it,
//!   but expiry runs on this member's node clock and a restart forgets them
//!   all, as in etcd.
//!
//! Permission checks ([`AuthStore::is_range_permitted`] and its siblings)
//! are etcd's `isOpPermitted`: with auth enabled, a request must name a
//! user, be authorised at the current auth revision (an older one gets
//! `ErrAuthOldRevision`, and clients authenticate again), and be covered by
//! the union of the user's role permissions ([`perms`]), unless the user has
//! the root role. The server checks reads against the state it reads; the
//! applier checks writes again at apply time against the revision in the
//! entry's `RequestHeader`, so a permission revoked between proposal and
//! apply is honoured.
//!
//! Passwords are bcrypt hashes made by the member that took the request
//! (bcrypt is slow, and a password must not reach the WAL): the entry
//! carries `hashedPassword`, as etcd 3.5 does.

#[cfg(not(madsim))]
pub mod jwt;
pub mod perms;
pub mod token;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::pb::authpb::{permission, Permission, Role, User, UserAddOptions};
use crate::storage::schema::{BackendOp, Loaded};

pub use self::token::SimpleTokens;

/// The user and role with every permission.
pub const ROOT_USER: &str = "root";
pub const ROOT_ROLE: &str = "root";

/// etcd's default `--bcrypt-cost` (Go's `bcrypt.DefaultCost`), and Go's bounds.
pub const BCRYPT_COST_DEFAULT: u32 = 10;
pub const BCRYPT_COST_MIN: u32 = 4;
pub const BCRYPT_COST_MAX: u32 = 31;

/// Who a request is from, as its token said when it was checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthInfo {
    pub username: String,
    /// The auth revision the token was checked at; 0 for no user.
    pub revision: u64,
}

/// Why an auth operation or check failed; `Display` is etcd's gRPC message
/// (`rpctypes.ErrGRPC*`) and [`AuthError::code`] its status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    RootUserNotExist,
    RootRoleNotExist,
    UserAlreadyExist,
    UserEmpty,
    UserNotFound,
    RoleAlreadyExist,
    RoleNotFound,
    RoleEmpty,
    AuthFailed,
    /// A password was given for a `no_password` user (etcd's
    /// `ErrNoPasswordUser`, which etcd 3.4 sends as it is: code `Unknown`).
    NoPasswordUser,
    PermissionNotGiven,
    PermissionDenied,
    RoleNotGranted,
    PermissionNotGranted,
    AuthNotEnabled,
    InvalidAuthToken,
    InvalidAuthMgmt,
    AuthOldRevision,
    /// etcd's auth package errors that have no gRPC form (start-up and
    /// token signing).
    InvalidAuthOpts,
    InvalidAuthMethod,
    MissingKey,
    KeyMismatch,
    VerifyOnly,
}

impl AuthError {
    /// The gRPC status code etcd sends with it.
    pub fn code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            AuthError::UserEmpty
            | AuthError::RoleEmpty
            | AuthError::AuthFailed
            | AuthError::PermissionNotGiven
            | AuthError::InvalidAuthMgmt
            | AuthError::AuthOldRevision => Code::InvalidArgument,
            AuthError::PermissionDenied => Code::PermissionDenied,
            AuthError::InvalidAuthToken => Code::Unauthenticated,
            AuthError::NoPasswordUser
            | AuthError::InvalidAuthOpts
            | AuthError::InvalidAuthMethod
            | AuthError::MissingKey
            | AuthError::KeyMismatch
            | AuthError::VerifyOnly => Code::Unknown,
            _ => Code::FailedPrecondition,
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthError::RootUserNotExist => "etcdserver: root user does not exist",
            AuthError::RootRoleNotExist => "etcdserver: root user does not have root role",
            AuthError::UserAlreadyExist => "etcdserver: user name already exists",
            AuthError::UserEmpty => "etcdserver: user name is empty",
            AuthError::UserNotFound => "etcdserver: user name not found",
            AuthError::RoleAlreadyExist => "etcdserver: role name already exists",
            AuthError::RoleNotFound => "etcdserver: role name not found",
            AuthError::RoleEmpty => "etcdserver: role name is empty",
            AuthError::AuthFailed => {
                "etcdserver: authentication failed, invalid user ID or password"
            }
            AuthError::NoPasswordUser => AuthError::NoPasswordUser.go_message(),
            AuthError::PermissionNotGiven => "etcdserver: permission not given",
            AuthError::PermissionDenied => "etcdserver: permission denied",
            AuthError::RoleNotGranted => "etcdserver: role is not granted to the user",
            AuthError::PermissionNotGranted => "etcdserver: permission is not granted to the role",
            AuthError::AuthNotEnabled => "etcdserver: authentication is not enabled",
            AuthError::InvalidAuthToken => "etcdserver: invalid auth token",
            AuthError::InvalidAuthMgmt => "etcdserver: invalid auth management",
            AuthError::AuthOldRevision => "etcdserver: revision of auth store is old",
            // No gRPC form: sent as etcd sends them, unmapped.
            e => e.go_message(),
        })
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// The text of etcd's own error (`auth.Err*`, not its gRPC form): what
    /// etcd sends, with code `Unknown`, where it returns the auth store's
    /// error without mapping it (Defragment, Hash, HashKV in 3.4).
    pub fn go_message(self) -> &'static str {
        match self {
            AuthError::RootUserNotExist => "auth: root user does not exist",
            AuthError::RootRoleNotExist => "auth: root user does not have root role",
            AuthError::UserAlreadyExist => "auth: user already exists",
            AuthError::UserEmpty => "auth: user name is empty",
            AuthError::UserNotFound => "auth: user not found",
            AuthError::RoleAlreadyExist => "auth: role already exists",
            AuthError::RoleNotFound => "auth: role not found",
            AuthError::RoleEmpty => "auth: role name is empty",
            AuthError::AuthFailed => "auth: authentication failed, invalid user ID or password",
            AuthError::NoPasswordUser => {
                "auth: authentication failed, password was given for no password user"
            }
            AuthError::PermissionNotGiven => "auth: permission not given",
            AuthError::PermissionDenied => "auth: permission denied",
            AuthError::RoleNotGranted => "auth: role is not granted to the user",
            AuthError::PermissionNotGranted => "auth: permission is not granted to the role",
            AuthError::AuthNotEnabled => "auth: authentication is not enabled",
            AuthError::InvalidAuthToken => "auth: invalid auth token",
            AuthError::InvalidAuthMgmt => "auth: invalid auth management",
            AuthError::AuthOldRevision => "auth: revision in header is old",
            AuthError::InvalidAuthOpts => "auth: invalid auth options",
            AuthError::InvalidAuthMethod => "auth: invalid auth signature method",
            AuthError::MissingKey => "auth: missing key data",
            AuthError::KeyMismatch => "auth: public and private keys don't match",
            AuthError::VerifyOnly => "auth: token signing attempted with verify-only key",
        }
    }
}

/// How this member makes and reads tokens (`--auth-token`,
/// `--auth-token-ttl`): simple tokens, or JWTs when `jwt` is set.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    pub simple_ttl: Duration,
    #[cfg(not(madsim))]
    pub jwt: Option<std::sync::Arc<jwt::JwtTokens>>,
}

impl TokenConfig {
    /// Simple tokens living `ttl` past their last use.
    pub fn simple(ttl: Duration) -> TokenConfig {
        TokenConfig {
            simple_ttl: ttl,
            #[cfg(not(madsim))]
            jwt: None,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig::simple(token::TTL_DEFAULT)
    }
}

/// `(user, key, range end, write)`: a decision `Bug::StalePermCache` keeps.
type CachedCheck = (String, Vec<u8>, Vec<u8>, bool);

/// Users, roles, the enabled flag and the revision; see the module docs.
pub struct AuthStore {
    enabled: bool,
    revision: u64,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
    pub tokens: SimpleTokens,
    #[cfg(not(madsim))]
    jwt: Option<std::sync::Arc<jwt::JwtTokens>>,
    ops: Vec<BackendOp>,
    /// Decisions remembered by `Bug::StalePermCache` (empty otherwise).
    stale_cache: std::sync::Mutex<std::collections::HashMap<CachedCheck, bool>>,
}

impl Default for AuthStore {
    /// An empty store, at revision 1 (see [`AuthStore::recover`]).
    fn default() -> Self {
        AuthStore {
            enabled: false,
            revision: 1,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            tokens: SimpleTokens::default(),
            #[cfg(not(madsim))]
            jwt: None,
            ops: Vec::new(),
            stale_cache: Default::default(),
        }
    }
}

impl AuthStore {
    /// The store a backend holds. A new store is at revision 1, as etcd's
    /// `NewAuthStore` makes it (so revision 0 can mean "no user").
    pub fn recover(loaded: &Loaded, tokens: &TokenConfig) -> AuthStore {
        let mut s = AuthStore {
            enabled: loaded.auth_enabled,
            revision: loaded.auth_revision.max(1),
            tokens: SimpleTokens::new(tokens.simple_ttl),
            #[cfg(not(madsim))]
            jwt: tokens.jwt.clone(),
            ..AuthStore::default()
        };
        for u in &loaded.users {
            s.users
                .insert(String::from_utf8_lossy(&u.name).into_owned(), u.clone());
        }
        for r in &loaded.roles {
            s.roles
                .insert(String::from_utf8_lossy(&r.name).into_owned(), r.clone());
        }
        s.tokens.set_enabled(s.enabled);
        s
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The backend writes made since the last call.
    pub fn take_ops(&mut self) -> Vec<BackendOp> {
        std::mem::take(&mut self.ops)
    }

    fn commit_revision(&mut self) {
        self.revision += 1;
        self.ops.push(BackendOp::SetAuthRevision(self.revision));
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    fn put_user(&mut self, name: &str, u: User) {
        self.forget_cached(name);
        self.ops.push(BackendOp::PutAuthUser(u.clone()));
        self.users.insert(name.to_string(), u);
    }

    fn put_role(&mut self, name: &str, r: Role) {
        self.ops.push(BackendOp::PutAuthRole(r.clone()));
        self.roles.insert(name.to_string(), r);
    }

    // ---------------------------------------------------------- applied changes

    /// `AuthEnable`: only with a root user that holds the root role.
    /// Enabling an enabled store changes nothing.
    pub fn enable(&mut self) -> Result<(), AuthError> {
        if self.enabled {
            return Ok(());
        }
        let root = self
            .users
            .get(ROOT_USER)
            .ok_or(AuthError::RootUserNotExist)?;
        if !has_root_role(root) {
            return Err(AuthError::RootRoleNotExist);
        }
        self.enabled = true;
        self.ops.push(BackendOp::SetAuthEnabled(true));
        // etcd 3.4 does not bump the revision here (AuthDisable does).
        self.tokens.set_enabled(true);
        Ok(())
    }

    /// `AuthDisable`: every token is forgotten.
    pub fn disable(&mut self) {
        if !self.enabled {
            return;
        }
        self.enabled = false;
        self.ops.push(BackendOp::SetAuthEnabled(false));
        self.commit_revision();
        self.tokens.set_enabled(false);
    }

    /// `UserAdd`; `hashed` is the bcrypt hash (empty for `no_password`).
    pub fn user_add(
        &mut self,
        name: &str,
        hashed: &str,
        options: Option<UserAddOptions>,
    ) -> Result<(), AuthError> {
        if name.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        if self.users.contains_key(name) {
            return Err(AuthError::UserAlreadyExist);
        }
        let options = options.unwrap_or_default();
        let password = if options.no_password {
            Vec::new()
        } else {
            hashed.as_bytes().to_vec()
        };
        let u = User {
            name: name.as_bytes().to_vec(),
            password,
            roles: Vec::new(),
            options: Some(options),
        };
        self.put_user(name, u);
        self.commit_revision();
        Ok(())
    }

    pub fn user_delete(&mut self, name: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT_USER {
            return Err(AuthError::InvalidAuthMgmt);
        }
        if self.users.remove(name).is_none() {
            return Err(AuthError::UserNotFound);
        }
        self.forget_cached(name);
        self.ops.push(BackendOp::DeleteAuthUser(name.to_string()));
        self.commit_revision();
        self.tokens.invalidate_user(name);
        Ok(())
    }

    pub fn user_change_password(&mut self, name: &str, hashed: &str) -> Result<(), AuthError> {
        let mut u = self.users.get(name).ok_or(AuthError::UserNotFound)?.clone();
        u.password = hashed.as_bytes().to_vec();
        self.put_user(name, u);
        self.commit_revision();
        self.tokens.invalidate_user(name);
        Ok(())
    }

    /// `UserGrantRole`; granting a role the user has changes nothing.
    pub fn user_grant_role(&mut self, user: &str, role: &str) -> Result<(), AuthError> {
        let mut u = self.users.get(user).ok_or(AuthError::UserNotFound)?.clone();
        if role != ROOT_ROLE && !self.roles.contains_key(role) {
            return Err(AuthError::RoleNotFound);
        }
        let Err(at) = u.roles.binary_search_by(|r| r.as_str().cmp(role)) else {
            return Ok(());
        };
        u.roles.insert(at, role.to_string());
        self.put_user(user, u);
        self.commit_revision();
        Ok(())
    }

    pub fn user_get(&self, name: &str) -> Result<Vec<String>, AuthError> {
        Ok(self
            .users
            .get(name)
            .ok_or(AuthError::UserNotFound)?
            .roles
            .clone())
    }

    /// Every user's name, sorted.
    pub fn user_list(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    pub fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT_USER && role == ROOT_ROLE {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let mut u = self.users.get(name).ok_or(AuthError::UserNotFound)?.clone();
        let before = u.roles.len();
        u.roles.retain(|r| r != role);
        if u.roles.len() == before {
            return Err(AuthError::RoleNotGranted);
        }
        self.put_user(name, u);
        self.commit_revision();
        Ok(())
    }

    pub fn role_add(&mut self, name: &str) -> Result<(), AuthError> {
        if name.is_empty() {
            return Err(AuthError::RoleEmpty);
        }
        if self.roles.contains_key(name) {
            return Err(AuthError::RoleAlreadyExist);
        }
        let r = Role {
            name: name.as_bytes().to_vec(),
            key_permission: Vec::new(),
        };
        self.put_role(name, r);
        self.commit_revision();
        Ok(())
    }

    pub fn role_get(&self, name: &str) -> Result<Vec<Permission>, AuthError> {
        Ok(self
            .roles
            .get(name)
            .ok_or(AuthError::RoleNotFound)?
            .key_permission
            .clone())
    }

    /// Every role's name, sorted.
    pub fn role_list(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    /// `RoleDelete`: the role is revoked from every user holding it.
    pub fn role_delete(&mut self, name: &str) -> Result<(), AuthError> {
        if self.enabled && name == ROOT_ROLE {
            return Err(AuthError::InvalidAuthMgmt);
        }
        if self.roles.remove(name).is_none() {
            return Err(AuthError::RoleNotFound);
        }
        self.ops.push(BackendOp::DeleteAuthRole(name.to_string()));
        let holders: Vec<String> = self
            .users
            .iter()
            .filter(|(_, u)| u.roles.iter().any(|r| r == name))
            .map(|(n, _)| n.clone())
            .collect();
        for n in holders {
            let mut u = self.users[&n].clone();
            u.roles.retain(|r| r != name);
            self.put_user(&n, u);
        }
        self.commit_revision();
        Ok(())
    }

    /// `RoleGrantPermission`: a permission on the same key and range end
    /// changes type; another is added, the list kept sorted by key.
    pub fn role_grant_permission(
        &mut self,
        name: &str,
        perm: Option<&Permission>,
    ) -> Result<(), AuthError> {
        let perm = perm.ok_or(AuthError::PermissionNotGiven)?;
        if !perms::is_valid_range(&perm.key, &perm.range_end) {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let mut r = self.roles.get(name).ok_or(AuthError::RoleNotFound)?.clone();
        let at = r.key_permission.partition_point(|p| p.key < perm.key);
        match r.key_permission.get_mut(at) {
            Some(p) if p.key == perm.key && p.range_end == perm.range_end => {
                p.perm_type = perm.perm_type
            }
            _ => {
                r.key_permission.push(perm.clone());
                // Go's sort.Sort is not stable; a stable sort by key gives
                // the same order for the keys etcd's tests use.
                r.key_permission.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        self.put_role(name, r);
        self.commit_revision();
        Ok(())
    }

    pub fn role_revoke_permission(
        &mut self,
        name: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        let mut r = self.roles.get(name).ok_or(AuthError::RoleNotFound)?.clone();
        let before = r.key_permission.len();
        r.key_permission
            .retain(|p| !(p.key == key && p.range_end == range_end));
        if r.key_permission.len() == before {
            return Err(AuthError::PermissionNotGranted);
        }
        self.put_role(name, r);
        self.commit_revision();
        Ok(())
    }

    // ------------------------------------------------------------------ checks

    /// The user of a request's token, at the current revision (etcd's
    /// `AuthInfoFromCtx`): `None` when auth is off or there is no token.
    pub fn auth_info(
        &self,
        token: Option<&str>,
        now: Duration,
    ) -> Result<Option<AuthInfo>, AuthError> {
        if !self.enabled {
            return Ok(None);
        }
        let Some(token) = token else {
            return Ok(None);
        };
        // A JWT names the revision it was issued at (so it goes old with
        // any auth change); a simple token is always at the current one.
        #[cfg(not(madsim))]
        if let Some(jwt) = &self.jwt {
            let (username, revision) = jwt.info(token).ok_or(AuthError::InvalidAuthToken)?;
            return Ok(Some(AuthInfo { username, revision }));
        }
        match self.tokens.user(token, now) {
            Some(username) => Ok(Some(AuthInfo {
                username,
                revision: self.revision,
            })),
            None => Err(AuthError::InvalidAuthToken),
        }
    }

    fn is_op_permitted(
        &self,
        ai: &AuthInfo,
        key: &[u8],
        range_end: &[u8],
        write: bool,
    ) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        if ai.revision == 0 {
            return Err(AuthError::UserEmpty);
        }
        if ai.revision < self.revision {
            return Err(AuthError::AuthOldRevision);
        }
        let user = self
            .users
            .get(&ai.username)
            .ok_or(AuthError::PermissionDenied)?;
        if has_root_role(user) {
            return Ok(());
        }
        let granted = user
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|r| r.key_permission.iter())
            .filter(|p| perms::grants(p, write));
        let decide = || perms::covers(granted, key, range_end);
        let permitted = if crate::bugs::active(crate::bugs::Bug::StalePermCache) {
            let k = (ai.username.clone(), key.to_vec(), range_end.to_vec(), write);
            let mut cache = self.stale_cache.lock().unwrap_or_else(|e| e.into_inner());
            *cache.entry(k).or_insert_with(decide)
        } else {
            decide()
        };
        if permitted {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied)
        }
    }

    /// May `ai` read `[key, range_end)` (a single key when `range_end` is empty)?
    pub fn is_range_permitted(
        &self,
        ai: &AuthInfo,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        self.is_op_permitted(ai, key, range_end, false)
    }

    /// [`Self::is_range_permitted`] for a read checked under the lock it
    /// reads with: the caller (`None`: no user) at the current revision, so
    /// only its permissions decide, never a revision gone old meanwhile.
    pub fn is_range_permitted_now(
        &self,
        ai: Option<&AuthInfo>,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        let who = ai.map_or_else(AuthInfo::default, |ai| AuthInfo {
            username: ai.username.clone(),
            revision: self.revision,
        });
        self.is_range_permitted(&who, key, range_end)
    }

    pub fn is_put_permitted(&self, ai: &AuthInfo, key: &[u8]) -> Result<(), AuthError> {
        self.is_op_permitted(ai, key, &[], true)
    }

    pub fn is_delete_range_permitted(
        &self,
        ai: &AuthInfo,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), AuthError> {
        self.is_op_permitted(ai, key, range_end, true)
    }

    fn forget_cached(&self, user: &str) {
        if crate::bugs::active(crate::bugs::Bug::StalePermCache) {
            let mut cache = self.stale_cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.retain(|k, _| k.0 != user);
        }
    }

    /// Only a user with the root role (etcd's `IsAdminPermitted`).
    pub fn is_admin_permitted(&self, ai: Option<&AuthInfo>) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        let ai = ai
            .filter(|ai| !ai.username.is_empty())
            .ok_or(AuthError::UserEmpty)?;
        let u = self
            .users
            .get(&ai.username)
            .ok_or(AuthError::UserNotFound)?;
        if has_root_role(u) {
            Ok(())
        } else {
            Err(AuthError::PermissionDenied)
        }
    }

    /// Whether `user` holds `role` (a user may read its own roles).
    pub fn has_role(&self, user: &str, role: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| u.roles.iter().any(|r| r == role))
    }

    /// A token for `user` (applying `Authenticate`): a JWT at the current
    /// revision, or the simple token `prefix.index`.
    pub fn assign_token(
        &mut self,
        prefix: &str,
        index: u64,
        user: &str,
        now: Duration,
    ) -> Result<String, AuthError> {
        #[cfg(not(madsim))]
        if let Some(jwt) = &self.jwt {
            return jwt.assign(user, self.revision);
        }
        Ok(self.tokens.assign(prefix, index, user, now))
    }

    /// The stored bcrypt hash to check a password against, and the revision
    /// it was read at (etcd's `CheckPassword`, minus the bcrypt work).
    pub fn password_of(&self, name: &str) -> Result<(String, u64), AuthError> {
        if !self.enabled {
            return Err(AuthError::AuthNotEnabled);
        }
        let u = self.users.get(name).ok_or(AuthError::AuthFailed)?;
        if u.options.as_ref().is_some_and(|o| o.no_password) {
            // Not `AuthFailed`: etcd's `CheckPassword` says why.
            return Err(AuthError::NoPasswordUser);
        }
        Ok((
            String::from_utf8_lossy(&u.password).into_owned(),
            self.revision,
        ))
    }
}

fn has_root_role(u: &User) -> bool {
    u.roles.iter().any(|r| r == ROOT_ROLE)
}

/// A bcrypt hash of `password` at `cost`, salted from the runtime seam's
/// RNG (so a simulation seed replays it), in Go's `$2a$` form.
pub fn hash_password(password: &str, cost: u32) -> String {
    let mut salt = [0u8; 16];
    for chunk in salt.chunks_mut(8) {
        let r = crate::rt::rand::gen_range(0..u64::MAX).to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    let cost = cost.clamp(BCRYPT_COST_MIN, BCRYPT_COST_MAX);
    bcrypt::hash_with_salt(password, cost, salt)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        .expect("cost is within bcrypt's bounds")
}

/// Whether `password` matches a bcrypt `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// The `perm_type` of a permission, by etcdctl's name.
pub fn perm_type_name(t: i32) -> &'static str {
    match permission::Type::try_from(t) {
        Ok(permission::Type::Read) => "READ",
        Ok(permission::Type::Write) => "WRITE",
        _ => "READWRITE",
    }
}

#[cfg(test)]
mod tests;
