//! v2 auth on an in-memory v2 store: the handlers answer as etcd 3.4 does
//! (texts and statuses checked against it), the records are etcd's JSON,
//! and the checks follow etcd's globs.

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use super::http::basic_auth;
use super::types::{prefix_match, simple_match};
use super::*;
use crate::pb::etcdserverpb::Request;
use crate::v2http::{self, HttpRequest, LocalAnswer, V2Answer};
use crate::v2store::{self, Event};

/// A member with only a v2 store: every request applied at once.
struct Mem {
    store: Mutex<v2store::Store>,
    ensured: AtomicBool,
}

impl Mem {
    fn new() -> Mem {
        Mem {
            store: Mutex::new(v2store::Store::new_etcd()),
            ensured: AtomicBool::new(false),
        }
    }

    fn index(&self) -> u64 {
        self.store.lock().unwrap().index()
    }

    fn raw(&self, path: &str) -> Option<String> {
        let mut s = self.store.lock().unwrap();
        s.get(path, false, false, 0).ok()?.node?.value
    }
}

impl Doer for Mem {
    async fn do_request(&self, mut r: Request) -> Result<Event, Error> {
        let mut s = self.store.lock().unwrap();
        if r.method == "GET" {
            return match v2http::serve_local(&mut s, &r, 0) {
                LocalAnswer::Event(e) => Ok(*e),
                LocalAnswer::Error(e) => Err(Error::Store(e)),
                LocalAnswer::Watch(_) => unreachable!(),
            };
        }
        assert!(v2http::needs_consensus(&mut r));
        match v2http::apply_v2_request(&mut s, &r, 0) {
            V2Answer::Event(e) => Ok(*e),
            V2Answer::Error(e) => Err(Error::Store(e)),
            other => panic!("{other:?}"),
        }
    }

    async fn hash_password(&self, password: String) -> Result<String, Error> {
        Ok(crate::auth::hash_password(&password, 4))
    }

    async fn check_password(&self, hash: String, password: String) -> bool {
        crate::auth::verify_password(&password, &hash)
    }

    fn ensured_once(&self) -> &AtomicBool {
        &self.ensured
    }
}

/// Runs a future that never waits (Mem's never do).
fn run<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory v2 auth call waited"),
    }
}

