//! Store calls for v2 requests: etcd's `applyV2Request` (what every member
//! applies from the raft log) and the member-local GET/HEAD of
//! `reqV2HandlerStore`.

use crate::pb::etcdserverpb::Request;
use crate::v2store::*;

/// What applying a v2 request answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum V2Answer {
    Event(Box<Event>),
    Error(V2Error),
    /// A SYNC: the expired keys' events went to the history and watchers.
    Synced,
    /// etcd 3.4's publish of a member's attributes (a PUT of
    /// `/0/members/<hex id>/attributes`): for the membership, not the store.
    MemberAttributes {
        id: u64,
        json: String,
    },
    /// A PUT of `/0/version`: the cluster version, for the membership.
    ClusterVersion(String),
    /// etcd's `ErrUnknownMethod`.
    UnknownMethod,
}

impl From<Result<Event, V2Error>> for V2Answer {
    fn from(r: Result<Event, V2Error>) -> Self {
        match r {
            Ok(e) => V2Answer::Event(Box::new(e)),
            Err(e) => V2Answer::Error(e),
        }
    }
}

/// Whether `r` goes through raft: POST, PUT, DELETE, and a GET with
/// `quorum` (which this turns into etcd's `QGET`, as `RequestV2.Handle`).
pub fn needs_consensus(r: &mut Request) -> bool {
    if r.method == "GET" && r.quorum {
        r.method = "QGET".to_string();
    }
    matches!(r.method.as_str(), "POST" | "PUT" | "DELETE" | "QGET")
}

fn ttl_options(r: &Request) -> TtlOptions {
    TtlOptions {
        expire_time: (r.expiration != 0).then_some(r.expiration),
        refresh: r.refresh.unwrap_or(false),
    }
}

/// etcd's `applyV2Request`: the store call a committed v2 request makes.
/// `now` (unix nanoseconds) only shows TTLs in the answer.
pub fn apply_v2_request(store: &mut Store, r: &Request, now: i64) -> V2Answer {
    let opts = ttl_options(r);
    let compares = r.prev_index > 0 || !r.prev_value.is_empty();
    match r.method.as_str() {
        "POST" => store.create(&r.path, r.dir, &r.val, true, opts, now).into(),
        "PUT" => match r.prev_exist {
            Some(true) if !compares => store.update(&r.path, &r.val, opts, now).into(),
            Some(true) => store
                .compare_and_swap(&r.path, &r.prev_value, r.prev_index, &r.val, opts, now)
                .into(),
            Some(false) => store
                .create(&r.path, r.dir, &r.val, false, opts, now)
                .into(),
            None if compares => store
                .compare_and_swap(&r.path, &r.prev_value, r.prev_index, &r.val, opts, now)
                .into(),
            None => {
                if let Some(id) = member_attributes_id(&r.path) {
                    return V2Answer::MemberAttributes {
                        id,
                        json: r.val.clone(),
                    };
                }
                if r.path == "/0/version" {
                    return V2Answer::ClusterVersion(r.val.clone());
                }
                store.set(&r.path, r.dir, &r.val, opts, now).into()
            }
        },
        "DELETE" if compares => store
            .compare_and_delete(&r.path, &r.prev_value, r.prev_index, now)
            .into(),
        "DELETE" => store.delete(&r.path, r.dir, r.recursive, now).into(),
        "QGET" => store.get(&r.path, r.recursive, r.sorted, now).into(),
        "SYNC" => {
            store.delete_expired_keys(r.time, now);
            V2Answer::Synced
        }
        _ => V2Answer::UnknownMethod,
    }
}

/// etcd's `storeMemberAttributeRegexp`: `^/0/members/[[:xdigit:]]{1,16}/attributes$`.
fn member_attributes_id(path: &str) -> Option<u64> {
    let hex = path
        .strip_prefix("/0/members/")?
        .strip_suffix("/attributes")?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// A GET or HEAD answered by this member alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalAnswer {
    Event(Box<Event>),
    /// A `wait` GET: stream the watcher's events (its first may already be
    /// in its mailbox).
    Watch(WatchStart),
    Error(V2Error),
}

/// etcd's `reqV2HandlerStore.Get`/`Head` (a request that does not need
/// consensus).
pub fn serve_local(store: &mut Store, r: &Request, now: i64) -> LocalAnswer {
    assert!(
        matches!(r.method.as_str(), "GET" | "HEAD"),
        "{} needs consensus",
        r.method
    );
    if r.method == "GET" && r.wait {
        return match store.watch(&r.path, r.recursive, r.stream, r.since) {
            Ok(w) => LocalAnswer::Watch(w),
            Err(e) => LocalAnswer::Error(e),
        };
    }
    match store.get(&r.path, r.recursive, r.sorted, now) {
        Ok(e) => LocalAnswer::Event(Box::new(e)),
        Err(e) => LocalAnswer::Error(e),
    }
}
