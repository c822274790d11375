//! etcd's `v2http/client_auth.go`: the `/v2/auth/...` handlers and the
//! checks the keys and members handlers make (`hasKeyPrefixAccess`,
//! `hasGuestAccess`, `hasRootAccess`, `hasWriteRootAccess`), over plain
//! HTTP values and a [`Doer`].
//!
//! Where etcd's handler has set its headers before an error, the error
//! carries them too (`X-Etcd-Cluster-Id`); a 405 or a 401 comes before
//! them and does not.

use super::store::{Doer, Store};
use super::types::{Role, User};
use super::{Error, ROOT_ROLE};
use crate::v2http::{self, http_error, method_not_allowed, HttpRequest, HttpResponse};

const AUTH_PREFIX: &str = "/v2/auth";
const JSON: &str = "application/json";

/// An answer to `/v2/auth/roles`, `/v2/auth/roles/…`, `/v2/auth/users`,
/// `/v2/auth/users/…` or `/v2/auth/enable` (the paths
/// [`v2http::route`] sends here).
pub async fn serve<D: Doer>(server: &D, req: &HttpRequest, cluster_id: u64) -> HttpResponse {
    let sec = Store::new(server);
    let path = v2http::decoded_path(req);
    let sub = crate::v2store::clean_path(path.strip_prefix(AUTH_PREFIX).unwrap_or(&path));
    let pieces: Vec<&str> = sub.split('/').collect();
    let h = Handler {
        sec,
        req,
        cluster_id,
    };
    match (pieces.get(1).copied(), pieces.len()) {
        (Some("enable"), _) => h.enable_disable().await,
        (Some("roles"), 2) => h.base_roles().await,
        (Some("users"), 2) => h.base_users().await,
        (Some("roles" | "users"), n) if n != 3 => http_error(400, "Invalid path"),
        (Some("roles"), _) => h.for_role(pieces[2]).await,
        (Some("users"), _) => h.for_user(pieces[2]).await,
        _ => v2http::not_found(),
    }
}

struct Handler<'a, D> {
    sec: Store<'a, D>,
    req: &'a HttpRequest,
    cluster_id: u64,
}

/// Go's `allowMethod`.
fn allow(req: &HttpRequest, methods: &[&str]) -> Result<(), HttpResponse> {
    if methods.contains(&req.method.as_str()) {
        return Ok(());
    }
    Err(method_not_allowed(methods))
}

/// etcd's `writeNoAuth`.
fn no_auth() -> HttpResponse {
    http_error(401, "Insufficient credentials")
}