fn req(method: &str, path: &str, body: &str, user: Option<&str>) -> HttpRequest {
    let mut headers = Vec::new();
    if let Some(u) = user {
        headers.push(("Authorization".to_string(), format!("Basic {}", b64(u))));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    HttpRequest {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | (x as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Status and body of one auth request.
fn call(m: &Mem, method: &str, path: &str, body: &str, user: Option<&str>) -> (u16, String) {
    let r = run(serve(m, &req(method, path, body, user), 0xabc));
    (r.status, String::from_utf8(r.body).unwrap())
}

/// The root user, password `pw`.
fn add_root(m: &Mem) {
    let r = call(
        m,
        "PUT",
        "/v2/auth/users/root",
        r#"{"user":"root","password":"pw"}"#,
        None,
    );
    assert_eq!(r.0, 201, "{}", r.1);
}

fn ok(status: u16, body: &str) -> (u16, String) {
    (status, body.to_string())
}

const ROOT_ROLE_JSON: &str =
    r#"{"role":"root","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}"#;

#[test]
fn a_fresh_member_has_only_the_root_role() {
    let m = Mem::new();
    assert_eq!(
        call(&m, "GET", "/v2/auth/enable", "", None),
        ok(200, "{\"enabled\":false}\n")
    );
    assert_eq!(
        call(&m, "GET", "/v2/auth/users", "", None),
        ok(200, "{\"users\":null}\n")
    );
    assert_eq!(
        call(&m, "GET", "/v2/auth/roles/", "", None),
        ok(200, &format!("{{\"roles\":[{ROOT_ROLE_JSON}]}}\n"))
    );
    assert_eq!(
        call(&m, "GET", "/v2/auth/roles/guest", "", None),
        ok(404, r#"{"message":"auth: Role guest does not exist."}"#)
    );
    // Reads wrote nothing.
    assert_eq!(m.index(), 0);
}

#[test]
fn the_first_write_makes_the_directories_and_the_flag() {
    let m = Mem::new();
    assert_eq!(
        call(
            &m,
            "PUT",
            "/v2/auth/users/root",
            r#"{"user":"root","password":"pw"}"#,
            None
        ),
        ok(201, "{\"user\":\"root\",\"roles\":[\"root\"]}\n")
    );
    // /2, /2/users, /2/roles, /2/enabled, then the user: as etcd's index.
    assert_eq!(m.index(), 5);
    assert_eq!(m.raw("/2/enabled").as_deref(), Some("false"));
    let stored = m.raw("/2/users/root").unwrap();
    assert!(
        stored.starts_with(r#"{"user":"root","password":"$2a$04$"#)
            && stored.ends_with(r#"","roles":["root"]}"#),
        "{stored}"
    );
    assert_eq!(
        call(
            &m,
            "PUT",
            "/v2/auth/users/root",
            r#"{"user":"root","password":"pw","roles":["x"]}"#,
            None
        ),
        ok(409, r#"{"message":"auth: User root already exists."}"#)
    );
    assert_eq!(m.index(), 5);
}

#[test]
fn role_updates_follow_go_nil_and_empty_slices() {
    let m = Mem::new();
    let put = |body: &str| call(&m, "PUT", "/v2/auth/roles/rw", body, None);
    assert_eq!(
        put(r#"{"role":"rw","permissions":{"kv":{"read":["/foo/*"]}}}"#),
        ok(
            201,
            "{\"role\":\"rw\",\"permissions\":{\"kv\":{\"read\":[\"/foo/*\"],\"write\":null}}}\n"
        )
    );
    // Revoking what it never had still turns null into [].
    assert_eq!(
        put(r#"{"role":"rw","revoke":{"kv":{"read":["/nope"]}}}"#),
        ok(
            200,
            "{\"role\":\"rw\",\"permissions\":{\"kv\":{\"read\":[\"/foo/*\"],\"write\":[]}}}\n"
        )
    );
    assert_eq!(
        put(r#"{"role":"rw","revoke":{"kv":{"read":["/nope"]}}}"#),
        ok(
            400,
            r#"{"message":"auth: Role not updated. Use grant/revoke to update the role."}"#
        )
    );
    assert_eq!(
        put(r#"{"role":"rw","grant":{"kv":{"read":["/bar"],"write":["/foo/*"]}}}"#),
        ok(200, "{\"role\":\"rw\",\"permissions\":{\"kv\":{\"read\":[\"/bar\",\"/foo/*\"],\"write\":[\"/foo/*\"]}}}\n")
    );
    assert_eq!(
        put(r#"{"role":"rw","grant":{"kv":{"read":["/bar"]}}}"#),
        ok(
            409,
            r#"{"message":"auth: Granting duplicate read permission /bar"}"#
        )
    );
    assert_eq!(
        put(r#"{"role":"rw","permissions":{"kv":{"read":["/x"]}},"grant":{"kv":{"read":["/y"]}}}"#),
        ok(
            400,
            r#"{"message":"Role JSON contains both permissions and grant/revoke"}"#
        )
    );
    assert_eq!(
        put(r#"{"role":"rw"}"#),
        ok(409, r#"{"message":"auth: Role rw already exists."}"#)
    );
    assert_eq!(
        put(r#"{"role":"ro"}"#),
        ok(
            400,
            r#"{"message":"Role JSON name does not match the name in the URL"}"#
        )
    );
    assert_eq!(
        put("{"),
        ok(400, r#"{"message":"Invalid JSON in request body."}"#)
    );
    assert_eq!(
        put(r#"{"role":["rw"]}"#),
        ok(400, r#"{"message":"Invalid JSON in request body."}"#)
    );
    assert_eq!(
        call(&m, "PUT", "/v2/auth/roles/root", r#"{"role":"root"}"#, None),
        ok(
            403,
            r#"{"message":"auth: Cannot modify role root: is root role."}"#
        )
    );
    assert_eq!(
        call(
            &m,
            "PUT",
            "/v2/auth/roles/no",
            r#"{"role":"no","grant":{"kv":{"read":["/a"]}}}"#,
            None
        ),
        ok(404, r#"{"message":"auth: Role no does not exist."}"#)
    );
    assert_eq!(
        call(&m, "DELETE", "/v2/auth/roles/no", "", None),
        ok(404, r#"{"message":"auth: Role no doesn't exist."}"#)
    );
    assert_eq!(
        call(&m, "DELETE", "/v2/auth/roles/rw", "", None),
        ok(200, "")
    );
}

#[test]
fn user_updates_grants_and_revokes() {
    let m = Mem::new();
    let put = |body: &str| call(&m, "PUT", "/v2/auth/users/alice", body, None);
    assert_eq!(
        put(r#"{"user":"alice"}"#),
        ok(
            400,
            r#"{"message":"auth: Cannot create user alice with an empty password"}"#
        )
    );
    assert_eq!(
        put(r#"{"user":"alice","password":"a"}"#),
        ok(201, "{\"user\":\"alice\",\"roles\":null}\n")
    );
    assert_eq!(
        put(r#"{"user":"alice"}"#),
        ok(200, "{\"user\":\"alice\",\"roles\":[]}\n")
    );
    assert_eq!(
        put(r#"{"user":"alice"}"#),
        ok(
            400,
            r#"{"message":"auth: User not updated. Use grant/revoke/password to update the user."}"#
        )
    );
    // Granting a role nobody made is allowed, as on etcd.
    assert_eq!(
        put(r#"{"user":"alice","grant":["rw","b"]}"#),
        ok(200, "{\"user\":\"alice\",\"roles\":[\"b\",\"rw\"]}\n")
    );
    assert_eq!(
        put(r#"{"user":"alice","grant":["rw"]}"#),
        ok(
            409,
            r#"{"message":"auth: Granting duplicate role rw for user alice"}"#
        )
    );
    assert_eq!(
        put(r#"{"user":"alice","revoke":["x"]}"#),
        ok(
            409,
            r#"{"message":"auth: Revoking ungranted role x for user alice"}"#
        )
    );
    assert_eq!(
        put(r#"{"user":"alice","roles":["a"],"revoke":["b"]}"#),
        ok(
            400,
            r#"{"message":"User JSON contains both roles and grant/revoke"}"#
        )
    );
    assert_eq!(
        call(
            &m,
            "PUT",
            "/v2/auth/users/bob",
            r#"{"user":"bob","grant":["b"]}"#,
            None
        ),
        ok(404, r#"{"message":"auth: User bob does not exist."}"#)
    );
    // Field names match in any case (Go's decoder).
    assert_eq!(
        put(r#"{"USER":"alice","Revoke":["b"]}"#),
        ok(200, "{\"user\":\"alice\",\"roles\":[\"rw\"]}\n")
    );
    // A role that does not exist fails the user's GET, not the listing.
    assert_eq!(
        call(&m, "GET", "/v2/auth/users/alice", "", None),
        ok(404, r#"{"message":"auth: Role rw does not exist."}"#)
    );
    assert_eq!(
        call(&m, "GET", "/v2/auth/users", "", None),
        ok(200, "{\"users\":[{\"user\":\"alice\"}]}\n")
    );
    assert_eq!(
        call(&m, "GET", "/v2/auth/users/a/b", "", None),
        ok(400, r#"{"message":"Invalid path"}"#)
    );
    assert_eq!(
        call(&m, "DELETE", "/v2/auth/users/alice", "", None),
        ok(200, "")
    );
    assert_eq!(
        call(&m, "DELETE", "/v2/auth/users/alice", "", None),
        ok(404, r#"{"message":"auth: User alice does not exist"}"#)
    );
}

#[test]
fn enabling_needs_root_and_then_guards_everything() {
    let m = Mem::new();
    assert_eq!(
        call(&m, "PUT", "/v2/auth/enable", "", None),
        ok(
            409,
            r#"{"message":"auth: No root user available, please create one"}"#
        )
    );
    assert_eq!(
        call(&m, "DELETE", "/v2/auth/enable", "", None),
        ok(409, r#"{"message":"auth: already disabled"}"#)
    );
    add_root(&m);
    assert_eq!(call(&m, "PUT", "/v2/auth/enable", "", None), ok(200, ""));
    // The default guest role may do everything.
    assert_eq!(
        m.raw("/2/roles/guest").as_deref(),
        Some(r#"{"role":"guest","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}"#)
    );
    let no = ok(401, r#"{"message":"Insufficient credentials"}"#);
    assert_eq!(call(&m, "GET", "/v2/auth/users", "", None), no);
    assert_eq!(call(&m, "GET", "/v2/auth/users", "", Some("root:bad")), no);
    assert_eq!(call(&m, "PUT", "/v2/auth/enable", "", None), no);
    // Anyone may ask whether auth is on.
    assert_eq!(
        call(&m, "GET", "/v2/auth/enable", "", None),
        ok(200, "{\"enabled\":true}\n")
    );
    assert_eq!(
        call(&m, "PUT", "/v2/auth/enable", "", Some("root:pw")),
        ok(409, r#"{"message":"auth: already enabled"}"#)
    );
    assert_eq!(
        call(&m, "DELETE", "/v2/auth/users/root", "", Some("root:pw")),
        ok(
            403,
            r#"{"message":"auth: Cannot delete root user while auth is enabled."}"#
        )
    );
    call(
        &m,
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","password":"a"}"#,
        Some("root:pw"),
    );
    assert_eq!(call(&m, "GET", "/v2/auth/users", "", Some("alice:a")), no);
    assert_eq!(
        call(&m, "DELETE", "/v2/auth/enable", "", Some("root:pw")),
        ok(200, "")
    );
    assert_eq!(call(&m, "GET", "/v2/auth/users/root", "", None).0, 200);
}

#[test]
fn key_access_follows_etcds_globs() {
    let m = Mem::new();
    let root = Some("root:pw");
    add_root(&m);
    call(
        &m,
        "PUT",
        "/v2/auth/roles/rw",
        r#"{"role":"rw","permissions":{"kv":{"read":["/foo*","/bar"],"write":["/foo/*"]}}}"#,
        None,
    );
    call(
        &m,
        "PUT",
        "/v2/auth/roles/guest",
        r#"{"role":"guest","permissions":{"kv":{"read":["/pub/*"],"write":[]}}}"#,
        None,
    );
    call(
        &m,
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","password":"a","roles":["rw"]}"#,
        None,
    );
    let can = |method: &str, key: &str, recursive: bool, user: Option<&str>| {
        let r = req(method, &format!("/v2/keys{key}"), "", user);
        run(has_key_prefix_access(&m, &r, key, recursive))
    };
    // Off: everything.
    assert!(can("PUT", "/x", false, None));
    call(&m, "PUT", "/v2/auth/enable", "", None);
    assert!(can("GET", "/pub/a", false, None));
    assert!(!can("PUT", "/pub/a", false, None));
    assert!(!can("GET", "/foo", false, None));
    // The guest check is never recursive: the key alone.
    assert!(can("GET", "/pub/a", true, None));
    assert!(can("GET", "/foo/x", false, Some("alice:a")));
    assert!(can("GET", "/foobar", false, Some("alice:a")));
    assert!(can("PUT", "/foo/x", false, Some("alice:a")));
    assert!(!can("PUT", "/foo", false, Some("alice:a")));
    assert!(can("HEAD", "/bar", false, Some("alice:a")));
    assert!(!can("GET", "/bar/x", false, Some("alice:a")));
    // Recursive: only a `*` glob covers what is under the key.
    assert!(can("GET", "/foo", true, Some("alice:a")));
    assert!(!can("GET", "/bar", true, Some("alice:a")));
    assert!(!can("GET", "/foo/x", false, Some("alice:bad")));
    // Credentials that do not parse are refused, not taken for a guest.
    let mut r = req("GET", "/v2/keys/pub/a", "", None);
    r.headers.push(("Authorization".into(), "Bearer x".into()));
    assert!(!run(has_key_prefix_access(&m, &r, "/pub/a", false)));
    assert!(can("DELETE", "/", true, root));
    // The root of the keys is "" and no glob under / covers it.
    assert!(!can("GET", "", false, None));
    // Without a guest role, no credentials get nothing.
    call(&m, "DELETE", "/v2/auth/roles/guest", "", root);
    assert!(!can("GET", "/pub/a", false, None));
    // The members handler: reads free, changes need root.
    let members = |method: &str, user| {
        run(has_write_root_access(
            &m,
            &req(method, "/v2/members", "", user),
        ))
    };
    assert!(members("GET", None));
    assert!(!members("POST", Some("alice:a")));
    assert!(members("DELETE", root));
}

#[test]
fn methods_and_paths_as_gos_mux_and_handlers() {
    let m = Mem::new();
    let r = run(serve(&m, &req("POST", "/v2/auth/users/x", "", None), 1));
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET,PUT,DELETE")));
    assert!(r.header("X-Etcd-Cluster-Id").is_none());
    let r = run(serve(&m, &req("PUT", "/v2/auth/users", "", None), 1));
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET")));
    let r = run(serve(&m, &req("GET", "/v2/auth/users/x", "", None), 1));
    assert_eq!(r.header("X-Etcd-Cluster-Id"), Some("1"));
    assert_eq!(v2http::route("/v2/auth/enable/"), v2http::Route::NotFound);
    assert_eq!(v2http::route("/v2/auth"), v2http::Route::NotFound);
    assert_eq!(v2http::route("/v2/auth/users/"), v2http::Route::Auth);
    assert_eq!(v2http::route("/v2/auth/roles"), v2http::Route::Auth);
}

#[test]
fn globs() {
    assert!(simple_match("/foo*", "/foobar"));
    assert!(simple_match("/foo", "/foo"));
    assert!(!simple_match("/foo", "/foo/"));
    assert!(simple_match("*", ""));
    assert!(!simple_match("", ""));
    assert!(prefix_match("/a/*", "/a/b"));
    assert!(!prefix_match("/a/b", "/a/b"));
}

#[test]
fn basic_auth_as_go_reads_it() {
    assert_eq!(
        basic_auth("Basic cm9vdDpwdw=="),
        Some(("root".into(), "pw".into()))
    );
    assert_eq!(
        basic_auth("bAsIc cm9vdDpwdw=="),
        Some(("root".into(), "pw".into()))
    );
    // A colon in the password stays in it.
    assert_eq!(
        basic_auth(&format!("Basic {}", b64("a:b:c"))),
        Some(("a".into(), "b:c".into()))
    );
    assert_eq!(basic_auth("Basic cm9vdDpwdw"), None, "padding is required");
    assert_eq!(basic_auth("Basic cm9vdA=="), None, "no colon");
    assert_eq!(basic_auth("Basic "), None);
    assert_eq!(basic_auth("Bearer cm9vdDpwdw=="), None);
    assert_eq!(
        basic_auth("Basic cm9v\r\ndDpwdw=="),
        Some(("root".into(), "pw".into()))
    );
    assert_eq!(basic_auth("Basic cm9vdDpwdw=a"), None);
}

#[test]
fn records_round_trip_as_etcd_writes_them() {
    let u = User {
        user: "a<b".into(),
        password: "h".into(),
        roles: None,
        grant: vec![],
        revoke: vec!["x".into()],
    };
    assert_eq!(
        u.to_json(),
        r#"{"user":"a\u003cb","password":"h","roles":null,"revoke":["x"]}"#
    );
    assert_eq!(User::from_json(u.to_json().as_bytes()), Some(u));
    let r = Role {
        role: "r".into(),
        grant: Some(Permissions::default()),
        ..Default::default()
    };
    assert_eq!(
        r.to_json(),
        r#"{"role":"r","permissions":{"kv":{"read":null,"write":null}},"grant":{"kv":{"read":null,"write":null}}}"#
    );
    assert_eq!(Role::from_json(r.to_json().as_bytes()), Some(r));
    // Go's decoder reads the first value and ignores the rest; null is
    // the zero value; a wrong type is an error.
    assert_eq!(
        User::from_json(b"{\"user\":\"a\"} trailing").map(|u| u.user),
        Some("a".into())
    );
    assert_eq!(User::from_json(b"null"), Some(User::default()));
    assert_eq!(User::from_json(b"[]"), None);
    assert_eq!(User::from_json(b""), None);
    assert_eq!(
        User::from_json(br#"{"roles":[null,"a"]}"#).map(|u| u.roles),
        Some(Some(vec![String::new(), "a".into()]))
    );
    assert_eq!(User::from_json(br#"{"password":1}"#), None);
}
