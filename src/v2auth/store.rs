//! etcd's v2auth `store` (`auth.go`, `auth_requests.go`): users, roles and
//! the enabled flag as JSON values under `/2` in the v2 store, read and
//! written by v2 requests through a [`Doer`] (etcd's `server.Do`): a
//! plain GET is answered by the member, a quorum GET (`QGET`), PUT and
//! DELETE go through raft. So the auth data is replicated, persisted and
//! snapshotted with the v2 store, and moves its index as on etcd.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use super::types::{default_guest_role, root_role, Role, User};
use super::{auth_err, Error, GUEST_ROLE, ROOT_ROLE, STORE_PERMS_PREFIX};
use crate::pb::etcdserverpb::Request;
use crate::v2store::{Event, ECODE_KEY_NOT_FOUND, ECODE_NODE_EXIST};

/// What the auth store needs of its member (etcd's `doer` and
/// `PasswordStore`).
pub trait Doer: Sync {
    /// Runs a v2 request: GET on this member, anything else through raft.
    fn do_request(&self, r: Request) -> impl Future<Output = Result<Event, Error>> + Send;
    /// A bcrypt hash of `password`.
    fn hash_password(&self, password: String)
        -> impl Future<Output = Result<String, Error>> + Send;
    /// Whether `password` matches the bcrypt `hash`.
    fn check_password(&self, hash: String, password: String) -> impl Future<Output = bool> + Send;
    /// etcd's `ensuredOnce`: whether this member has made sure `/2`,
    /// `/2/users/`, `/2/roles/` and `/2/enabled` exist.
    fn ensured_once(&self) -> &AtomicBool;
}

/// etcd's `v2auth.Store` over a [`Doer`].
pub struct Store<'a, D> {
    server: &'a D,
}

fn is_code(e: &Error, code: crate::v2store::ErrorCode) -> bool {
    matches!(e, Error::Store(v) if v.code == code)
}

impl<'a, D: Doer> Store<'a, D> {
    pub fn new(server: &'a D) -> Self {
        Store { server }
    }

    pub async fn check_password(&self, user: &User, password: &str) -> bool {
        self.server
            .check_password(user.password.clone(), password.to_string())
            .await
    }

    pub async fn all_users(&self) -> Result<Vec<String>, Error> {
        self.children("/users/").await
    }