impl<D: Doer> Handler<'_, D> {
    /// The headers etcd sets once the caller may proceed.
    fn base(&self, status: u16) -> HttpResponse {
        HttpResponse {
            status,
            ..Default::default()
        }
        .with("X-Etcd-Cluster-Id", format!("{:x}", self.cluster_id))
        .with("Content-Type", JSON)
    }

    /// A JSON body with `json.Encoder`'s newline.
    fn json(&self, status: u16, body: String) -> HttpResponse {
        let mut r = self.base(status);
        r.body = format!("{body}\n").into_bytes();
        r
    }

    /// etcd's `writeError` after the headers were set.
    fn error(&self, e: Error) -> HttpResponse {
        match e {
            Error::Auth { status, message } => {
                let mut r = http_error(status, &message);
                r.headers
                    .push(("X-Etcd-Cluster-Id".into(), format!("{:x}", self.cluster_id)));
                r
            }
            Error::Store(v) => {
                let mut r = self.base(v.status());
                r = r.with("X-Etcd-Index", v.index.to_string());
                r.body = format!("{}\n", v.to_json()).into_bytes();
                r
            }
            Error::Internal(why) => {
                tracing::warn!(target: "v2auth", "unexpected v2 response error: {why}");
                let mut r = http_error(500, "Internal Server Error");
                r.headers
                    .push(("X-Etcd-Cluster-Id".into(), format!("{:x}", self.cluster_id)));
                r
            }
        }
    }

    /// `r.ParseForm()` as the GET handlers call it: a bad query is a 500.
    fn parse_form(&self) -> Result<(), HttpResponse> {
        v2http::parse_form(self.req)
            .map(drop)
            .map_err(|e| self.error(Error::Internal(e)))
    }

    async fn base_roles(&self) -> HttpResponse {
        if let Err(r) = allow(self.req, &["GET"]) {
            return r;
        }
        if !has_root_access(&self.sec, self.req).await {
            return no_auth();
        }
        self.base_roles_body().await.unwrap_or_else(|r| r)
    }

    async fn base_roles_body(&self) -> Result<HttpResponse, HttpResponse> {
        let names = self.sec.all_roles().await.map_err(|e| self.error(e))?;
        self.parse_form()?;
        let mut roles = Vec::new();
        for name in names {
            roles.push(self.sec.get_role(&name).await.map_err(|e| self.error(e))?);
        }
        Ok(self.json(200, collection("roles", roles.iter().map(Role::to_json))))
    }

    async fn for_role(&self, name: &str) -> HttpResponse {
        if let Err(r) = allow(self.req, &["GET", "PUT", "DELETE"]) {
            return r;
        }
        if !has_root_access(&self.sec, self.req).await {
            return no_auth();
        }
        let r = match self.req.method.as_str() {
            "GET" => self
                .sec
                .get_role(name)
                .await
                .map(|role| self.json(200, role.to_json())),
            "PUT" => self.put_role(name).await,
            _ => self.sec.delete_role(name).await.map(|()| self.base(200)),
        };
        r.unwrap_or_else(|e| self.error(e))
    }

    async fn put_role(&self, name: &str) -> Result<HttpResponse, Error> {
        let Some(role) = Role::from_json(&self.req.body) else {
            return Err(request_error("Invalid JSON in request body."));
        };
        if role.role != name {
            return Err(request_error(
                "Role JSON name does not match the name in the URL",
            ));
        }
        let (status, out) = if super::Permissions::is_empty(role.grant.as_ref())
            && super::Permissions::is_empty(role.revoke.as_ref())
        {
            self.sec.create_role(&role).await?;
            (201, role)
        } else {
            if !super::Permissions::is_empty(Some(&role.permissions)) {
                return Err(request_error(
                    "Role JSON contains both permissions and grant/revoke",
                ));
            }
            (200, self.sec.update_role(&role).await?)
        };
        Ok(self.json(status, out.to_json()))
    }

    async fn base_users(&self) -> HttpResponse {
        if let Err(r) = allow(self.req, &["GET"]) {
            return r;
        }
        if !has_root_access(&self.sec, self.req).await {
            return no_auth();
        }
        self.base_users_body().await.unwrap_or_else(|r| r)
    }

    async fn base_users_body(&self) -> Result<HttpResponse, HttpResponse> {
        let names = self.sec.all_users().await.map_err(|e| self.error(e))?;
        self.parse_form()?;
        let mut users = Vec::new();
        for name in names {
            let user = self.sec.get_user(&name).await.map_err(|e| self.error(e))?;
            let mut roles = Vec::new();
            for r in user.roles.iter().flatten() {
                // A role deleted since it was granted is left out.
                if let Ok(role) = self.sec.get_role(r).await {
                    roles.push(role);
                }
            }
            users.push(user_with_roles(&user, &roles));
        }
        Ok(self.json(200, collection("users", users.into_iter())))
    }

    async fn for_user(&self, name: &str) -> HttpResponse {
        if let Err(r) = allow(self.req, &["GET", "PUT", "DELETE"]) {
            return r;
        }
        if !has_root_access(&self.sec, self.req).await {
            return no_auth();
        }
        match self.req.method.as_str() {
            "GET" => self.get_user(name).await.unwrap_or_else(|r| r),
            "PUT" => self.put_user(name).await.unwrap_or_else(|e| self.error(e)),
            _ => match self.sec.delete_user(name).await {
                Ok(()) => self.base(200),
                Err(e) => self.error(e),
            },
        }
    }

    async fn get_user(&self, name: &str) -> Result<HttpResponse, HttpResponse> {
        let user = self.sec.get_user(name).await.map_err(|e| self.error(e))?;
        self.parse_form()?;
        let mut roles = Vec::new();
        for r in user.roles.iter().flatten() {
            roles.push(self.sec.get_role(r).await.map_err(|e| self.error(e))?);
        }
        Ok(self.json(200, user_with_roles(&user, &roles)))
    }

    async fn put_user(&self, name: &str) -> Result<HttpResponse, Error> {
        let Some(user) = User::from_json(&self.req.body) else {
            return Err(request_error("Invalid JSON in request body."));
        };
        if user.user != name {
            return Err(request_error(
                "User JSON name does not match the name in the URL",
            ));
        }
        let has_roles = user.roles.as_ref().is_some_and(|r| !r.is_empty());
        let (mut out, created) = if user.grant.is_empty() && user.revoke.is_empty() {
            if has_roles {
                // Given roles, it is a create (answered 200, as etcd does).
                (self.sec.create_user(user).await?, false)
            } else {
                // A password alone: a create or an update.
                self.sec.create_or_update_user(user).await?
            }
        } else {
            if has_roles {
                return Err(request_error(
                    "User JSON contains both roles and grant/revoke",
                ));
            }
            (self.sec.update_user(user).await?, false)
        };
        out.password.clear();
        Ok(self.json(if created { 201 } else { 200 }, out.to_json()))
    }

    async fn enable_disable(&self) -> HttpResponse {
        if let Err(r) = allow(self.req, &["GET", "PUT", "DELETE"]) {
            return r;
        }
        if writes(self.req) && !has_root_access(&self.sec, self.req).await {
            return no_auth();
        }
        let enabled = self.sec.auth_enabled().await;
        let r = match self.req.method.as_str() {
            "GET" => Ok(self.json(200, format!("{{\"enabled\":{enabled}}}"))),
            "PUT" => self.sec.enable_auth().await.map(|()| self.base(200)),
            _ => self.sec.disable_auth().await.map(|()| self.base(200)),
        };
        r.unwrap_or_else(|e| self.error(e))
    }
}

