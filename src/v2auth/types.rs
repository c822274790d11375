//! Users, roles and permissions (etcd's `User`, `Role`, `Permissions`,
//! `RWPermission`), their merges, the glob checks, and their JSON as Go's
//! `encoding/json` reads and writes it.
//!
//! Go tells a nil slice (`null`) from an empty one (`[]`), and etcd's
//! "not updated" check is `reflect.DeepEqual`, which does too: a role
//! created without write permissions stores `"write":null`, and any grant or
//! revoke rewrites it as `[]` — so even revoking a permission it never had
//! changes the role. The `Option<Vec<_>>` fields keep that difference, and
//! the derived `PartialEq` is `DeepEqual`.

use serde_json::{Map, Value};

use super::{auth_err, Error, ROOT_ROLE};
use crate::v2store::json::{push_key, push_str, push_str_list};

/// A v2 user. `password` is the bcrypt hash once stored (a request carries
/// the plain password in it); `grant`/`revoke` only ever come in requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub user: String,
    pub password: String,
    pub roles: Option<Vec<String>>,
    pub grant: Vec<String>,
    pub revoke: Vec<String>,
}

/// A v2 role: path globs it may read and write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Role {
    pub role: String,
    pub permissions: Permissions,
    pub grant: Option<Permissions>,
    pub revoke: Option<Permissions>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub kv: RWPermission,
}

/// Path globs: `/foo` is that key alone, `/foo*` every key it prefixes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RWPermission {
    pub read: Option<Vec<String>>,
    pub write: Option<Vec<String>>,
}

/// etcd's built-in `root` role (never stored).
pub fn root_role() -> Role {
    Role {
        role: ROOT_ROLE.to_string(),
        permissions: Permissions::all(),
        ..Default::default()
    }
}

/// The `guest` role `auth enable` creates when there is none.
pub fn default_guest_role() -> Role {
    Role {
        role: super::GUEST_ROLE.to_string(),
        permissions: Permissions::all(),
        ..Default::default()
    }
}

impl Permissions {
    fn all() -> Permissions {
        Permissions {
            kv: RWPermission {
                read: Some(vec!["/*".to_string()]),
                write: Some(vec!["/*".to_string()]),
            },
        }
    }

    /// etcd's `IsEmpty` (of a possibly nil pointer).
    pub fn is_empty(p: Option<&Permissions>) -> bool {
        p.is_none_or(|p| len(&p.kv.read) == 0 && len(&p.kv.write) == 0)
    }
}

fn len(v: &Option<Vec<String>>) -> usize {
    v.as_ref().map_or(0, Vec::len)
}

/// etcd's `types.NewUnsafeSet(..).Values()` sorted: deduplicated, sorted,
/// and never nil.
fn sorted_set(v: Vec<String>) -> Option<Vec<String>> {
    let mut v = v;
    v.sort();
    v.dedup();
    Some(v)
}

impl RWPermission {
    fn grant(&self, n: &RWPermission) -> Result<RWPermission, Error> {
        let add = |cur: &Option<Vec<String>>, new: &Option<Vec<String>>, what: &str| {
            let mut set = cur.clone().unwrap_or_default();
            set.sort();
            set.dedup();
            for p in new.iter().flatten() {
                if set.contains(p) {
                    return Err(auth_err(
                        409,
                        format!("Granting duplicate {what} permission {p}"),
                    ));
                }
                set.push(p.clone());
            }
            Ok(sorted_set(set))
        };
        Ok(RWPermission {
            read: add(&self.read, &n.read, "read")?,
            write: add(&self.write, &n.write, "write")?,
        })
    }

    /// Revoking what was never granted is no error (etcd logs it).
    fn revoke(&self, n: &RWPermission) -> RWPermission {
        let remove = |cur: &Option<Vec<String>>, gone: &Option<Vec<String>>| {
            let mut set = cur.clone().unwrap_or_default();
            set.retain(|p| !gone.iter().flatten().any(|g| g == p));
            sorted_set(set)
        };
        RWPermission {
            read: remove(&self.read, &n.read),
            write: remove(&self.write, &n.write),
        }
    }

