//! The membership domain of the applier: raft conf changes (their context
//! is the etcd `Member`), published attributes, peer URL updates and the
//! cluster version. A conf change is validated against the same table on
//! every member, so all accept or all refuse it; an accepted one yields the
//! new raft configuration, stored in the same batch, and effects for the
//! raft node (tell raft, add or drop the peer, stop if it is this member).

use prost::Message;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState};

use super::v2::{mirror_member, MemberWrite};
use super::{Answer, ApplyError, Effect, Output, State};
use crate::membership::{MemberChange, MemberError};
use crate::pb::etcdserverpb::{Member, MemberUpdateRequest};
use crate::pb::membershippb::{ClusterMemberAttrSetRequest, ClusterVersionSetRequest};
use crate::storage::schema::BackendOp;

fn member_change(cc: &ConfChange) -> MemberChange {
    match cc.get_change_type() {
        ConfChangeType::AddNode => MemberChange::AddVoter,
        ConfChangeType::AddLearnerNode => MemberChange::AddLearner,
        ConfChangeType::RemoveNode => MemberChange::Remove,
    }
}

/// The raft configuration after `change` of `id` (what raft-rs's
/// `apply_conf_change` returns for a simple change).
fn next_conf_state(cs: &ConfState, change: MemberChange, id: u64) -> ConfState {
    let mut voters: Vec<u64> = cs.voters.iter().copied().filter(|v| *v != id).collect();
    let mut learners: Vec<u64> = cs.learners.iter().copied().filter(|l| *l != id).collect();
    match change {
        MemberChange::AddVoter => voters.push(id),
        MemberChange::AddLearner => learners.push(id),
        MemberChange::Remove => {}
    }
    voters.sort_unstable();
    learners.sort_unstable();
    ConfState::from((voters, learners))
}

/// Applies a conf change entry; the answer for its proposer, if any.
pub(super) fn conf_change(
    st: &mut State,
    conf_state: &mut ConfState,
    me: u64,
    cc: ConfChange,
    out: &mut Output,
) -> Option<(u64, Answer)> {
    let member = Member::decode(&cc.context[..]).unwrap_or(Member {
        id: cc.node_id,
        ..Default::default()
    });
    assert_eq!(
        member.id, cc.node_id,
        "a conf change's context is its member"
    );
    let change = member_change(&cc);
    let res = st.cluster.validate_change(change, &member);
    if res.is_ok() {
        let existed = st.cluster.member(member.id).is_some();
        let op = st.cluster.apply_change(change, &member);
        mirror(st, &op, !existed, out);
        out.ops.push(op);
        *conf_state = next_conf_state(conf_state, change, member.id);
        let encoded = conf_state
            .write_to_bytes()
            .expect("a ConfState always encodes");
        out.ops.push(BackendOp::SetConfState(encoded));
        out.effects.push(Effect::ConfChange {
            cc: cc.clone(),
            conf_state: conf_state.clone(),
        });
        out.effects.push(match (change, member.id == me) {
            (MemberChange::Remove, true) => Effect::Removed,
            (MemberChange::Remove, false) => Effect::PeerRemoved(member.id),
            _ => match member.peer_ur_ls.first() {
                Some(url) if member.id != me => Effect::PeerAdded {
                    id: member.id,
                    url: url.clone(),
                },
                // This member itself, or one without a URL: nothing to dial.
                _ => return answer(st, &cc, res),
            },
        });
    }
    answer(st, &cc, res)
}

fn answer(st: &State, cc: &ConfChange, res: Result<(), MemberError>) -> Option<(u64, Answer)> {
    // The bootstrap entries carry no proposal id.
    (cc.id != 0).then(|| {
        let res = res.map(|()| st.cluster.list()).map_err(ApplyError::Member);
        (cc.id, Answer::Members(res))
    })
}

/// etcd's `ClusterMemberAttrSet` (a member's `publish`).
pub(super) fn set_attributes(st: &mut State, r: &ClusterMemberAttrSetRequest, out: &mut Output) {
    let attrs = r.member_attributes.clone().unwrap_or_default();
    if let Some(op) = st
        .cluster
        .set_attributes(r.member_id, &attrs.name, &attrs.client_urls)
    {
        let w = MemberWrite::Attributes {
            id: r.member_id,
            name: &attrs.name,
            client_urls: &attrs.client_urls,
        };
        mirror_member(st, w, out);
        out.ops.push(op);
    }
}

/// Mirrors a member change into the v2 store, as etcd 3.4 keeps it there.
fn mirror(st: &mut State, op: &BackendOp, new: bool, out: &mut Output) {
    let w = match op {
        BackendOp::SetMember(m) => MemberWrite::Raft {
            id: m.id,
            peer_urls: &m.peer_ur_ls,
            is_learner: m.is_learner,
            new,
        },
        BackendOp::DeleteMember(id) => MemberWrite::Removed(*id),
        _ => return,
    };
    mirror_member(st, w, out);
}

/// etcd's MemberUpdate (a raft UpdateNode conf change in etcd).
pub(super) fn update_peer_urls(
    st: &mut State,
    r: &MemberUpdateRequest,
    out: &mut Output,
) -> Result<Vec<Member>, ApplyError> {
    // Like oxcd before, the transport keeps the old URL until a restart
    // (etcd updates its peer at once: a later change).
    let op = st.cluster.update_peer_urls(r.id, &r.peer_ur_ls)?;
    mirror(st, &op, false, out);
    out.ops.push(op);
    Ok(st.cluster.list())
}

/// etcd's `ClusterVersionSet`.
pub(super) fn set_version(st: &mut State, r: &ClusterVersionSetRequest, out: &mut Output) {
    if let Some(op) = st.cluster.set_version(&r.ver) {
        mirror_member(st, MemberWrite::Version(&r.ver), out);
        out.ops.push(op);
    }
}
