//! Snapshots and log compaction.
//!
//! Every `--snapshot-count` applied entries the backend is flushed and the
//! log (in memory and in the WAL) is cut to the last
//! [`SNAPSHOT_CATCHUP_ENTRIES`] entries. A follower that needs entries from
//! before the cut gets a snapshot instead: the backend's pairs at the
//! leader's applied index, built on demand ([`crate::storage::logstore`])
//! from a backend checkpoint, off the raft loop, and streamed in chunks by
//! the transport. The receiver replaces its
//! backend (durably, with a marker), then records the new log start in its
//! WAL. Recovery trusts the backend's marker if the WAL record was lost.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message as _;
use raft::eraftpb::Snapshot;

use super::{RaftCmd, RaftNode};
use crate::apply::State;
use crate::storage::backend::SnapshotData;

/// Entries kept behind a compaction for slow followers (etcd's
/// `SnapshotCatchUpEntries`), unless `--snapshot-count` is smaller.
pub const SNAPSHOT_CATCHUP_ENTRIES: u64 = 5000;

/// Snapshots installed by every member in this process (a figure for
/// simulation reports).
static SNAPSHOTS_INSTALLED: AtomicU64 = AtomicU64::new(0);

/// How many snapshots members in this process have installed.
pub fn snapshots_installed() -> u64 {
    SNAPSHOTS_INSTALLED.load(Ordering::Relaxed)
}

impl RaftNode {
    /// Starts building a snapshot of the backend at the applied index, for
    /// followers whose entries were compacted away. The loop only takes a
    /// checkpoint (cheap, between two commits); reading and encoding it run
    /// off the loop, and the result comes back as `RaftCmd::SnapshotBuilt`.
    /// Meanwhile raft is told the snapshot is temporarily unavailable and
    /// asks again.
    pub(super) async fn make_snapshot(&mut self) -> io::Result<()> {
        if self.snapshot_building {
            return Ok(());
        }
        let Some(tx) = self.snapshot_tx.clone() else {
            return Ok(());
        };
        let applied = self.applier.applied();
        let mut meta = raft::eraftpb::SnapshotMetadata {
            index: applied,
            ..Default::default()
        };
        meta.term = self
            .raw
            .store()
            .term_of(applied)
            .ok_or_else(|| io::Error::other(format!("no term for applied index {applied}")))?;
        meta.set_conf_state(self.raw.raft.prs().conf().to_conf_state());
        // The snapshot is of the applied index: the checkpoint is taken
        // once the backend holds it.
        self.send_backend_batch().await?;
        let (reply, checkpoint) = tokio::sync::oneshot::channel();
        self.committer().checkpoint(reply).await?;
        self.snapshot_building = true;
        tokio::spawn(async move {
            let checkpoint = match checkpoint.await {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("the backend committer stopped".to_string()),
            };
            let built = crate::rt::blocking(move || {
                let checkpoint = checkpoint?;
                let pairs = checkpoint.pairs().map_err(|e| e.to_string())?;
                let mut snap = Snapshot {
                    data: SnapshotData { pairs }.encode_to_vec().into(),
                    ..Default::default()
                };
                snap.set_metadata(meta);
                Ok(snap)
            })
            .await;
            if let Some(tx) = tx.upgrade() {
                let _ = tx.send(RaftCmd::SnapshotBuilt(Box::new(built))).await;
            }
        });
        Ok(())
    }

    /// A snapshot built off the loop is ready for raft to send.
    pub(super) fn snapshot_built(&mut self, built: Result<Snapshot, String>) {
        self.snapshot_building = false;
        match built {
            Ok(snap) => {
                tracing::info!(
                    index = snap.get_metadata().index,
                    bytes = snap.data.len(),
                    "made a snapshot for a lagging follower"
                );
                self.raw.store().set_latest_snapshot(snap);
            }
            Err(e) => tracing::warn!(error = %e, "failed to make a snapshot; raft will ask again"),
        }
    }

    /// Installs a snapshot from the leader: backend first (durably, with a
    /// marker), then the in-memory state, then the WAL's log start.
    pub(super) async fn install_snapshot(&mut self, snap: &Snapshot) -> io::Result<()> {
        let meta = snap.get_metadata();
        let data = SnapshotData::decode(&snap.data[..]).map_err(io::Error::other)?;
        tracing::info!(
            index = meta.index,
            term = meta.term,
            "installing a snapshot from the leader"
        );
        // What the batch holds is older than the snapshot, which replaces
        // it all; committed first, so nothing of it lands on top later.
        self.sync_backend().await?;
        self.backend
            .install_snapshot(data.pairs, meta.index, meta.term)?;
        let loaded = self.backend.load()?;
        // Only a follower installs a snapshot: its lessor is not primary.
        let mut state = State::recover(loaded, self.lessor, &self.auth_tokens);
        // The tokens are this member's, not the snapshot's: clients keep
        // theirs (unless auth is off in the new state).
        {
            let mut old = self.handle.shared.write().expect("state lock");
            let on = state.auth.is_enabled();
            state.auth.tokens = std::mem::take(&mut old.state.auth.tokens);
            state.auth.tokens.set_enabled(on);
        }
        // Every watcher catches up on the new history (or is cancelled as
        // compacted), as etcd's `watchableStore.Restore` has them do.
        self.handle.watchable.restore(state.kv.rev());
        self.handle.shared.write().expect("state lock").state = state;
        self.applier
            .reset(meta.get_conf_state().clone(), meta.index);
        self.add_member_peers();
        self.note_learner();
        self.compacted_at = meta.index;
        self.waiters.sweep();
        self.raw.store().apply_snapshot(meta);
        self.wal.set_log_start(meta.index, meta.term);
        SNAPSHOTS_INSTALLED.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Cuts the log behind the applied index, keeping some entries for slow
    /// followers; the backend is flushed first, so every entry cut is in it.
    pub(super) async fn compact(&mut self) -> io::Result<()> {
        self.sync_backend().await?;
        let applied = self.applier.applied();
        let keep = self.snapshot_count.min(SNAPSHOT_CATCHUP_ENTRIES);
        let store = self.raw.store();
        store.compact(applied.saturating_sub(keep));
        let start = store.start();
        self.wal
            .rewrite(&store.hard_state(), start, &store.entries_after(start.0))?;
        self.compacted_at = applied;
        Ok(())
    }
}