    /// The names listed under `/2/<dir>`, sorted.
    async fn children(&self, dir: &str) -> Result<Vec<String>, Error> {
        let e = match self.request_resource(dir, false).await {
            Ok(e) => e,
            Err(e) if is_code(&e, ECODE_KEY_NOT_FOUND) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names: Vec<String> = e
            .node
            .iter()
            .flat_map(|n| &n.nodes)
            .map(|n| n.key.rsplit('/').next().unwrap_or_default().to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    pub async fn get_user(&self, name: &str) -> Result<User, Error> {
        self.get_user_q(name, false).await
    }

    async fn get_user_q(&self, name: &str, quorum: bool) -> Result<User, Error> {
        let e = match self
            .request_resource(&format!("/users/{name}"), quorum)
            .await
        {
            Err(e) if is_code(&e, ECODE_KEY_NOT_FOUND) => {
                return Err(auth_err(404, format!("User {name} does not exist.")))
            }
            r => r?,
        };
        let u = User::from_json(value(&e)?.as_bytes())
            .ok_or_else(|| Error::Internal(format!("invalid user record {name}")))?;
        Ok(if u.user == ROOT_ROLE {
            u.with_root_role()
        } else {
            u
        })
    }

    /// A create, or an update when the user exists (a request with only a
    /// password may mean either). Whether it created.
    pub async fn create_or_update_user(&self, user: User) -> Result<(User, bool), Error> {
        if self.get_user_q(&user.user, true).await.is_ok() {
            return Ok((self.update_user(user).await?, false));
        }
        Ok((self.create_user(user).await?, true))
    }

    pub async fn create_user(&self, user: User) -> Result<User, Error> {
        let mut user = if user.user == ROOT_ROLE {
            user.with_root_role()
        } else {
            user
        };
        if user.password.is_empty() {
            return Err(auth_err(
                400,
                format!("Cannot create user {} with an empty password", user.user),
            ));
        }
        user.password = self.server.hash_password(user.password).await?;
        match self
            .create_resource(&format!("/users/{}", user.user), user.to_json())
            .await
        {
            Err(e) if is_code(&e, ECODE_NODE_EXIST) => {
                Err(auth_err(409, format!("User {} already exists.", user.user)))
            }
            Err(e) => Err(e),
            Ok(_) => {
                tracing::info!(target: "v2auth", user_name = %user.user, "created a user");
                Ok(user)
            }
        }
    }

    pub async fn delete_user(&self, name: &str) -> Result<(), Error> {
        if self.auth_enabled().await && name == ROOT_ROLE {
            return Err(auth_err(
                403,
                "Cannot delete root user while auth is enabled.",
            ));
        }
        match self.delete_resource(&format!("/users/{name}")).await {
            Err(e) if is_code(&e, ECODE_KEY_NOT_FOUND) => {
                Err(auth_err(404, format!("User {name} does not exist")))
            }
            r => {
                r?;
                tracing::info!(target: "v2auth", user_name = %name, "deleted a user");
                Ok(())
            }
        }
    }

    pub async fn update_user(&self, user: User) -> Result<User, Error> {
        // (etcd means to answer "User … doesn't exist." here, but its
        // check looks for a store error where getUser already made an auth
        // one: the answer is getUser's "does not exist.")
        let old = self.get_user_q(&user.user, true).await?;
        let hash = match user.password.as_str() {
            "" => None,
            p => Some(self.server.hash_password(p.to_string()).await?),
        };
        let new = old.merge(&user, hash)?;
        if new == old {
            return Err(auth_err(
                400,
                "User not updated. Use grant/revoke/password to update the user.",
            ));
        }
        self.update_resource(&format!("/users/{}", user.user), new.to_json())
            .await?;
        tracing::info!(target: "v2auth", user_name = %user.user, "updated a user");
        Ok(new)
    }

    /// Every role's name, `root` included, sorted.
    pub async fn all_roles(&self) -> Result<Vec<String>, Error> {
        let mut names = self.children("/roles/").await?;
        names.push(ROOT_ROLE.to_string());
        names.sort();
        Ok(names)
    }

    pub async fn get_role(&self, name: &str) -> Result<Role, Error> {
        self.get_role_q(name, false).await
    }

    async fn get_role_q(&self, name: &str, quorum: bool) -> Result<Role, Error> {
        if name == ROOT_ROLE {
            return Ok(root_role());
        }
        let e = match self
            .request_resource(&format!("/roles/{name}"), quorum)
            .await
        {
            Err(e) if is_code(&e, ECODE_KEY_NOT_FOUND) => {
                return Err(auth_err(404, format!("Role {name} does not exist.")))
            }
            r => r?,
        };
        Role::from_json(value(&e)?.as_bytes())
            .ok_or_else(|| Error::Internal(format!("invalid role record {name}")))
    }

    pub async fn create_role(&self, role: &Role) -> Result<(), Error> {
        if role.role == ROOT_ROLE {
            return Err(root_is_fixed(&role.role));
        }
        match self
            .create_resource(&format!("/roles/{}", role.role), role.to_json())
            .await
        {
            Err(e) if is_code(&e, ECODE_NODE_EXIST) => {
                Err(auth_err(409, format!("Role {} already exists.", role.role)))
            }
            r => {
                r?;
                tracing::info!(target: "v2auth", role_name = %role.role, "created a new role");
                Ok(())
            }
        }
    }

    pub async fn delete_role(&self, name: &str) -> Result<(), Error> {
        if name == ROOT_ROLE {
            return Err(root_is_fixed(name));
        }
        match self.delete_resource(&format!("/roles/{name}")).await {
            Err(e) if is_code(&e, ECODE_KEY_NOT_FOUND) => {
                Err(auth_err(404, format!("Role {name} doesn't exist.")))
            }
            r => {
                r?;
                tracing::info!(target: "v2auth", role_name = %name, "deleted a role");
                Ok(())
            }
        }
    }

    pub async fn update_role(&self, role: &Role) -> Result<Role, Error> {
        if role.role == ROOT_ROLE {
            return Err(root_is_fixed(&role.role));
        }
        // getRole's "does not exist.", as in update_user.
        let old = self.get_role_q(&role.role, true).await?;
        let new = old.merge(role)?;
        if new == old {
            return Err(auth_err(
                400,
                "Role not updated. Use grant/revoke to update the role.",
            ));
        }
        self.update_resource(&format!("/roles/{}", role.role), new.to_json())
            .await?;
        tracing::info!(target: "v2auth", role_name = %role.role, "updated a role");
        Ok(new)
    }

    /// etcd's `detectAuth`: `/2/enabled` read on this member; anything but
    /// a stored `true` is off.
    pub async fn auth_enabled(&self) -> bool {
        match self.request_resource("/enabled", false).await {
            Ok(e) => value(&e).is_ok_and(|v| {
                serde_json::from_str::<bool>(&v).unwrap_or_else(|e| {
                    tracing::warn!(target: "v2auth", "internal bookkeeping value for enabled isn't valid JSON: {e}");
                    false
                })
            }),
            Err(e) => {
                if !is_code(&e, ECODE_KEY_NOT_FOUND) {
                    tracing::warn!(target: "v2auth", "failed to detect auth settings: {e:?}");
                }
                false
            }
        }
    }

    /// Needs a root user; creates the default `guest` role (everything)
    /// when there is none.
    pub async fn enable_auth(&self) -> Result<(), Error> {
        if self.auth_enabled().await {
            return Err(auth_err(409, "already enabled"));
        }
        if self.get_user_q(ROOT_ROLE, true).await.is_err() {
            return Err(auth_err(409, "No root user available, please create one"));
        }
        if self.get_role_q(GUEST_ROLE, true).await.is_err() {
            tracing::info!(target: "v2auth", "no guest role access found; creating default");
            self.create_role(&default_guest_role()).await?;
        }
        self.update_resource("/enabled", "true".to_string()).await?;
        tracing::info!(target: "v2auth", "enabled auth");
        Ok(())
    }

    pub async fn disable_auth(&self) -> Result<(), Error> {
        if !self.auth_enabled().await {
            return Err(auth_err(409, "already disabled"));
        }
        self.update_resource("/enabled", "false".to_string())
            .await?;
        tracing::info!(target: "v2auth", "disabled auth");
        Ok(())
    }

    // ---- auth_requests.go ----

    /// Creates the directories and the flag once per member (later tries
    /// find them: a failed create, as on etcd).
    async fn ensure_auth_directories(&self) -> Result<(), Error> {
        if self.server.ensured_once().load(Ordering::Acquire) {
            return Ok(());
        }
        let dirs = ["", "/users/", "/roles/"];
        for res in dirs {
            let r = Request {
                method: "PUT".to_string(),
                path: format!("{STORE_PERMS_PREFIX}{res}"),
                dir: true,
                prev_exist: Some(false),
                ..Default::default()
            };
            match self.server.do_request(r).await {
                Err(e) if is_code(&e, ECODE_NODE_EXIST) => continue,
                Err(e) => {
                    tracing::warn!(target: "v2auth", "failed to create auth directories: {e:?}");
                    return Err(e);
                }
                Ok(_) => {}
            }
        }
        let r = Request {
            method: "PUT".to_string(),
            path: format!("{STORE_PERMS_PREFIX}/enabled"),
            val: "false".to_string(),
            prev_exist: Some(false),
            ..Default::default()
        };
        match self.server.do_request(r).await {
            Err(e) if !is_code(&e, ECODE_NODE_EXIST) => return Err(e),
            _ => {}
        }
        self.server.ensured_once().store(true, Ordering::Release);
        Ok(())
    }

    async fn request_resource(&self, res: &str, quorum: bool) -> Result<Event, Error> {
        self.server
            .do_request(Request {
                method: if quorum { "QGET" } else { "GET" }.to_string(),
                path: resource_path(res),
                ..Default::default()
            })
            .await
    }

    async fn update_resource(&self, res: &str, json: String) -> Result<Event, Error> {
        self.set_resource(res, json, true).await
    }

    async fn create_resource(&self, res: &str, json: String) -> Result<Event, Error> {
        self.set_resource(res, json, false).await
    }

    async fn set_resource(
        &self,
        res: &str,
        json: String,
        prev_exist: bool,
    ) -> Result<Event, Error> {
        self.ensure_auth_directories().await?;
        self.server
            .do_request(Request {
                method: "PUT".to_string(),
                path: resource_path(res),
                val: json,
                prev_exist: Some(prev_exist),
                ..Default::default()
            })
            .await
    }

    async fn delete_resource(&self, res: &str) -> Result<(), Error> {
        self.ensure_auth_directories().await?;
        self.server
            .do_request(Request {
                method: "DELETE".to_string(),
                path: resource_path(res),
                prev_exist: Some(true),
                ..Default::default()
            })
            .await
            .map(drop)
    }
}

/// `path.Join("/2", res)`.
fn resource_path(res: &str) -> String {
    crate::v2store::clean_path(&format!("{STORE_PERMS_PREFIX}/{res}"))
}

fn root_is_fixed(name: &str) -> Error {
    auth_err(403, format!("Cannot modify role {name}: is root role."))
}

/// A stored record's value (a directory has none).
fn value(e: &Event) -> Result<String, Error> {
    e.node
        .as_ref()
        .and_then(|n| n.value.clone())
        .ok_or_else(|| Error::Internal("an auth record is a directory".to_string()))
}
