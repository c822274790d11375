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
