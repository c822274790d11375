//! The lessor, as etcd's `lease/lessor.go`: leases, the keys attached to
//! them, and — on the leader only — when each one expires.
//!
//! Two kinds of state live here, as in etcd:
//!
//! * **Replicated**, changed only by applying raft entries on every member:
//!   which leases exist, their granted TTL, the last checkpointed remaining
//!   TTL, and which keys are attached ([`Lessor::grant`], [`Lessor::revoke`],
//!   [`Lessor::checkpoint`], [`Lessor::attach`], [`Lessor::detach`]).
//! * **Primary** (leader-only, never replicated): each lease's expiry on this
//!   member's clock. A member becomes primary when, as leader, it has applied
//!   every entry of earlier terms ([`Lessor::promote`]: every lease gets its
//!   TTL plus an election timeout from then, so no lease expires early across
//!   a leader change) and stops being primary when it loses leadership
//!   ([`Lessor::demote`]: every lease lives forever until the next primary).
//!   Only the primary renews ([`Lessor::renew`]) and finds expired leases
//!   ([`Lessor::expired`]), which it revokes through raft.
//!
//! It is sans-IO: time comes in as `now`, the node clock's reading (see
//! `raftnode::NodeClock`: the raft ticker's clock, so a simulated clock fault
//! reaches leases as it reaches elections), and changes go out as
//! [`BackendOp`]s.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::pb::leasepb;
use crate::storage::schema::BackendOp;

/// etcd's `MaxLeaseTTL`: nine billion seconds.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;
/// Most expired leases handed out per call (etcd revokes at most 1000 a
/// second, checking every 500 ms).
pub const REVOKE_RATE: usize = 1000;
/// An expired lease whose revoke did not apply in this long is handed out
/// again (etcd's `expiredLeaseRetryInterval`).
pub const EXPIRED_RETRY: Duration = Duration::from_secs(3);
/// etcd's default lease checkpoint interval.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(300);
/// Most checkpoints in one request (etcd's `maxLeaseCheckpointBatchSize`).
pub const CHECKPOINT_BATCH: usize = 1000;

/// Why a lease operation failed; `Display` is etcd's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseError {
    /// `etcdserver: requested lease not found`
    NotFound,
    /// `etcdserver: lease already exists`
    Exists,
    /// `etcdserver: too large lease TTL`
    TtlTooLarge,
}

impl std::fmt::Display for LeaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LeaseError::NotFound => "etcdserver: requested lease not found",
            LeaseError::Exists => "etcdserver: lease already exists",
            LeaseError::TtlTooLarge => "etcdserver: too large lease TTL",
        })
    }
}

impl std::error::Error for LeaseError {}

/// Why a keep-alive was not answered with a TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenewError {
    /// This member is not the primary lessor: ask the leader.
    NotPrimary,
    NotFound,
    /// The lease expired and its revoke is on its way: ask again once it
    /// applied (then `NotFound`) or leadership moved (then `NotPrimary`).
    Expired,
}

/// How the lessor is configured; every member must agree (the granted TTL
/// is replicated state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LessorConfig {
    /// The smallest TTL granted: etcd's `ceil(1.5 × election timeout)`.
    pub min_ttl: i64,
    /// `--experimental-enable-lease-checkpoint`: the leader replicates each
    /// lease's remaining TTL this often, so a new leader does not reset it.
    pub checkpoint_interval: Option<Duration>,
    /// `--experimental-enable-lease-checkpoint-persist`: checkpoints are
    /// also written to the backend (they survive a restart).
    pub checkpoint_persist: bool,
}

impl LessorConfig {
    /// etcd's minimum TTL, `ceil((3 × election ticks / 2) × heartbeat)`
    /// in seconds (integer ticks, as etcd counts them).
    pub fn min_ttl_for(election_ms: u64, heartbeat_ms: u64) -> i64 {
        let hb = heartbeat_ms.max(1);
        let ms = (3 * (election_ms / hb) / 2) * hb;
        ms.div_ceil(1000) as i64
    }
}

