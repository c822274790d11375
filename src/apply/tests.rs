//! Golden tests for the applier, in the style of raft-rs's and etcd-io/raft's
//! `testdata/`: each file in `src/apply/testdata/` is a sequence of blocks,
//! the entries to apply (one command a line), `----`, then what came out:
//! answers, the backend batch and the effects. State carries over from one
//! block to the next within a file. `REWRITE=1 cargo test --lib apply`
//! rewrites the expected parts after a deliberate change; review the diff.

use prost::Message;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType};

use super::*;
use crate::pb::etcdserverpb::{
    compare, request_op, response_op, AuthRoleAddRequest, AuthRoleDeleteRequest,
    AuthRoleGetRequest, AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest,
    AuthUserAddRequest, AuthUserDeleteRequest, AuthUserGetRequest, AuthUserGrantRoleRequest,
    AuthUserRevokeRoleRequest, CompactionRequest, Compare, DeleteRangeRequest,
    InternalAuthenticateRequest, LeaseCheckpoint, LeaseCheckpointRequest, LeaseGrantRequest,
    LeaseRevokeRequest, MemberUpdateRequest, PutRequest, RequestHeader, RequestOp, TxnRequest,
};
use crate::pb::membershippb::{Attributes, ClusterMemberAttrSetRequest, ClusterVersionSetRequest};

/// This member's id in every test.
const ME: u64 = 1;

struct Harness {
    st: State,
    applier: Applier,
    index: u64,
}

fn normal(index: u64, req: Request) -> Entry {
    let r = InternalRaftRequest {
        header: Some(RequestHeader {
            id: index,
            ..Default::default()
        }),
        request: Some(req),
        ..Default::default()
    };
    Entry {
        index,
        term: 2,
        data: r.encode_to_vec().into(),
        ..Default::default()
    }
}

