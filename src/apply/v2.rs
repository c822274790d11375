//! v2 requests (`--enable-v2`): etcd's `applyV2Request` on the member's v2
//! store. What changed the store marks the batch, so the raft loop saves
//! the store once with the batch's backend writes and wakes the v2
//! watchers once.

use crate::pb::etcdserverpb::Request;
use crate::v2http::{apply_v2_request, V2Answer};

use super::{Output, State};
use crate::storage::schema::BackendOp;

pub(super) fn apply(st: &mut State, r: &Request, unix_now: i64, out: &mut Output) -> V2Answer {
    let answer = apply_v2_request(&mut st.v2, r, unix_now);
    // A QGET reads; a refused write changes nothing but the stats, which
    // etcd does not persist either.
    let changed = match &answer {
        V2Answer::Event(_) => r.method != "QGET",
        V2Answer::Synced => true,
        _ => false,
    };
    out.v2_changed |= changed;
    answer
}

/// Saves the store once for a batch that changed it. Every waiting watcher
/// polls its own mailbox when the raft loop wakes them, so the hub's list
/// of ready ones is only cleared.
pub(super) fn finish_batch(st: &mut State, out: &mut Output) {
    if out.v2_changed {
        out.ops.push(BackendOp::SetV2Store(st.v2.save()));
        let _ = st.v2.take_ready_watchers();
    }
}

/// etcd 3.4 keeps its membership in the v2 store too (`/0/members/<id>/
/// raftAttributes` and `…/attributes`, `/0/removed_members/<id>`,
/// `/0/version`): invisible to v2 clients (their keys live under `/1`),
/// but every write moves the store's index, which every v2 answer shows.
/// Mirroring them keeps oxcd's `X-Etcd-Index` and error indexes the same as
/// etcd's for the same history.
pub(super) enum MemberWrite<'a> {
    /// A member added, or its peer URLs or learner flag changed.
    Raft {
        id: u64,
        peer_urls: &'a [String],
        is_learner: bool,
        new: bool,
    },
    /// A member published its name and client URLs.
    Attributes {
        id: u64,
        name: &'a str,
        client_urls: &'a [String],
    },
    Removed(u64),
    Version(&'a str),
}

pub(super) fn mirror_member(st: &mut State, w: MemberWrite<'_>, out: &mut Output) {
    use crate::v2store::json::{push_key, push_str, push_str_list};
    use crate::v2store::TtlOptions;
    let never = TtlOptions::default();
    let store = &mut st.v2;
    // Results are ignored as etcd's `must…` helpers would panic on them:
    // the membership table refused anything that could fail here.
    let _ = match w {
        MemberWrite::Raft {
            id,
            peer_urls,
            is_learner,
            new,
        } => {
            let path = format!("/0/members/{id:x}/raftAttributes");
            let mut v = String::from("{");
            push_key(&mut v, "peerURLs");
            push_str_list(&mut v, peer_urls);
            if is_learner {
                v.push_str(",\"isLearner\":true");
            }
            v.push('}');
            if new {
                store.create(&path, false, &v, false, never, 0)
            } else {
                store.update(&path, &v, never, 0)
            }
        }
        MemberWrite::Attributes {
            id,
            name,
            client_urls,
        } => {
            let mut v = String::from("{");
            if !name.is_empty() {
                push_key(&mut v, "name");
                push_str(&mut v, name);
            }
            if !client_urls.is_empty() {
                if v.len() > 1 {
                    v.push(',');
                }
                push_key(&mut v, "clientURLs");
                push_str_list(&mut v, client_urls);
            }
            v.push('}');
            let path = format!("/0/members/{id:x}/attributes");
            store.set(&path, false, &v, never, 0)
        }
        MemberWrite::Removed(id) => {
            let _ = store.delete(&format!("/0/members/{id:x}"), true, true, 0);
            store.create(
                &format!("/0/removed_members/{id:x}"),
                false,
                "",
                false,
                never,
                0,
            )
        }
        MemberWrite::Version(v) => store.set("/0/version", false, v, never, 0),
    };
    out.v2_changed = true;
}
