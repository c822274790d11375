//! Proposals waiting for their entries to apply, keyed by proposal id and
//! typed by what they wait for: an [`Answer`] can only reach a waiter of its
//! own kind, so a put's caller gets a `PutResponse` by construction.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

use crate::apply::auth::AuthAnswer;
use crate::apply::{Answer, ApplyError};
use crate::pb::etcdserverpb::{
    AlarmResponse, CompactionResponse, DeleteRangeResponse, LeaseGrantResponse,
    LeaseRevokeResponse, Member, PutResponse, TxnResponse,
};
use crate::v2http::V2Answer;

/// Why a proposal got no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// No leader to take it (raft dropped the proposal).
    NoLeader,
    /// Another membership change is still being applied.
    ConfChangePending,
    /// It applied, and was refused.
    Refused(ApplyError),
}

/// Where a proposal's result goes.
pub type Reply<T> = oneshot::Sender<Result<T, ProposeError>>;

/// A proposer, by the kind of result it waits for.
pub enum Waiter {
    Put(Reply<PutResponse>),
    DeleteRange(Reply<DeleteRangeResponse>),
    Txn(Reply<TxnResponse>),
    Compaction(Reply<CompactionResponse>),
    LeaseGrant(Reply<LeaseGrantResponse>),
    LeaseRevoke(Reply<LeaseRevokeResponse>),
    Members(Reply<Vec<Member>>),
    Done(Reply<()>),
    Auth(Reply<AuthAnswer>),
    V2(Reply<V2Answer>),
    Alarm(Reply<AlarmResponse>),
}

impl Waiter {
    /// Answers without waiting for an entry (the proposal was not taken).
    pub fn fail(self, e: ProposeError) {
        match self {
            Waiter::Put(r) => drop(r.send(Err(e))),
            Waiter::DeleteRange(r) => drop(r.send(Err(e))),
            Waiter::Txn(r) => drop(r.send(Err(e))),
            Waiter::Compaction(r) => drop(r.send(Err(e))),
            Waiter::LeaseGrant(r) => drop(r.send(Err(e))),
            Waiter::LeaseRevoke(r) => drop(r.send(Err(e))),
            Waiter::Members(r) => drop(r.send(Err(e))),
            Waiter::Done(r) => drop(r.send(Err(e))),
            Waiter::Auth(r) => drop(r.send(Err(e))),
            Waiter::V2(r) => drop(r.send(Err(e))),
            Waiter::Alarm(r) => drop(r.send(Err(e))),
        }
    }
}

/// Waiters of one result type. Ordered: dropping them on shutdown wakes
/// their callers in this order, which a simulation replay must repeat.
struct Wait<T>(BTreeMap<u64, Reply<T>>);

impl<T> Default for Wait<T> {
    fn default() -> Self {
        Wait(BTreeMap::new())
    }
}

impl<T> Wait<T> {
    fn insert(&mut self, id: u64, r: Reply<T>) {
        let earlier = self.0.insert(id, r);
        assert!(earlier.is_none(), "proposal ids are unique ({id})");
    }

    fn answer(&mut self, id: u64, res: Result<T, ApplyError>) {
        if let Some(reply) = self.0.remove(&id) {
            let _ = reply.send(res.map_err(ProposeError::Refused));
        }
    }

    fn sweep(&mut self) {
        self.0.retain(|_, r| !r.is_closed());
    }
}

/// Every waiting proposal of this member.
#[derive(Default)]
pub struct Waiters {
    put: Wait<PutResponse>,
    delete_range: Wait<DeleteRangeResponse>,
    txn: Wait<TxnResponse>,
    compaction: Wait<CompactionResponse>,
    lease_grant: Wait<LeaseGrantResponse>,
    lease_revoke: Wait<LeaseRevokeResponse>,
    members: Wait<Vec<Member>>,
    done: Wait<()>,
    auth: Wait<AuthAnswer>,
    v2: Wait<V2Answer>,
    alarm: Wait<AlarmResponse>,
}

impl Waiters {
    pub fn insert(&mut self, id: u64, w: Waiter) {
        match w {
            Waiter::Put(r) => self.put.insert(id, r),
            Waiter::DeleteRange(r) => self.delete_range.insert(id, r),
            Waiter::Txn(r) => self.txn.insert(id, r),
            Waiter::Compaction(r) => self.compaction.insert(id, r),
            Waiter::LeaseGrant(r) => self.lease_grant.insert(id, r),
            Waiter::LeaseRevoke(r) => self.lease_revoke.insert(id, r),
            Waiter::Members(r) => self.members.insert(id, r),
            Waiter::Done(r) => self.done.insert(id, r),
            Waiter::Auth(r) => self.auth.insert(id, r),
            Waiter::V2(r) => self.v2.insert(id, r),
            Waiter::Alarm(r) => self.alarm.insert(id, r),
        }
    }

    /// Delivers an applied entry's answer to its proposer, if it is here
    /// (entries proposed by other members have no waiter on this one).
    pub fn answer(&mut self, id: u64, a: Answer) {
        match a {
            Answer::Put(r) => self.put.answer(id, r),
            Answer::DeleteRange(r) => self.delete_range.answer(id, r),
            Answer::Txn(r) => self.txn.answer(id, r),
            Answer::Compaction(r) => self.compaction.answer(id, r),
            Answer::LeaseGrant(r) => self.lease_grant.answer(id, r),
            Answer::LeaseRevoke(r) => self.lease_revoke.answer(id, r),
            Answer::Members(r) => self.members.answer(id, r),
            Answer::Done(r) => self.done.answer(id, r),
            Answer::Auth(r) => self.auth.answer(id, r),
            Answer::V2(r) => self.v2.answer(id, r),
            Answer::Alarm(r) => self.alarm.answer(id, r),
        }
    }

    /// Drops waiters whose callers gave up (their entries may never apply
    /// here, e.g. when a snapshot skipped them).
    pub fn sweep(&mut self) {
        self.put.sweep();
        self.delete_range.sweep();
        self.txn.sweep();
        self.compaction.sweep();
        self.lease_grant.sweep();
        self.lease_revoke.sweep();
        self.members.sweep();
        self.done.sweep();
        self.auth.sweep();
        self.v2.sweep();
        self.alarm.sweep();
    }
}