    fn list(&self, write: bool) -> &[String] {
        let l = if write { &self.write } else { &self.read };
        l.as_deref().unwrap_or_default()
    }

    /// etcd's `HasAccess`: some glob matches the key.
    pub fn has_access(&self, key: &str, write: bool) -> bool {
        self.list(write).iter().any(|p| simple_match(p, key))
    }

    /// etcd's `HasRecursiveAccess`: some prefix glob (`…*`) covers the key
    /// and so everything under it; an exact path never does.
    pub fn has_recursive_access(&self, key: &str, write: bool) -> bool {
        self.list(write).iter().any(|p| prefix_match(p, key))
    }
}

/// etcd's `simpleMatch`. (An empty pattern panics etcd's handler; here it
/// matches nothing.)
pub fn simple_match(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => !pattern.is_empty() && key == pattern,
    }
}

/// etcd's `prefixMatch`.
pub fn prefix_match(pattern: &str, key: &str) -> bool {
    pattern
        .strip_suffix('*')
        .is_some_and(|prefix| key.starts_with(prefix))
}

impl Role {
    pub fn has_key_access(&self, key: &str, write: bool) -> bool {
        self.role == ROOT_ROLE || self.permissions.kv.has_access(key, write)
    }

    pub fn has_recursive_access(&self, key: &str, write: bool) -> bool {
        self.role == ROOT_ROLE || self.permissions.kv.has_recursive_access(key, write)
    }

    /// etcd's `Role.merge`: the grants, then the revokes, applied to this
    /// role; the result has no grant or revoke of its own.
    pub fn merge(&self, n: &Role) -> Result<Role, Error> {
        if self.role != n.role {
            return Err(auth_err(
                409,
                format!(
                    "Merging role with conflicting names: {} {}",
                    self.role, n.role
                ),
            ));
        }
        let mut kv = self.permissions.kv.clone();
        if let Some(g) = &n.grant {
            kv = kv.grant(&g.kv)?;
        }
        if let Some(r) = &n.revoke {
            kv = kv.revoke(&r.kv);
        }
        Ok(Role {
            role: self.role.clone(),
            permissions: Permissions { kv },
            grant: None,
            revoke: None,
        })
    }
}

impl User {
    /// etcd's `User.merge`: `password_hash` is the new password's hash
    /// when the request set one (the caller hashes it: bcrypt is slow and
    /// this is pure). Granting a role the user has, or revoking one it
    /// has not, is a conflict.
    pub fn merge(&self, n: &User, password_hash: Option<String>) -> Result<User, Error> {
        if self.user != n.user {
            return Err(auth_err(
                409,
                format!(
                    "Merging user data with conflicting usernames: {} {}",
                    self.user, n.user
                ),
            ));
        }
        let mut roles = self.roles.clone().unwrap_or_default();
        roles.sort();
        roles.dedup();
        for g in &n.grant {
            if roles.contains(g) {
                return Err(auth_err(
                    409,
                    format!("Granting duplicate role {g} for user {}", n.user),
                ));
            }
            roles.push(g.clone());
        }
        for r in &n.revoke {
            let Some(at) = roles.iter().position(|x| x == r) else {
                return Err(auth_err(
                    409,
                    format!("Revoking ungranted role {r} for user {}", n.user),
                ));
            };
            roles.remove(at);
        }
        Ok(User {
            user: self.user.clone(),
            password: password_hash.unwrap_or_else(|| self.password.clone()),
            roles: sorted_set(roles),
            grant: Vec::new(),
            revoke: Vec::new(),
        })
    }

    /// etcd's `attachRootRole`: the root user always has the root role.
    pub fn with_root_role(mut self) -> User {
        let roles = self.roles.get_or_insert_with(Vec::new);
        if !roles.iter().any(|r| r == ROOT_ROLE) {
            roles.push(ROOT_ROLE.to_string());
        }
        self
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().flatten().any(|r| r == role)
    }
}

// ---- JSON out (Go's json.Marshal of etcd's structs) ----

/// A Go `[]string`: `null` when nil.
fn push_strings(out: &mut String, v: Option<&[String]>) {
    match v {
        Some(v) => push_str_list(out, v),
        None => out.push_str("null"),
    }
}