impl Default for LessorConfig {
    /// etcd's defaults: a 1 s election timeout, no checkpoints.
    fn default() -> Self {
        LessorConfig {
            min_ttl: 2,
            checkpoint_interval: None,
            checkpoint_persist: false,
        }
    }
}

/// One lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    /// The granted TTL, in seconds.
    pub ttl: i64,
    /// The last checkpointed remaining TTL (0: none, use `ttl`).
    pub remaining_ttl: i64,
    /// Attached keys, sorted (revoke deletes them in this order on every
    /// member, so their revisions agree).
    pub keys: BTreeSet<Vec<u8>>,
    /// When it expires on the primary's clock; `None`: not primary here.
    expiry: Option<Duration>,
    /// Its key in the primary's expiry queue: its expiry, or once handed
    /// out as expired, when to hand it out again.
    queued: Option<Duration>,
}

impl Lease {
    /// What a promotion or grant refreshes from: the checkpointed remaining
    /// TTL if there is one (etcd's `RemainingTTL`).
    fn refresh_ttl(&self) -> Duration {
        let s = if self.remaining_ttl > 0 {
            self.remaining_ttl
        } else {
            self.ttl
        };
        Duration::from_secs(s.max(0) as u64)
    }

    /// Remaining time at `now`, `None` meaning forever (not primary).
    pub fn remaining(&self, now: Duration) -> Option<Duration> {
        self.expiry.map(|e| e.saturating_sub(now))
    }

    fn persisted(&self) -> leasepb::Lease {
        leasepb::Lease {
            id: self.id,
            ttl: self.ttl,
            remaining_ttl: self.remaining_ttl,
        }
    }
}

/// Leases and their keys; expiries while primary.
#[derive(Default)]
pub struct Lessor {
    cfg: LessorConfig,
    leases: BTreeMap<i64, Lease>,
    /// Each key with a lease, and which.
    items: HashMap<Vec<u8>, i64>,
    /// Primary only: `(expiry, id)` of every lease, soonest first.
    expiries: BTreeSet<(Duration, i64)>,
    /// Primary only: `(due, id)` of scheduled checkpoints.
    checkpoints: BTreeSet<(Duration, i64)>,
    primary: bool,
    ops: Vec<BackendOp>,
}

impl Lessor {
    pub fn new(cfg: LessorConfig) -> Lessor {
        Lessor {
            cfg,
            ..Default::default()
        }
    }

    /// Leases as the backend stored them; keys are attached afterwards by
    /// whoever restores the key space ([`Lessor::attach`]).
    pub fn recover(cfg: LessorConfig, stored: &[leasepb::Lease]) -> Lessor {
        let mut le = Lessor::new(cfg);
        for l in stored {
            le.leases.insert(
                l.id,
                Lease {
                    id: l.id,
                    ttl: l.ttl.max(cfg.min_ttl),
                    remaining_ttl: l.remaining_ttl,
                    keys: BTreeSet::new(),
                    expiry: None,
                    queued: None,
                },
            );
        }
        le
    }

    /// Backend operations produced since the last call.
    pub fn take_ops(&mut self) -> Vec<BackendOp> {
        std::mem::take(&mut self.ops)
    }

    pub fn is_primary(&self) -> bool {
        self.primary
    }

    pub fn lookup(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// The lease `key` is attached to, if any.
    pub fn lease_of(&self, key: &[u8]) -> Option<i64> {
        self.items.get(key).copied()
    }

    /// Applies a grant: `(id, ttl)` of the new lease.
    pub fn grant(&mut self, id: i64, ttl: i64, now: Duration) -> Result<(i64, i64), LeaseError> {
        if id == 0 {
            return Err(LeaseError::NotFound);
        }
        if ttl > MAX_LEASE_TTL {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::Exists);
        }
        let l = Lease {
            id,
            ttl: ttl.max(self.cfg.min_ttl),
            remaining_ttl: 0,
            keys: BTreeSet::new(),
            expiry: None,
            queued: None,
        };
        let granted = (l.id, l.ttl);
        self.ops.push(BackendOp::PutLease(l.persisted()));
        self.leases.insert(id, l);
        if self.primary {
            self.refresh(id, now, Duration::ZERO);
            self.schedule_checkpoint(id, now);
        }
        Ok(granted)
    }

