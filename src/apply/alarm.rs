//! The alarm domain of the applier: etcd's `applierV3backend.Alarm`, the
//! capped applier NOSPACE installs, the corrupt applier CORRUPT installs,
//! and the quota applier that answers NOSPACE for a write that took the
//! backend past its quota.
//!
//! etcd swaps its applier when an alarm is raised or the last of a kind
//! disarmed; here the gate is read from the replicated alarm set on every
//! request, which gives the same answers and needs no restore step after a
//! restart or a snapshot.

use super::{ApplyError, State};
use crate::pb::etcdserverpb::{
    alarm_request::AlarmAction, internal_raft_request::Request, AlarmMember, AlarmRequest,
    AlarmResponse, AlarmType, PutRequest, RequestOp, TxnRequest,
};

/// etcd's `kvOverhead`: what a put is taken to cost beyond its key and value.
const KV_OVERHEAD: u64 = 256;
/// etcd's `leaseOverhead`.
const LEASE_OVERHEAD: u64 = 64;

fn cost_put(r: &PutRequest) -> u64 {
    KV_OVERHEAD + r.key.len() as u64 + r.value.len() as u64
}

fn cost_ops(ops: &[RequestOp]) -> u64 {
    use crate::pb::etcdserverpb::request_op::Request as Op;
    ops.iter()
        .map(|op| match &op.request {
            Some(Op::RequestPut(p)) => cost_put(p),
            _ => 0,
        })
        .sum()
}

/// etcd's `costTxn`: the costlier branch's puts (nested txns cost nothing,
/// as in etcd).
fn cost_txn(r: &TxnRequest) -> u64 {
    cost_ops(&r.success).max(cost_ops(&r.failure))
}

/// What a request may add to the backend, as etcd's `backendQuota.Cost`
/// counts it: only puts, txns with puts and lease grants cost anything.
pub fn cost(req: &Request) -> u64 {
    match req {
        Request::Put(p) => cost_put(p),
        Request::Txn(t) => cost_txn(t),
        Request::LeaseGrant(_) => LEASE_OVERHEAD,
        _ => 0,
    }
}

/// etcd's `DefaultQuotaBytes`: 2 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 2 << 30;

/// The quota `--quota-backend-bytes` sets: 0 is the default, a negative
/// value none (etcd's `NewBackendQuota`).
pub fn quota_max(flag: i64) -> Option<u64> {
    match flag {
        0 => Some(DEFAULT_QUOTA_BYTES),
        n if n < 0 => None,
        n => Some(n as u64),
    }
}

/// The backend quota as a member applies and serves with it: its size now
/// and `--quota-backend-bytes` (`None`: disabled by a negative flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    pub backend_bytes: u64,
    pub max: Option<u64>,
}

impl Quota {
    /// etcd's `backendQuota.Available`: a request that costs nothing always
    /// fits; one that does must leave the backend strictly under the quota.
    pub fn available(&self, cost: u64) -> bool {
        match self.max {
            _ if cost == 0 => true,
            None => true,
            Some(max) => self.backend_bytes + cost < max,
        }
    }
}

/// A write's answer under etcd's quota applier: applied either way, and
/// answered NOSPACE when it did not fit.
pub(super) fn over_quota<T>(fits: bool, r: Result<T, ApplyError>) -> Result<T, ApplyError> {
    r.and_then(|r| {
        if fits {
            Ok(r)
        } else {
            Err(ApplyError::NoSpace)
        }
    })
}

/// Applies an alarm request (etcd's `applierV3backend.Alarm`). etcd
/// answers without a header; a GET lists the alarms of its type (all for
/// NONE), ACTIVATE and DEACTIVATE the alarm they changed.
pub(super) fn apply(st: &mut State, r: &AlarmRequest) -> AlarmResponse {
    let mut resp = AlarmResponse::default();
    match AlarmAction::try_from(r.action) {
        Ok(AlarmAction::Get) => resp.alarms = st.alarms.get(r.alarm),
        Ok(AlarmAction::Activate) => {
            let (m, first) = st.alarms.activate(r.member_id, r.alarm);
            if first {
                log_alarm("alarm raised", &m);
            }
            resp.alarms.push(m);
        }
        Ok(AlarmAction::Deactivate) => {
            if let Some((m, last)) = st.alarms.deactivate(r.member_id, r.alarm) {
                if last {
                    log_alarm("alarm disarmed", &m);
                }
                resp.alarms.push(m);
            }
        }
        // etcd returns nil for an action it does not know: an empty answer.
        Err(_) => {}
    }
    resp
}

fn log_alarm(what: &str, m: &AlarmMember) {
    let alarm = AlarmType::try_from(m.alarm).map_or("UNKNOWN", |a| a.as_str_name());
    let from = format!("{:x}", m.member_id);
    tracing::warn!(alarm, from, "{what}");
}

/// The raised alarms' refusal of a request, before it is applied: CORRUPT
/// refuses every write (etcd's `applierV3Corrupt`), NOSPACE what would
/// grow the backend (etcd's `applierV3Capped`: puts, txns with puts, lease
/// grants).
pub(super) fn gate(st: &State, req: &Request) -> Result<(), ApplyError> {
    if st.alarms.is_raised(AlarmType::Corrupt as i32)
        && matches!(
            req,
            Request::Put(_)
                | Request::DeleteRange(_)
                | Request::Txn(_)
                | Request::Compaction(_)
                | Request::LeaseGrant(_)
                | Request::LeaseRevoke(_)
        )
    {
        return Err(ApplyError::Corrupt);
    }
    if st.alarms.is_raised(AlarmType::Nospace as i32) && cost(req) > 0 {
        return Err(ApplyError::NoSpace);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::etcdserverpb::{request_op, LeaseGrantRequest};

    fn put(key: &str, value: usize) -> PutRequest {
        PutRequest {
            key: key.into(),
            value: vec![0; value],
            ..Default::default()
        }
    }

    #[test]
    fn costs_are_etcds() {
        let op = |p: PutRequest| RequestOp {
            request: Some(request_op::Request::RequestPut(p)),
        };
        assert_eq!(cost(&Request::Put(put("ab", 10))), 268);
        let t = TxnRequest {
            success: vec![op(put("a", 1)), op(put("b", 1))],
            failure: vec![op(put("c", 100))],
            ..Default::default()
        };
        assert_eq!(cost(&Request::Txn(t)), 516);
        assert_eq!(cost(&Request::LeaseGrant(LeaseGrantRequest::default())), 64);
        assert_eq!(cost(&Request::Txn(TxnRequest::default())), 0);
        let q = Quota {
            backend_bytes: 1000,
            max: Some(1300),
        };
        assert!(q.available(299) && !q.available(300) && q.available(0));
        assert!(Quota { max: None, ..q }.available(1 << 40));
    }
}
