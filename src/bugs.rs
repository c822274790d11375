//! Deliberately wrong server behaviours, so the simulator's tests can show
//! that they catch real bugs. With the `bugs` feature off (every normal
//! build) [`active`] is a constant `false` and the checks compile away; with
//! it on, a test process switches one bug on with [`inject`] before starting
//! its cluster.

/// A wrong behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Bug {
    /// The WAL writes records but never fsyncs them, so replies go out
    /// before the data is durable.
    AckBeforeFsync = 1,
    /// Recovery forgets the backend's consistent index and re-applies the
    /// whole WAL on top of the restored state.
    ForgetConsistentIndex = 2,
    /// Txn compares read the store as of the previous revision.
    StaleTxnCompare = 3,
    /// Compaction also drops each key's live version when it is at or below
    /// the compaction point (off by one in `KeyIndex::compact`).
    CompactionRemovesLiveVersion = 4,
    /// Txn compares `>` and `<` swapped.
    InvertedCompare = 5,
    /// A put's `prev_kv` is the pair it wrote, not the one it replaced.
    WrongPrevKv = 6,
    /// A range delete treats `range_end` as inclusive.
    DeleteRangeOffByOne = 7,
    /// The Ready loop sends the messages that must wait for the WAL's fsync
    /// (votes, append acknowledgements) before it.
    SendBeforeFsync = 8,
    /// Linearizable reads skip ReadIndex and read local state.
    SkipReadIndex = 9,
    /// A key put again after a delete carries on its old version count.
    VersionNotReset = 10,
    /// A keep-alive is answered with the TTL, but the lease's expiry is not
    /// pushed back (the renewal is lost on the leader).
    LeaseRenewIgnored = 11,
    /// A watcher catching up from history starts one revision after the
    /// one it needs next (off by one in `WatchableStore::sync`).
    WatchSyncOffByOne = 12,
    /// A queued Lock returns once the key just before its own is deleted,
    /// without looking again for earlier keys (so a waiter that gives up
    /// hands the lock on while the holder still holds it).
    LockWaitsOnlyPredecessor = 13,
    /// A progress request is answered with the current revision at once,
    /// without waiting for the stream's watchers to catch up (etcd 3.4's
    /// own behaviour, which 3.5 fixed).
    ProgressBeforeSync = 14,
    /// The auth store remembers each permission decision per user and
    /// forgets them only when the user changes, not when a role's
    /// permissions do (a stale permission cache: a revoke does not take).
    StalePermCache = 15,
}

impl Bug {
    pub const ALL: [Bug; 15] = [
        Bug::AckBeforeFsync,
        Bug::ForgetConsistentIndex,
        Bug::StaleTxnCompare,
        Bug::CompactionRemovesLiveVersion,
        Bug::InvertedCompare,
        Bug::WrongPrevKv,
        Bug::DeleteRangeOffByOne,
        Bug::SendBeforeFsync,
        Bug::SkipReadIndex,
        Bug::VersionNotReset,
        Bug::LeaseRenewIgnored,
        Bug::WatchSyncOffByOne,
        Bug::LockWaitsOnlyPredecessor,
        Bug::ProgressBeforeSync,
        Bug::StalePermCache,
    ];

    /// The bug called `name` (its variant's name).
    pub fn named(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| format!("{b:?}") == name)
    }
}

#[cfg(feature = "bugs")]
static ACTIVE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Switches `bug` on for this process.
#[cfg(feature = "bugs")]
pub fn inject(bug: Bug) {
    ACTIVE.store(bug as u8, std::sync::atomic::Ordering::SeqCst);
}

/// Switches every bug off again (for a control run of the same seed).
#[cfg(feature = "bugs")]
pub fn clear() {
    ACTIVE.store(0, std::sync::atomic::Ordering::SeqCst);
}

/// Whether `bug` is switched on.
#[inline]
pub fn active(bug: Bug) -> bool {
    #[cfg(feature = "bugs")]
    {
        ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == bug as u8
    }
    #[cfg(not(feature = "bugs"))]
    {
        let _ = bug;
        false
    }
}