    /// Applies a revoke: forgets the lease and returns its keys, sorted, for
    /// the caller to delete in the same write (etcd deletes them in one txn
    /// with the lease's backend record).
    pub fn revoke(&mut self, id: i64) -> Result<Vec<Vec<u8>>, LeaseError> {
        let l = self.leases.remove(&id).ok_or(LeaseError::NotFound)?;
        if let Some(q) = l.queued {
            self.expiries.remove(&(q, id));
        }
        for k in &l.keys {
            self.items.remove(k);
        }
        self.ops.push(BackendOp::DeleteLease(id));
        Ok(l.keys.into_iter().collect())
    }

    /// Applies a checkpoint: the lease's remaining TTL as the leader saw it
    /// (0 clears it). A new primary refreshes from it.
    pub fn checkpoint(&mut self, id: i64, remaining_ttl: i64, now: Duration) {
        let Some(l) = self.leases.get_mut(&id) else {
            return;
        };
        l.remaining_ttl = remaining_ttl;
        if self.cfg.checkpoint_persist {
            let p = l.persisted();
            self.ops.push(BackendOp::PutLease(p));
        }
        if self.primary {
            self.schedule_checkpoint(id, now);
        }
    }

    /// `key` now belongs to lease `id` (a put with that lease applied).
    pub fn attach(&mut self, id: i64, key: &[u8]) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.keys.insert(key.to_vec());
            self.items.insert(key.to_vec(), id);
        }
    }

    /// `key` belongs to no lease any more (it was deleted, or put again).
    pub fn detach(&mut self, key: &[u8]) {
        if let Some(id) = self.items.remove(key) {
            if let Some(l) = self.leases.get_mut(&id) {
                l.keys.remove(key);
            }
        }
    }

    /// Primary only: a keep-alive. Returns the lease's TTL, and whether its
    /// checkpointed remaining TTL must be cleared through raft (etcd does so,
    /// so the next leader does not resurrect an old remaining TTL).
    pub fn renew(&mut self, id: i64, now: Duration) -> Result<(i64, bool), RenewError> {
        if !self.primary {
            return Err(RenewError::NotPrimary);
        }
        let l = self.leases.get(&id).ok_or(RenewError::NotFound)?;
        if l.remaining(now).is_some_and(|r| r.is_zero()) {
            return Err(RenewError::Expired);
        }
        let clear = self.cfg.checkpoint_interval.is_some() && l.remaining_ttl > 0;
        let ttl = l.ttl;
        if !crate::bugs::active(crate::bugs::Bug::LeaseRenewIgnored) {
            self.set_expiry(id, now + Duration::from_secs(ttl as u64));
        }
        Ok((ttl, clear))
    }

    /// This member became the primary lessor (it leads and applied every
    /// entry of earlier terms): every lease expires `extend` after its
    /// (remaining) TTL from now. With 1000 leases or more, expiries that
    /// would pile up are spread so no second sees more than 750 revokes, as
    /// etcd does.
    pub fn promote(&mut self, now: Duration, extend: Duration) {
        self.primary = true;
        self.expiries.clear();
        self.checkpoints.clear();
        let ids: Vec<i64> = self.leases.keys().copied().collect();
        for &id in &ids {
            self.refresh(id, now, extend);
            self.schedule_checkpoint(id, now);
        }
        if self.leases.len() < REVOKE_RATE {
            return;
        }
        let by_expiry: Vec<(Duration, i64)> = self.expiries.iter().copied().collect();
        let target = (3 * REVOKE_RATE / 4) as u64;
        let mut base = by_expiry[0].0;
        let mut next = base + Duration::from_secs(1);
        let mut expires = 0u64;
        for (expiry, id) in by_expiry {
            if expiry > next {
                base = expiry;
                next = base + Duration::from_secs(1);
                expires = 1;
                continue;
            }
            expires += 1;
            if expires <= target {
                continue;
            }
            // etcd's rateDelay: a second per `target` expiries, less how far
            // ahead of the window's start this lease already is.
            let delay = Duration::from_nanos(1_000_000_000 * expires / target)
                .saturating_sub(expiry - base);
            next = base + delay;
            let new = now + delay + extend + self.leases[&id].refresh_ttl();
            self.set_expiry(id, new);
        }
    }

    /// This member stopped leading: no lease expires here until it is
    /// promoted again.
    pub fn demote(&mut self) {
        self.primary = false;
        self.expiries.clear();
        self.checkpoints.clear();
        for l in self.leases.values_mut() {
            l.expiry = None;
            l.queued = None;
        }
    }

    /// Primary only: up to `limit` leases past their expiry, soonest first.
    /// Each is handed out again [`EXPIRED_RETRY`] later if it is still there
    /// (its revoke may have been lost with a leader change).
    pub fn expired(&mut self, now: Duration, limit: usize) -> Vec<i64> {
        let mut out = Vec::new();
        if !self.primary {
            return out;
        }
        while out.len() < limit {
            let Some(&(expiry, id)) = self.expiries.first() else {
                break;
            };
            if expiry > now {
                break;
            }
            // The lease stays expired; only its place in the queue moves,
            // so the retry finds it.
            self.expiries.pop_first();
            let retry = now + EXPIRED_RETRY;
            self.expiries.insert((retry, id));
            if let Some(l) = self.leases.get_mut(&id) {
                l.queued = Some(retry);
            }
            out.push(id);
        }
        out
    }

    /// Primary only: checkpoints due at `now`, `(id, remaining TTL in whole
    /// seconds, rounded up)`.
    pub fn due_checkpoints(&mut self, now: Duration, limit: usize) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        if !self.primary {
            return out;
        }
        while out.len() < limit {
            let Some(&(due, id)) = self.checkpoints.first() else {
                break;
            };
            if due > now {
                break;
            }
            self.checkpoints.pop_first();
            let Some(rem) = self.leases.get(&id).and_then(|l| l.remaining(now)) else {
                continue;
            };
            let secs = (rem.as_nanos() as i64 + 999_999_999) / 1_000_000_000;
            out.push((id, secs));
        }
        out
    }

    /// Every lease id, soonest expiry first (then by id).
    pub fn leases(&self, now: Duration) -> Vec<i64> {
        let mut ls: Vec<(Option<Duration>, i64)> = self
            .leases
            .values()
            .map(|l| (l.remaining(now), l.id))
            .collect();
        // `None` (forever) sorts last, as etcd's `Remaining` of MaxInt64.
        ls.sort_by_key(|(r, id)| (r.is_none(), *r, *id));
        ls.into_iter().map(|(_, id)| id).collect()
    }

    fn refresh(&mut self, id: i64, now: Duration, extend: Duration) {
        if let Some(l) = self.leases.get(&id) {
            let new = now + extend + l.refresh_ttl();
            self.set_expiry(id, new);
        }
    }

    fn set_expiry(&mut self, id: i64, expiry: Duration) {
        let Some(l) = self.leases.get_mut(&id) else {
            return;
        };
        if let Some(q) = l.queued {
            self.expiries.remove(&(q, id));
        }
        l.expiry = Some(expiry);
        l.queued = Some(expiry);
        self.expiries.insert((expiry, id));
    }

    fn schedule_checkpoint(&mut self, id: i64, now: Duration) {
        let Some(every) = self.cfg.checkpoint_interval else {
            return;
        };
        let Some(l) = self.leases.get(&id) else {
            return;
        };
        if l.refresh_ttl() > every {
            self.checkpoints.insert((now + every, id));
        }
    }
}

#[cfg(test)]
mod tests;
