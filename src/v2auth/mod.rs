//! etcd 3.4's v2 auth (`etcdserver/api/v2auth`, and the handlers of
//! `v2http/client_auth.go`): users with bcrypt passwords and roles, roles
//! with path globs they may read and write, the built-in `root` role, the
//! `guest` role of requests without credentials, and the enabled flag.
//!
//! Nothing here has a table of its own: everything is a JSON value in the
//! v2 store, as etcd keeps it,
//!
//! ```text
//! /2/enabled        true | false
//! /2/users/alice    {"user":"alice","password":"$2a$10$…","roles":["rw"]}
//! /2/roles/rw       {"role":"rw","permissions":{"kv":{"read":["/foo/*"],"write":null}}}
//! ```
//!
//! read with v2 GETs on the member and written with v2 PUTs and DELETEs
//! through raft ([`store::Doer`], etcd's `server.Do`). The first write
//! creates `/2`, `/2/users/`, `/2/roles/` and `/2/enabled`, so a fresh
//! member's v2 index moves exactly as etcd's does.
//!
//! Enforcement ([`http`]) is HTTP basic auth on every request: the user's
//! bcrypt hash is checked each time (etcd has no v2 tokens). A `/v2/keys`
//! request needs a role whose glob covers its key (`/foo/*` covers
//! `/foo/bar`; a recursive request needs a `…*` glob covering the key);
//! without credentials the `guest` role's globs apply; the management
//! endpoints need the `root` role. While auth is disabled everything is
//! allowed.
//!
//! Split as etcd splits it: [`types`] (pure: merges, globs, JSON),
//! [`store`] (the store calls), [`http`] (handlers and checks, over any
//! [`store::Doer`], so the unit tests run them on an in-memory v2 store).

pub mod http;
pub mod store;
pub mod types;

pub use http::{has_key_prefix_access, has_write_root_access, serve};
pub use store::{Doer, Store};
pub use types::{Permissions, RWPermission, Role, User};

use crate::v2store::V2Error;

/// etcd's `StorePermsPrefix`: the v2 store directory of the auth data.
pub const STORE_PERMS_PREFIX: &str = "/2";
/// The role with every permission, and management rights.
pub const ROOT_ROLE: &str = "root";
/// The role of a request without credentials.
pub const GUEST_ROLE: &str = "guest";

/// What an auth operation failed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// etcd's `v2auth.Error`: an HTTP status and `auth: …`.
    Auth { status: u16, message: String },
    /// The v2 store refused a request (answered as a v2 key error).
    Store(V2Error),
    /// Anything else (a timeout, a broken record): 500.
    Internal(String),
}

/// etcd's `authErr`.
pub(crate) fn auth_err(status: u16, message: impl std::fmt::Display) -> Error {
    Error::Auth {
        status,
        message: format!("auth: {message}"),
    }
}

#[cfg(test)]
mod tests;