fn push_permissions(out: &mut String, p: &Permissions) {
    out.push('{');
    push_key(out, "kv");
    out.push('{');
    push_key(out, "read");
    push_strings(out, p.kv.read.as_deref());
    out.push(',');
    push_key(out, "write");
    push_strings(out, p.kv.write.as_deref());
    out.push_str("}}");
}

impl Role {
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        push_key(&mut out, "role");
        push_str(&mut out, &self.role);
        out.push(',');
        push_key(&mut out, "permissions");
        push_permissions(&mut out, &self.permissions);
        for (name, p) in [("grant", &self.grant), ("revoke", &self.revoke)] {
            if let Some(p) = p {
                out.push(',');
                push_key(&mut out, name);
                push_permissions(&mut out, p);
            }
        }
        out.push('}');
        out
    }
}

impl User {
    /// As stored, and (with the password cleared) as answered.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        push_key(&mut out, "user");
        push_str(&mut out, &self.user);
        if !self.password.is_empty() {
            out.push(',');
            push_key(&mut out, "password");
            push_str(&mut out, &self.password);
        }
        out.push(',');
        push_key(&mut out, "roles");
        push_strings(&mut out, self.roles.as_deref());
        for (name, v) in [("grant", &self.grant), ("revoke", &self.revoke)] {
            if !v.is_empty() {
                out.push(',');
                push_key(&mut out, name);
                push_strings(&mut out, Some(v));
            }
        }
        out.push('}');
        out
    }
}

// ---- JSON in (Go's json.Decoder: the first value, field names matched
// case-insensitively, unknown fields ignored, null leaves the zero value,
// a value of the wrong type is an error) ----

/// The first JSON value of `body` (Go's `Decoder.Decode` reads no further).
fn first_value(body: &[u8]) -> Option<Value> {
    serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .next()?
        .ok()
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// `Ok(None)` for JSON `null` (or nothing), an error for a non-object.
fn object(v: Option<&Value>) -> Result<Option<&Map<String, Value>>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(()),
    }
}

fn string(v: Option<&Value>) -> Result<String, ()> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(()),
    }
}

fn strings(v: Option<&Value>) -> Result<Option<Vec<String>>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| string(Some(x)))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(()),
    }
}

fn permissions(v: Option<&Value>) -> Result<Option<Permissions>, ()> {
    let Some(m) = object(v)? else {
        return Ok(None);
    };
    let kv = match object(field(m, "kv"))? {
        None => RWPermission::default(),
        Some(kv) => RWPermission {
            read: strings(field(kv, "read"))?,
            write: strings(field(kv, "write"))?,
        },
    };
    Ok(Some(Permissions { kv }))
}

impl User {
    /// A user from a request body or a stored value; `None` where Go's
    /// decoder fails.
    pub fn from_json(body: &[u8]) -> Option<User> {
        Self::decode(body).ok()
    }

    fn decode(body: &[u8]) -> Result<User, ()> {
        let v = first_value(body).ok_or(())?;
        let Some(m) = object(Some(&v))? else {
            return Ok(User::default());
        };
        Ok(User {
            user: string(field(m, "user"))?,
            password: string(field(m, "password"))?,
            roles: strings(field(m, "roles"))?,
            grant: strings(field(m, "grant"))?.unwrap_or_default(),
            revoke: strings(field(m, "revoke"))?.unwrap_or_default(),
        })
    }
}

impl Role {
    /// A role from a request body or a stored value.
    pub fn from_json(body: &[u8]) -> Option<Role> {
        Self::decode(body).ok()
    }

    fn decode(body: &[u8]) -> Result<Role, ()> {
        let v = first_value(body).ok_or(())?;
        let Some(m) = object(Some(&v))? else {
            return Ok(Role::default());
        };
        Ok(Role {
            role: string(field(m, "role"))?,
            permissions: permissions(field(m, "permissions"))?.unwrap_or_default(),
            grant: permissions(field(m, "grant"))?,
            revoke: permissions(field(m, "revoke"))?,
        })
    }
}
