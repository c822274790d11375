//! The in-memory raft log raft-rs reads through its [`Storage`] trait: the
//! unapplied and recently applied entries (the WAL holds the same ones
//! durably), the hard and conf state, and the latest snapshot.
//!
//! The log starts after a *log start* `(index, term)`: the last entry dropped
//! by compaction or covered by an installed snapshot. Its term is kept, as
//! raft needs it to match the first retained entry.
//!
//! Snapshots are built on demand: when raft needs one for a lagging
//! follower and the latest one is too old, [`LogStore::snapshot`] answers
//! `SnapshotTemporarilyUnavailable` and raises a flag; the raft loop sees the
//! flag, serialises its state at the applied index into a new snapshot, and
//! raft asks again on the follower's next heartbeat response.

use std::sync::Mutex;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

#[derive(Default)]
struct Core {
    hs: HardState,
    cs: ConfState,
    /// `(index, term)` of the entry just before the first retained one.
    start: (u64, u64),
    entries: Vec<Entry>,
    latest_snapshot: Option<Snapshot>,
    snapshot_wanted: bool,
}

impl Core {
    fn last_index(&self) -> u64 {
        self.start.0 + self.entries.len() as u64
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.start.0 {
            return Ok(self.start.1);
        }
        if idx < self.start.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last_index() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(self.entries[(idx - self.start.0 - 1) as usize].term)
    }
}

/// raft-rs's view of the log; mutated only by the raft loop.
#[derive(Default)]
pub struct LogStore {
    core: Mutex<Core>,
}

impl LogStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn core(&self) -> std::sync::MutexGuard<'_, Core> {
        self.core.lock().expect("log store lock")
    }

    pub fn set_hard_state(&self, hs: HardState) {
        self.core().hs = hs;
    }

    pub fn set_commit(&self, commit: u64) {
        self.core().hs.commit = commit;
    }

    pub fn set_conf_state(&self, cs: ConfState) {
        self.core().cs = cs;
    }

    /// Sets where the log starts; drops every entry at or before it.
    pub fn set_start(&self, index: u64, term: u64) {
        let mut c = self.core();
        let keep_from = index.saturating_sub(c.start.0) as usize;
        let keep_from = keep_from.min(c.entries.len());
        c.entries.drain(..keep_from);
        c.start = (index, term);
    }

    pub fn start(&self) -> (u64, u64) {
        self.core().start
    }

    /// Appends entries, replacing any conflicting suffix.
    pub fn append(&self, ents: &[Entry]) {
        let mut c = self.core();
        let start = c.start.0;
        let ents: Vec<&Entry> = ents.iter().filter(|e| e.index > start).collect();
        let Some(first) = ents.first().map(|e| e.index) else {
            return;
        };
        assert!(
            first <= c.last_index() + 1,
            "raft log gap: appending {first} after {}",
            c.last_index()
        );
        let keep = (first - start - 1) as usize;
        c.entries.truncate(keep);
        c.entries.extend(ents.into_iter().cloned());
    }

    /// Drops entries up to and including `index` (which must be applied).
    pub fn compact(&self, index: u64) {
        let mut c = self.core();
        if index <= c.start.0 || index > c.last_index() {
            return;
        }
        let term = c.term(index).expect("index inside the log");
        let n = (index - c.start.0) as usize;
        c.entries.drain(..n);
        c.start = (index, term);
    }

    /// Installs a received snapshot's metadata: the log now starts after it.
    pub fn apply_snapshot(&self, meta: &SnapshotMetadata) {
        let mut c = self.core();
        c.entries.clear();
        c.start = (meta.index, meta.term);
        c.cs = meta.get_conf_state().clone();
        c.hs.commit = c.hs.commit.max(meta.index);
        c.hs.term = c.hs.term.max(meta.term);
    }

    /// Entries after `index` (inclusive of nothing before the log start).
    pub fn entries_after(&self, index: u64) -> Vec<Entry> {
        let c = self.core();
        let from = index.saturating_sub(c.start.0) as usize;
        c.entries[from.min(c.entries.len())..].to_vec()
    }

    pub fn hard_state(&self) -> HardState {
        self.core().hs.clone()
    }

    pub fn term_of(&self, idx: u64) -> Option<u64> {
        self.core().term(idx).ok()
    }

    /// Whether raft asked for a snapshot newer than the latest one.
    pub fn take_snapshot_wanted(&self) -> bool {
        std::mem::take(&mut self.core().snapshot_wanted)
    }

    /// Offers `snap` to raft for lagging followers.
    pub fn set_latest_snapshot(&self, snap: Snapshot) {
        self.core().latest_snapshot = Some(snap);
    }
}

