//! The auth workload: users read and write keys under [`PREFIX`] while an
//! admin (root) grants and revokes the read and the write permission of
//! their shared role, one change at a time. Every operation is logged with
//! its call and return times for [`crate::checker::auth`].
//!
//! Setup (before any fault): users `u0…` with password `pw`, each holding
//! role `r`, which starts with no permission; root; auth enabled. Users
//! authenticate again whenever their token stops working (a member that
//! restarted forgot it, an old auth revision, a disabled token).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxcd::pb::authpb::{permission, Permission};
use oxcd::pb::etcdserverpb::{
    auth_client::AuthClient, compare, kv_client::KvClient, request_op, AuthRoleAddRequest,
    AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest, AuthUserAddRequest,
    AuthUserGrantRoleRequest, AuthenticateRequest, Compare, DeleteRangeRequest, PutRequest,
    RangeRequest, RequestOp, TxnRequest,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::{Code, Request, Status};

use crate::clock::now as sim_now;
use crate::coverage;
use crate::workload::lease::Conn;
use crate::workload::REQUEST_TIMEOUT;

/// Where the users' keys live; the role's permissions cover this prefix.
pub const PREFIX: &str = "auth/";
const ROLE: &str = "r";
const ROOT_PASSWORD: &str = "rootpw";
const PASSWORD: &str = "pw";

/// A permission of the role, which the admin turns on and off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Perm {
    Read,
    Write,
}

/// What a user's request needs, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// A linearizable range: read.
    Get,
    /// A put: write.
    Put,
    /// A put with `prev_kv`: write and read.
    PutPrev,
    /// A txn comparing a key's value, then putting it: read and write.
    Cas,
}

impl OpKind {
    pub fn needs(self) -> &'static [Perm] {
        match self {
            OpKind::Get => &[Perm::Read],
            OpKind::Put => &[Perm::Write],
            OpKind::PutPrev | OpKind::Cas => &[Perm::Read, Perm::Write],
        }
    }
}

/// How a user's request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It went in (a get's value, if it saw one, is in `saw`).
    Ok { saw: Option<Vec<u8>> },
    /// `etcdserver: permission denied`.
    Denied,
}

/// What happened, as the clients saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The admin set `perm` to `on`: asked at `call`, known done at `ret`
    /// (retried until it was; it took effect at some point in between).
    Set {
        perm: Perm,
        on: bool,
        call: Duration,
        ret: Duration,
    },
    /// A user's request with a definite outcome.
    Op {
        user: usize,
        kind: OpKind,
        call: Duration,
        ret: Duration,
        outcome: Outcome,
    },
}

pub type SharedEvents = Arc<Mutex<Vec<Event>>>;

fn with_token<M>(m: M, token: Option<&str>) -> Request<M> {
    let mut r = Request::new(m);
    if let Some(v) = token.and_then(|t| t.parse().ok()) {
        r.metadata_mut().insert("token", v);
    }
    r
}

/// Errors after which the token must be got again (and the request was
/// not applied).
fn needs_new_token(st: &Status) -> bool {
    matches!(
        st.message(),
        "etcdserver: invalid auth token"
            | "etcdserver: revision of auth store is old"
            | "etcdserver: user name is empty"
    )
}

/// A client of one user (or of root), with its token.
struct AuthConn {
    conn: Conn,
    user: String,
    password: String,
    token: Option<String>,
}

impl AuthConn {
    fn new(id: usize, urls: Vec<String>, user: &str, password: &str) -> Self {
        AuthConn {
            conn: Conn::new(id, urls),
            user: user.to_string(),
            password: password.to_string(),
            token: None,
        }
    }

    /// A channel and a token, authenticating first if needed.
    async fn ready(&mut self) -> Option<(tonic::transport::Channel, String)> {
        let ch = self.conn.channel().await?;
        if self.token.is_none() {
            let req = AuthenticateRequest {
                name: self.user.clone(),
                password: self.password.clone(),
            };
            let mut c = AuthClient::new(ch.clone());
            match tokio::time::timeout(REQUEST_TIMEOUT, c.authenticate(req)).await {
                Ok(Ok(r)) => {
                    coverage::hit("auth.authenticate");
                    self.token = Some(r.into_inner().token);
                }
                _ => {
                    self.conn.next();
                    return None;
                }
            }
        }
        Some((ch, self.token.clone()?))
    }

    /// After a failed request: a new token if it needs one, else the next member.
    fn failed(&mut self, st: Option<&Status>) {
        match st {
            Some(st) if needs_new_token(st) => {
                coverage::hit("auth.token_refreshed");
                self.token = None;
            }
            _ => self.conn.next(),
        }
    }
}