/// A 400 of the handler's own (etcd's `httptypes.HTTPError`).
fn request_error(message: &str) -> Error {
    Error::Auth {
        status: 400,
        message: message.to_string(),
    }
}

/// `{"<name>":[…]}`, `null` when empty (Go's nil slice).
fn collection(name: &str, items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let list = if items.is_empty() {
        "null".to_string()
    } else {
        format!("[{}]", items.join(","))
    };
    format!("{{\"{name}\":{list}}}")
}

/// etcd's `userWithRoles`: the user's name and its roles in full
/// (`roles` left out when there are none).
fn user_with_roles(user: &User, roles: &[Role]) -> String {
    let mut out = String::from("{");
    crate::v2store::json::push_key(&mut out, "user");
    crate::v2store::json::push_str(&mut out, &user.user);
    if !roles.is_empty() {
        out.push_str(",\"roles\":[");
        let roles: Vec<String> = roles.iter().map(Role::to_json).collect();
        out.push_str(&roles.join(","));
        out.push(']');
    }
    out.push('}');
    out
}

// ---- The checks ----

/// Go's `Request.BasicAuth`: `Basic ` (any case) and base64 of
/// `user:password`.
pub fn basic_auth(header: &str) -> Option<(String, String)> {
    const PREFIX: &str = "Basic ";
    let head = header.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let decoded = std_base64(&header[PREFIX.len()..])?;
    let s = String::from_utf8_lossy(&decoded);
    let (user, password) = s.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Go's `base64.StdEncoding.DecodeString`: padded, CR and LF skipped,
/// stray bits after the last byte allowed.
fn std_base64(s: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let chars: Vec<u8> = s.bytes().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    if !chars.len().is_multiple_of(4) {
        return None;
    }
    let quads = chars.len() / 4;
    let mut out = Vec::with_capacity(quads * 3);
    for (i, q) in chars.chunks(4).enumerate() {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | sextet(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

fn authorization(req: &HttpRequest) -> &str {
    req.header("Authorization").unwrap_or("")
}

fn writes(req: &HttpRequest) -> bool {
    !matches!(req.method.as_str(), "GET" | "HEAD")
}

/// etcd's `userFromBasicAuth`: the user, if the credentials name one and
/// its password matches (a bcrypt check on every request).
async fn user_from_basic_auth<D: Doer>(sec: &Store<'_, D>, req: &HttpRequest) -> Option<User> {
    let Some((name, password)) = basic_auth(authorization(req)) else {
        tracing::warn!(target: "v2auth", "malformed basic auth encoding");
        return None;
    };
    let user = sec.get_user(&name).await.ok()?;
    if !sec.check_password(&user, &password).await {
        tracing::warn!(target: "v2auth", user_name = %name, "incorrect password");
        return None;
    }
    Some(user)
}

/// etcd's `hasRootAccess`: auth is off, or the credentials are a user
/// with the root role.
async fn has_root_access<D: Doer>(sec: &Store<'_, D>, req: &HttpRequest) -> bool {
    if !sec.auth_enabled().await {
        return true;
    }
    let Some(user) = user_from_basic_auth(sec, req).await else {
        return false;
    };
    if user.has_role(ROOT_ROLE) {
        return true;
    }
    tracing::warn!(target: "v2auth", user_name = %user.user, path = %req.path, "a user does not have root role for resource");
    false
}

/// etcd's `hasWriteRootAccess`: reads are free, changes need root.
pub async fn has_write_root_access<D: Doer>(server: &D, req: &HttpRequest) -> bool {
    if !writes(req) {
        return true;
    }
    has_root_access(&Store::new(server), req).await
}

/// etcd's `hasKeyPrefixAccess` for a `/v2/keys` request on `key` (the path
/// after `/v2/keys`): with credentials, some role of the user must cover
/// the key (with a prefix glob if `recursive`); without, the guest role.
pub async fn has_key_prefix_access<D: Doer>(
    server: &D,
    req: &HttpRequest,
    key: &str,
    recursive: bool,
) -> bool {
    let sec = Store::new(server);
    if !sec.auth_enabled().await {
        return true;
    }
    if authorization(req).is_empty() {
        return has_guest_access(&sec, req, key).await;
    }
    let Some(user) = user_from_basic_auth(&sec, req).await else {
        return false;
    };
    let write = writes(req);
    for name in user.roles.iter().flatten() {
        let Ok(role) = sec.get_role(name).await else {
            continue;
        };
        let ok = if recursive {
            role.has_recursive_access(key, write)
        } else {
            role.has_key_access(key, write)
        };
        if ok {
            return true;
        }
    }
    tracing::warn!(target: "v2auth", user_name = %user.user, key, "invalid access for user on key");
    false
}

/// etcd's `hasGuestAccess` (never recursive: etcd checks the key alone).
async fn has_guest_access<D: Doer>(sec: &Store<'_, D>, req: &HttpRequest, key: &str) -> bool {
    let Ok(role) = sec.get_role(super::GUEST_ROLE).await else {
        return false;
    };
    if role.has_key_access(key, writes(req)) {
        return true;
    }
    tracing::warn!(target: "v2auth", key, "invalid access for unauthenticated user on resource");
    false
}