impl Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let c = self.core();
        Ok(RaftState::new(c.hs.clone(), c.cs.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let c = self.core();
        if low <= c.start.0 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        assert!(
            high <= c.last_index() + 1,
            "entries' high {high} is out of bound, last index {}",
            c.last_index()
        );
        let lo = (low - c.start.0 - 1) as usize;
        let hi = (high - c.start.0 - 1) as usize;
        let mut ents = c.entries[lo..hi].to_vec();
        raft::util::limit_size(&mut ents, max_size.into());
        Ok(ents)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.core().term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.core().start.0 + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.core().last_index())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let mut c = self.core();
        if let Some(s) = &c.latest_snapshot {
            let meta = s.get_metadata();
            let cs = meta.get_conf_state();
            // It must cover what the follower asked for, reach the log, and
            // know the follower (raft ignores a snapshot whose configuration
            // lacks the receiver, e.g. one made before it was added).
            let knows = cs.voters.contains(&to) || cs.learners.contains(&to);
            if meta.index >= request_index && meta.index >= c.start.0 && knows {
                return Ok(s.clone());
            }
        }
        c.snapshot_wanted = true;
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(term: u64, index: u64) -> Entry {
        Entry {
            term,
            index,
            ..Default::default()
        }
    }

    #[test]
    fn append_compact_and_terms() {
        let s = LogStore::new();
        s.append(&[e(1, 1), e(1, 2), e(2, 3)]);
        assert_eq!(s.last_index().unwrap(), 3);
        s.append(&[e(3, 3), e(3, 4)]); // conflicting suffix replaced
        assert_eq!(s.term(3).unwrap(), 3);
        s.compact(2);
        assert_eq!(s.first_index().unwrap(), 3);
        assert_eq!(s.term(2).unwrap(), 1, "the log start keeps its term");
        assert!(s.term(1).is_err());
        assert!(s
            .entries(2, 4, None, GetEntriesContext::empty(false))
            .is_err());
        let got = s
            .entries(3, 5, None, GetEntriesContext::empty(false))
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(s.entries_after(3).len(), 1);
    }

    #[test]
    fn snapshot_is_requested_when_missing_or_too_old() {
        let s = LogStore::new();
        s.append(&[e(1, 1), e(1, 2), e(1, 3)]);
        s.compact(3);
        assert!(s.snapshot(0, 2).is_err());
        assert!(s.take_snapshot_wanted());
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = 2;
        snap.mut_metadata().mut_conf_state().voters = vec![1, 2];
        s.set_latest_snapshot(snap.clone());
        assert!(s.snapshot(0, 2).is_err(), "older than the log start");
        snap.mut_metadata().index = 3;
        s.set_latest_snapshot(snap);
        assert_eq!(s.snapshot(3, 2).unwrap().get_metadata().index, 3);
        assert!(s.snapshot(3, 4).is_err(), "made before member 4 was added");
    }

    #[test]
    fn installing_a_snapshot_restarts_the_log() {
        let s = LogStore::new();
        s.append(&[e(1, 1), e(1, 2)]);
        let mut meta = SnapshotMetadata {
            index: 10,
            term: 4,
            ..Default::default()
        };
        meta.mut_conf_state().voters = vec![1, 2, 3];
        s.apply_snapshot(&meta);
        assert_eq!(
            (s.first_index().unwrap(), s.last_index().unwrap()),
            (11, 10)
        );
        assert_eq!(s.term(10).unwrap(), 4);
        assert_eq!(s.hard_state().commit, 10);
        assert_eq!(s.initial_state().unwrap().conf_state.voters, vec![1, 2, 3]);
    }
}