/// Runs `f` on a member until it succeeds (or, retried after it went in,
/// says the thing already exists); gives up after 50 tries.
async fn retried<F, Fut>(conn: &mut Conn, what: &str, f: F) -> Result<(), String>
where
    F: Fn(AuthClient<tonic::transport::Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<(), Status>>,
{
    for _ in 0..50 {
        let Some(ch) = conn.channel().await else {
            continue;
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, f(AuthClient::new(ch))).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(st)) if st.message().contains("already exists") => return Ok(()),
            _ => conn.next(),
        }
    }
    Err(format!("auth setup: {what} never succeeded"))
}

/// Creates root, the role and the users, and enables auth; retried until
/// done (run it before any fault, on a healthy cluster).
pub async fn setup(urls: Vec<String>, users: usize) -> Result<(), String> {
    let mut conn = Conn::new(0, urls);
    let add = |name: String, password: &str| AuthUserAddRequest {
        name,
        password: password.into(),
        ..Default::default()
    };
    let grant = |user: String, role: &str| AuthUserGrantRoleRequest {
        user,
        role: role.into(),
    };
    let r = add("root".into(), ROOT_PASSWORD);
    retried(&mut conn, "root", |mut c| {
        let r = r.clone();
        async move { c.user_add(r).await.map(|_| ()) }
    })
    .await?;
    let g = grant("root".into(), "root");
    retried(&mut conn, "root's role", |mut c| {
        let g = g.clone();
        async move { c.user_grant_role(g).await.map(|_| ()) }
    })
    .await?;
    retried(&mut conn, "the role", |mut c| async move {
        let r = AuthRoleAddRequest { name: ROLE.into() };
        c.role_add(r).await.map(|_| ())
    })
    .await?;
    for u in 0..users {
        let r = add(format!("u{u}"), PASSWORD);
        retried(&mut conn, "a user", |mut c| {
            let r = r.clone();
            async move { c.user_add(r).await.map(|_| ()) }
        })
        .await?;
        let g = grant(format!("u{u}"), ROLE);
        retried(&mut conn, "a user's role", |mut c| {
            let g = g.clone();
            async move { c.user_grant_role(g).await.map(|_| ()) }
        })
        .await?;
    }
    retried(&mut conn, "auth enable", |mut c| async move {
        c.auth_enable(oxcd::pb::etcdserverpb::AuthEnableRequest {})
            .await
            .map(|_| ())
    })
    .await
}

/// The admin: `changes` permission changes, one at a time, each retried
/// until it is known to have taken effect, with pauses between.
pub struct AdminClient {
    conn: AuthConn,
    events: SharedEvents,
    rng: StdRng,
    on: [bool; 2],
}

impl AdminClient {
    pub fn new(urls: Vec<String>, events: SharedEvents) -> Self {
        let seed = crate::clock::rng().gen::<u64>();
        AdminClient {
            conn: AuthConn::new(7, urls, "root", ROOT_PASSWORD),
            events,
            rng: StdRng::seed_from_u64(seed),
            on: [false, false],
        }
    }

    pub async fn run(&mut self, changes: usize) {
        for _ in 0..changes {
            let pause = self.rng.gen_range(100..1500);
            madsim::time::sleep(Duration::from_millis(pause)).await;
            let perm = if self.rng.gen_bool(0.5) {
                Perm::Read
            } else {
                Perm::Write
            };
            let i = perm as usize;
            let on = !self.on[i];
            let call = sim_now();
            self.set(perm, on).await;
            self.on[i] = on;
            coverage::hit(if on { "auth.grant" } else { "auth.revoke" });
            self.events.lock().expect("lock").push(Event::Set {
                perm,
                on,
                call,
                ret: sim_now(),
            });
        }
    }

    /// Grants or revokes until the answer says it holds.
    async fn set(&mut self, perm: Perm, on: bool) {
        let t = match perm {
            Perm::Read => permission::Type::Read,
            Perm::Write => permission::Type::Write,
        };
        // Each kind is its own permission on its own range, so turning one
        // on or off leaves the other alone.
        let (key, range_end) = match perm {
            Perm::Read => (
                PREFIX.as_bytes().to_vec(),
                oxcd::ctl::prefix_end(PREFIX.as_bytes()),
            ),
            Perm::Write => (PREFIX.as_bytes().to_vec(), vec![0]),
        };
        loop {
            let Some((ch, token)) = self.conn.ready().await else {
                continue;
            };
            let mut c = AuthClient::new(ch);
            let r = if on {
                let req = AuthRoleGrantPermissionRequest {
                    name: ROLE.into(),
                    perm: Some(Permission {
                        perm_type: t as i32,
                        key: key.clone(),
                        range_end: range_end.clone(),
                    }),
                };
                let f = c.role_grant_permission(with_token(req, Some(&token)));
                tokio::time::timeout(REQUEST_TIMEOUT, f)
                    .await
                    .map(|r| r.map(|_| ()))
            } else {
                let req = AuthRoleRevokePermissionRequest {
                    role: ROLE.into(),
                    key: key.clone(),
                    range_end: range_end.clone(),
                };
                let f = c.role_revoke_permission(with_token(req, Some(&token)));
                tokio::time::timeout(REQUEST_TIMEOUT, f)
                    .await
                    .map(|r| r.map(|_| ()))
            };
            match r {
                Ok(Ok(())) => return,
                // A revoke retried after it went in.
                Ok(Err(st))
                    if !on
                        && st.message() == "etcdserver: permission is not granted to the role" =>
                {
                    return
                }
                Ok(Err(st)) => self.conn.failed(Some(&st)),
                Err(_) => self.conn.failed(None),
            }
        }
    }
}

