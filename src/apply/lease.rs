//! The lease domain of the applier: etcd's `applierV3backend` LeaseGrant,
//! LeaseRevoke and LeaseCheckpoint, on the lessor, and keeping the lessor's
//! key attachments in step with the key space.

use std::time::Duration;

use super::{ApplyError, State};
use crate::pb::etcdserverpb::{
    LeaseCheckpointRequest, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, ResponseHeader,
};
use crate::pb::mvccpb::{event, Event};

fn header(st: &State) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision: st.kv.rev(),
        ..Default::default()
    })
}

pub(super) fn grant(
    st: &mut State,
    r: &LeaseGrantRequest,
    now: Duration,
) -> Result<LeaseGrantResponse, ApplyError> {
    let (id, ttl) = st.lessor.grant(r.id, r.ttl, now)?;
    Ok(LeaseGrantResponse {
        header: header(st),
        id,
        ttl,
        error: String::new(),
    })
}

/// Revokes the lease and deletes its keys, sorted, in one revision.
pub(super) fn revoke(
    st: &mut State,
    r: &LeaseRevokeRequest,
) -> Result<LeaseRevokeResponse, ApplyError> {
    let keys = st.lessor.revoke(r.id)?;
    if !keys.is_empty() {
        st.kv.delete_keys(&keys);
    }
    Ok(LeaseRevokeResponse { header: header(st) })
}

pub(super) fn checkpoint(st: &mut State, r: &LeaseCheckpointRequest, now: Duration) {
    for c in &r.checkpoints {
        st.lessor.checkpoint(c.id, c.remaining_ttl, now);
    }
}

/// Attaches and detaches keys by what the last request wrote (etcd's
/// `storeTxnWrite.put` and `delete` do it as they write); the changes, as
/// watch events, go on to the watchers.
pub(super) fn track_changes(st: &mut State, events: &mut Vec<Event>) {
    let changes = st.kv.take_changes();
    for ev in &changes {
        let Some(kv) = &ev.kv else { continue };
        st.lessor.detach(&kv.key);
        if ev.r#type == event::EventType::Put as i32 && kv.lease != 0 {
            st.lessor.attach(kv.lease, &kv.key);
        }
    }
    events.extend(changes);
}