fn conf(index: u64, words: &[&str]) -> Entry {
    let mut cc = ConfChange::default();
    cc.set_change_type(match words[0] {
        "add" => ConfChangeType::AddNode,
        "add-learner" => ConfChangeType::AddLearnerNode,
        "remove" => ConfChangeType::RemoveNode,
        other => panic!("conf {other}?"),
    });
    cc.node_id = words[1].parse().unwrap();
    // `boot` marks a bootstrap entry, which no proposer waits for.
    cc.id = if words.contains(&"boot") { 0 } else { index };
    let member = Member {
        id: cc.node_id,
        peer_ur_ls: words
            .get(2)
            .filter(|w| **w != "boot")
            .map(|u| vec![u.to_string()])
            .unwrap_or_default(),
        is_learner: words[0] == "add-learner",
        ..Default::default()
    };
    cc.context = member.encode_to_vec().into();
    let mut e = Entry::default();
    e.set_entry_type(EntryType::EntryConfChange);
    e.index = index;
    e.term = 1;
    e.data = cc.write_to_bytes().unwrap().into();
    e
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

/// `txn <key> = <value> ? put <k> <v> : put <k> <v>`
fn txn(w: &[&str]) -> TxnRequest {
    assert_eq!(
        (w[2], w[4], w[5], w[8], w[9]),
        ("=", "?", "put", ":", "put")
    );
    let op = |k: &str, v: &str| RequestOp {
        request: Some(request_op::Request::RequestPut(put(k, v))),
    };
    TxnRequest {
        compare: vec![Compare {
            key: w[1].into(),
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Value as i32,
            target_union: Some(compare::TargetUnion::Value(w[3].into())),
            ..Default::default()
        }],
        success: vec![op(w[6], w[7])],
        failure: vec![op(w[10], w[11])],
    }
}

impl Harness {
    fn new() -> Harness {
        Harness {
            st: State::default(),
            applier: Applier::new(ME, ConfState::default(), 0),
            index: 0,
        }
    }

    fn entry(&mut self, line: &str) -> Entry {
        // `as USER@REV CMD…`: the request of USER's token, checked at
        // auth revision REV.
        if let Some(rest) = line.strip_prefix("as ") {
            let (who, cmd) = rest.split_once(' ').unwrap();
            let (user, at) = who.split_once('@').unwrap();
            let mut e = self.entry(cmd);
            let mut r = InternalRaftRequest::decode(&e.data[..]).unwrap();
            let h = r.header.as_mut().unwrap();
            h.username = user.into();
            h.auth_revision = at.parse().unwrap();
            e.data = r.encode_to_vec().into();
            return e;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let i = self.index + 1;
        let req = match w[0] {
            "conf" => return conf(i, &w[1..]),
            "empty" => {
                return Entry {
                    index: i,
                    ..Default::default()
                }
            }
            "put" => Request::Put(PutRequest {
                prev_kv: w.get(3) == Some(&"prev"),
                lease: w
                    .iter()
                    .find_map(|x| x.strip_prefix("lease="))
                    .map_or(0, |l| l.parse().unwrap()),
                ..put(w[1], w[2])
            }),
            "grant" => Request::LeaseGrant(LeaseGrantRequest {
                id: w[1].parse().unwrap(),
                ttl: w[2].parse().unwrap(),
            }),
            "revoke" => Request::LeaseRevoke(LeaseRevokeRequest {
                id: w[1].parse().unwrap(),
            }),
            "checkpoint" => Request::LeaseCheckpoint(LeaseCheckpointRequest {
                checkpoints: vec![LeaseCheckpoint {
                    id: w[1].parse().unwrap(),
                    remaining_ttl: w[2].parse().unwrap(),
                }],
            }),
            "del" => Request::DeleteRange(DeleteRangeRequest {
                key: w[1].into(),
                range_end: w.get(2).map(|e| e.as_bytes().to_vec()).unwrap_or_default(),
                ..Default::default()
            }),
            "txn" => Request::Txn(txn(&w)),
            "compact" => Request::Compaction(CompactionRequest {
                revision: w[1].parse().unwrap(),
                ..Default::default()
            }),
            "publish" => Request::ClusterMemberAttrSet(ClusterMemberAttrSetRequest {
                member_id: w[1].parse().unwrap(),
                member_attributes: Some(Attributes {
                    name: w[2].into(),
                    client_urls: vec![w[3].into()],
                }),
            }),
            "member-update" => Request::OxcdMemberUpdate(MemberUpdateRequest {
                id: w[1].parse().unwrap(),
                peer_ur_ls: vec![w[2].into()],
            }),
            // `v2 METHOD /path [value] [dir] [key=value …]`: a v2 request.
            "v2" => Request::V2(v2_request(&w)),
            "version" => Request::ClusterVersionSet(ClusterVersionSetRequest { ver: w[1].into() }),
            "auth-enable" => Request::AuthEnable(Default::default()),
            "auth-disable" => Request::AuthDisable(Default::default()),
            "auth-status" => Request::AuthStatus(Default::default()),
            "authenticate" => Request::Authenticate(InternalAuthenticateRequest {
                name: w[1].into(),
                simple_token: w[2].into(),
                ..Default::default()
            }),
            "user-add" => Request::AuthUserAdd(AuthUserAddRequest {
                name: w[1].into(),
                hashed_password: "hash".into(),
                ..Default::default()
            }),
            "user-del" => Request::AuthUserDelete(AuthUserDeleteRequest { name: w[1].into() }),
            "user-get" => Request::AuthUserGet(AuthUserGetRequest { name: w[1].into() }),
            "user-list" => Request::AuthUserList(Default::default()),
            "user-grant" => Request::AuthUserGrantRole(AuthUserGrantRoleRequest {
                user: w[1].into(),
                role: w[2].into(),
            }),
            "user-revoke" => Request::AuthUserRevokeRole(AuthUserRevokeRoleRequest {
                name: w[1].into(),
                role: w[2].into(),
            }),
            "role-add" => Request::AuthRoleAdd(AuthRoleAddRequest { name: w[1].into() }),
            "role-del" => Request::AuthRoleDelete(AuthRoleDeleteRequest { role: w[1].into() }),
            "role-get" => Request::AuthRoleGet(AuthRoleGetRequest { role: w[1].into() }),
            "perm-grant" => Request::AuthRoleGrantPermission(AuthRoleGrantPermissionRequest {
                name: w[1].into(),
                perm: Some(crate::pb::authpb::Permission {
                    perm_type: match w[2] {
                        "read" => 0,
                        "write" => 1,
                        _ => 2,
                    },
                    key: w[3].into(),
                    range_end: w.get(4).map(|e| e.as_bytes().to_vec()).unwrap_or_default(),
                }),
            }),
            "perm-revoke" => Request::AuthRoleRevokePermission(AuthRoleRevokePermissionRequest {
                role: w[1].into(),
                key: w[2].into(),
                range_end: w.get(3).map(|e| e.as_bytes().to_vec()).unwrap_or_default(),
            }),
            other => panic!("unknown command {other:?}"),
        };
        normal(i, req)
    }

    /// Applies a block's entries as one batch; renders what came out.
    fn run(&mut self, lines: &[&str]) -> String {
        let mut out = Output::default();
        for line in lines {
            let e = if let Some(rest) = line.strip_prefix("replay ") {
                // An entry the backend already has: skipped.
                let mut e = self.entry(rest);
                e.index = self.applier.applied();
                e
            } else {
                let e = self.entry(line);
                self.index = e.index;
                e
            };
            self.applier.apply(&mut self.st, &e, &mut out);
        }
        self.applier.finish_batch(&mut self.st, &mut out);
        render(&out)
    }
}

fn kv(kv: &crate::pb::mvccpb::KeyValue) -> String {
    let lease = if kv.lease != 0 {
        format!(" lease={}", kv.lease)
    } else {
        String::new()
    };
    format!(
        "{}={} c{} m{} v{}{lease}",
        String::from_utf8_lossy(&kv.key),
        String::from_utf8_lossy(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version
    )
}

fn rev(h: &Option<crate::pb::etcdserverpb::ResponseHeader>) -> i64 {
    h.as_ref().map_or(0, |h| h.revision)
}

fn answer(a: &Answer) -> String {
    fn res<T>(r: &Result<T, ApplyError>, f: impl Fn(&T) -> String) -> String {
        match r {
            Ok(v) => f(v),
            Err(e) => format!("error: {e}"),
        }
    }
    match a {
        Answer::V2(r) => res(r, |a| match a {
            crate::v2http::V2Answer::Event(e) => format!(
                "v2 {} {} index={}",
                e.action.as_str(),
                e.node.as_ref().map_or("", |n| n.key.as_str()),
                e.index()
            ),
            crate::v2http::V2Answer::Error(e) => format!("v2 error {} {}", e.code, e.cause),
            other => format!("v2 {other:?}"),
        }),
        Answer::Put(r) => res(r, |p| match &p.prev_kv {
            Some(prev) => format!("put rev={} prev={}", rev(&p.header), kv(prev)),
            None => format!("put rev={}", rev(&p.header)),
        }),
        Answer::DeleteRange(r) => res(r, |d| {
            format!("delete rev={} deleted={}", rev(&d.header), d.deleted)
        }),
        Answer::Txn(r) => res(r, |t| {
            let ops: Vec<&str> = t
                .responses
                .iter()
                .map(|r| match r.response {
                    Some(response_op::Response::ResponsePut(_)) => "put",
                    Some(response_op::Response::ResponseRange(_)) => "range",
                    Some(response_op::Response::ResponseDeleteRange(_)) => "delete",
                    Some(response_op::Response::ResponseTxn(_)) => "txn",
                    None => "none",
                })
                .collect();
            format!(
                "txn rev={} succeeded={} [{}]",
                rev(&t.header),
                t.succeeded,
                ops.join(" ")
            )
        }),
        Answer::Compaction(r) => res(r, |c| format!("compaction rev={}", rev(&c.header))),
        Answer::LeaseGrant(r) => res(r, |g| {
            format!(
                "lease-grant id={} ttl={} rev={}",
                g.id,
                g.ttl,
                rev(&g.header)
            )
        }),
        Answer::LeaseRevoke(r) => res(r, |g| format!("lease-revoke rev={}", rev(&g.header))),
        Answer::Members(r) => res(r, |ms| {
            let ms: Vec<String> = ms.iter().map(member).collect();
            format!("members [{}]", ms.join(", "))
        }),
        Answer::Done(r) => res(r, |()| "done".into()),
        Answer::Auth(r) => res(r, |a| match a {
            auth::AuthAnswer::Done => "auth done".into(),
            auth::AuthAnswer::Status { enabled, revision } => {
                format!("auth enabled={enabled} revision={revision}")
            }
            auth::AuthAnswer::Token(t) => format!("auth token {t}"),
            auth::AuthAnswer::Names(n) => format!("auth names {n:?}"),
            auth::AuthAnswer::Perms(p) => {
                let p: Vec<String> = p.iter().map(perm).collect();
                format!("auth perms [{}]", p.join(", "))
            }
        }),
    }
}

fn perm(p: &crate::pb::authpb::Permission) -> String {
    format!(
        "{} {}..{}",
        crate::auth::perm_type_name(p.perm_type),
        String::from_utf8_lossy(&p.key),
        String::from_utf8_lossy(&p.range_end).escape_debug()
    )
}

fn member(m: &Member) -> String {
    format!(
        "{}{} {:?} {} {}",
        m.id,
        if m.is_learner { " learner" } else { "" },
        m.name,
        m.peer_ur_ls.join(","),
        m.client_ur_ls.join(",")
    )
}

fn op(o: &BackendOp) -> String {
    match o {
        BackendOp::PutRev {
            rev,
            tombstone,
            kv: v,
        } => {
            format!(
                "put-rev {}/{}{} {}",
                rev.main,
                rev.sub,
                if *tombstone { " tombstone" } else { "" },
                kv(v)
            )
        }
        BackendOp::DeleteRev { rev, tombstone } => {
            format!(
                "delete-rev {}/{}{}",
                rev.main,
                rev.sub,
                if *tombstone { " tombstone" } else { "" }
            )
        }
        BackendOp::SetCompacted(r) => format!("set-compacted {r}"),
        BackendOp::SetMember(m) => format!("set-member {}", member(m)),
        BackendOp::DeleteMember(id) => format!("delete-member {id}"),
        BackendOp::SetConfState(b) => {
            let cs = ConfState::parse_from_bytes(b).unwrap();
            format!(
                "set-conf-state voters={:?} learners={:?}",
                cs.voters, cs.learners
            )
        }
        BackendOp::SetClusterVersion(v) => format!("set-cluster-version {v}"),
        BackendOp::SetStorageVersion => "set-storage-version".into(),
        BackendOp::SetV2Store(b) => {
            let mut store = crate::v2store::Store::new_etcd();
            store.recover(b).expect("a saved store reads back");
            format!("set-v2-store index={}", store.index())
        }
        BackendOp::PutLease(l) => format!(
            "put-lease {} ttl={} remaining={}",
            l.id, l.ttl, l.remaining_ttl
        ),
        BackendOp::DeleteLease(id) => format!("delete-lease {id}"),
        BackendOp::PutAlarm(a) => format!("put-alarm {} {}", a.member_id, a.alarm),
        BackendOp::DeleteAlarm(a) => format!("delete-alarm {} {}", a.member_id, a.alarm),
        BackendOp::SetAuthEnabled(on) => format!("set-auth-enabled {on}"),
        BackendOp::SetAuthRevision(r) => format!("set-auth-revision {r}"),
        BackendOp::PutAuthUser(u) => format!(
            "put-user {} roles={:?} password={}",
            String::from_utf8_lossy(&u.name),
            u.roles,
            String::from_utf8_lossy(&u.password)
        ),
        BackendOp::DeleteAuthUser(n) => format!("delete-user {n}"),
        BackendOp::PutAuthRole(r) => {
            let p: Vec<String> = r.key_permission.iter().map(perm).collect();
            format!(
                "put-role {} [{}]",
                String::from_utf8_lossy(&r.name),
                p.join(", ")
            )
        }
        BackendOp::DeleteAuthRole(n) => format!("delete-role {n}"),
    }
}

fn effect(e: &Effect) -> String {
    match e {
        Effect::ConfChange { cc, conf_state } => format!(
            "conf-change {:?} {} voters={:?} learners={:?}",
            cc.get_change_type(),
            cc.node_id,
            conf_state.voters,
            conf_state.learners
        ),
        Effect::PeerAdded { id, url } => format!("peer-added {id} {url}"),
        Effect::PeerRemoved(id) => format!("peer-removed {id}"),
        Effect::Removed => "removed".into(),
    }
}

fn render(out: &Output) -> String {
    let mut lines = Vec::new();
    for (id, a) in &out.answers {
        lines.push(format!("answer {id}: {}", answer(a)));
    }
    lines.extend(out.ops.iter().map(|o| format!("op {}", op(o))));
    lines.extend(out.effects.iter().map(|e| format!("effect {}", effect(e))));
    if lines.is_empty() {
        lines.push("(nothing)".into());
    }
    lines.join("\n")
}

/// Runs one testdata file; returns it with the outputs as they are now.
fn run_file(text: &str) -> String {
    let mut h = Harness::new();
    let mut rewritten = String::new();
    let mut blocks = text.split("\n\n").peekable();
    while let Some(block) = blocks.next() {
        let block = block.trim_matches('\n');
        if block.is_empty() {
            continue;
        }
        let (input, _) = block.split_once("\n----").unwrap_or((block, ""));
        let lines: Vec<&str> = input
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect();
        rewritten.push_str(input);
        if lines.is_empty() {
            rewritten.push_str("\n\n");
            continue;
        }
        rewritten.push_str("\n----\n");
        rewritten.push_str(&h.run(&lines));
        rewritten.push_str(if blocks.peek().is_some() {
            "\n\n"
        } else {
            "\n"
        });
    }
    rewritten
}

#[test]
fn golden() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/apply/testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "testdata files: {files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let now = run_file(&text);
        if std::env::var_os("REWRITE").is_some() {
            std::fs::write(&path, &now).unwrap();
        } else if now != text {
            let diff: Vec<String> = text
                .lines()
                .zip(now.lines())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| format!("line {}:\n  want {a}\n  got  {b}", i + 1))
                .take(5)
                .collect();
            panic!(
                "{} differs (REWRITE=1 to accept):\n{}\n--- whole output:\n{now}",
                path.display(),
                diff.join("\n")
            );
        }
    }
}

/// `v2 METHOD /path [value] [dir] [prevExist=…] [expiration=…] [time=…]`.
fn v2_request(w: &[&str]) -> crate::pb::etcdserverpb::Request {
    let mut r = crate::pb::etcdserverpb::Request {
        method: w[1].into(),
        path: w[2].into(),
        ..Default::default()
    };
    for x in &w[3..] {
        match x.split_once('=') {
            Some(("prevExist", v)) => r.prev_exist = Some(v == "true"),
            Some(("expiration", v)) => r.expiration = v.parse().unwrap(),
            Some(("time", v)) => r.time = v.parse().unwrap(),
            Some(("recursive", v)) => r.recursive = v == "true",
            _ if *x == "dir" => r.dir = true,
            _ => r.val = x.to_string(),
        }
    }
    r
}