/// A user: random gets, puts and compare-and-sets on a few keys.
pub struct UserClient {
    user: usize,
    conn: AuthConn,
    events: SharedEvents,
    rng: StdRng,
}

impl UserClient {
    pub fn new(user: usize, urls: Vec<String>, events: SharedEvents) -> Self {
        let seed = crate::clock::rng().gen::<u64>();
        UserClient {
            user,
            conn: AuthConn::new(user, urls, &format!("u{user}"), PASSWORD),
            events,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub async fn run(&mut self, ops: usize) {
        for n in 0..ops {
            self.one(n).await;
        }
    }

    async fn one(&mut self, n: usize) {
        let key = format!("{PREFIX}{}", self.rng.gen_range(0..3)).into_bytes();
        let value = format!("u{}-{n}", self.user).into_bytes();
        let kind = match self.rng.gen_range(0..4) {
            0 => OpKind::Get,
            1 => OpKind::Put,
            2 => OpKind::PutPrev,
            _ => OpKind::Cas,
        };
        let Some((ch, token)) = self.conn.ready().await else {
            return;
        };
        let mut kv = KvClient::new(ch);
        let call = sim_now();
        let res: Result<Option<Vec<u8>>, Status> = match kind {
            OpKind::Get => {
                let req = RangeRequest {
                    key: key.clone(),
                    ..Default::default()
                };
                match tokio::time::timeout(REQUEST_TIMEOUT, kv.range(with_token(req, Some(&token))))
                    .await
                {
                    Ok(r) => r.map(|r| r.into_inner().kvs.into_iter().next().map(|kv| kv.value)),
                    Err(_) => Err(Status::deadline_exceeded("timeout")),
                }
            }
            OpKind::Put | OpKind::PutPrev => {
                let req = PutRequest {
                    key: key.clone(),
                    value,
                    prev_kv: kind == OpKind::PutPrev,
                    ..Default::default()
                };
                match tokio::time::timeout(REQUEST_TIMEOUT, kv.put(with_token(req, Some(&token))))
                    .await
                {
                    Ok(r) => r.map(|r| r.into_inner().prev_kv.map(|kv| kv.value)),
                    Err(_) => Err(Status::deadline_exceeded("timeout")),
                }
            }
            OpKind::Cas => {
                let put = RequestOp {
                    request: Some(request_op::Request::RequestPut(PutRequest {
                        key: key.clone(),
                        value,
                        ..Default::default()
                    })),
                };
                let del = RequestOp {
                    request: Some(request_op::Request::RequestDeleteRange(
                        DeleteRangeRequest {
                            key: key.clone(),
                            ..Default::default()
                        },
                    )),
                };
                let req = TxnRequest {
                    compare: vec![Compare {
                        key: key.clone(),
                        result: compare::CompareResult::Greater as i32,
                        target: compare::CompareTarget::Version as i32,
                        target_union: Some(compare::TargetUnion::Version(2)),
                        ..Default::default()
                    }],
                    success: vec![del],
                    failure: vec![put],
                };
                match tokio::time::timeout(REQUEST_TIMEOUT, kv.txn(with_token(req, Some(&token))))
                    .await
                {
                    Ok(r) => r.map(|_| None),
                    Err(_) => Err(Status::deadline_exceeded("timeout")),
                }
            }
        };
        let outcome = match res {
            Ok(saw) => Outcome::Ok { saw },
            Err(st) if st.code() == Code::PermissionDenied => Outcome::Denied,
            Err(st) => {
                // Unknown (it may or may not have gone in) or refused before
                // any check: nothing to judge.
                self.conn.failed(Some(&st));
                return;
            }
        };
        coverage::hit(match (&outcome, kind) {
            (Outcome::Denied, _) => "auth.denied",
            (_, OpKind::Get) => "auth.get",
            _ => "auth.write",
        });
        self.events.lock().expect("lock").push(Event::Op {
            user: self.user,
            kind,
            call,
            ret: sim_now(),
            outcome,
        });
    }
}
