//! Starting a raft node, as etcd's `bootstrap.go`: a new cluster's log, or
//! recovery from the WAL and the backend, with the checks that they belong
//! together.
//!
//! **A new cluster's log** starts as etcd's does: one committed
//! `ConfChangeAddNode` entry per initial member (term 1), so every member —
//! and any member that joins later and replays the log — builds the member
//! table by applying entries.
//!
//! **Recovery** trusts the WAL: the backend may have lost batches committed
//! since its last flush (they are applied again from the log), but it must
//! never be ahead of the WAL, nor behind the WAL's first entry.

use std::io;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState};
use raft::{Config, RawNode};

use super::{RaftHandle, RaftNode, RaftStatus, Shared};
use crate::apply::{Applier, State};
use crate::lease::LessorConfig;
use crate::membership::log_cluster_version;
use crate::mvcc::watchable_store::WatchableStore;
use crate::pb::etcdserverpb::Member;
use crate::rt::disk::Disk;
use crate::storage::backend::Backend;
use crate::storage::logstore::LogStore;
use crate::storage::schema::{BackendOp, Loaded, STORAGE_VERSION};
use crate::storage::wal::{Wal, WalState};

/// This member was removed from the cluster (found at start-up in its own
/// data dir); `Display` is etcd's message.
#[derive(Debug)]
pub struct MemberRemoved;

impl std::fmt::Display for MemberRemoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the member has been permanently removed from the cluster")
    }
}

impl std::error::Error for MemberRemoved {}

/// Static configuration of one node.
pub struct NodeConfig {
    pub id: u64,
    pub cluster_id: u64,
    /// The members a new cluster starts with (ignored on restart or join).
    pub initial_members: Vec<Member>,
    /// Peers to talk to before the member table says otherwise:
    /// `(id, peer URL)`.
    pub peers: Vec<(u64, String)>,
    /// `--initial-cluster-state existing`: join rather than bootstrap.
    pub join_existing: bool,
    pub tick_ms: u64,
    pub election_ticks: usize,
    /// `--snapshot-count`: applied entries between compactions.
    pub snapshot_count: u64,
    /// The lessor's minimum TTL and checkpoints.
    pub lessor: LessorConfig,
    /// `--auth-token`, `--auth-token-ttl`: how tokens are made.
    pub auth_tokens: crate::auth::TokenConfig,
    /// How the transport dials peers (the peer TLS, if any).
    pub peer_dialer: crate::rt::net::Dialer,
    /// `--metrics`.
    pub metrics: crate::metrics::Level,
    /// `--quota-backend-bytes` (see [`crate::apply::alarm::quota_max`]).
    pub quota_backend_bytes: i64,
    /// `--force-new-cluster`: restart as the only member of the cluster.
    pub force_new_cluster: bool,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Refuses data this build cannot read: another member's or cluster's, a
/// removed member's, or data written in an older layout.
fn check_data_dir(cfg: &NodeConfig, st: &WalState, loaded: &Loaded) -> io::Result<()> {
    if let Some((member, cluster)) = st.metadata {
        if (member, cluster) != (cfg.id, cfg.cluster_id) {
            return Err(io::Error::other(format!(
                "data dir belongs to member {member:x} of cluster {cluster:x}, but the flags describe member {:x} of cluster {:x}: start it with its original --name, --initial-advertise-peer-urls, --initial-cluster and --initial-cluster-token, or use a fresh --data-dir",
                cfg.id, cfg.cluster_id
            )));
        }
    }
    let written = st.conf_state.is_some() || loaded.consistent_index > 0;
    if written && loaded.storage_version != Some(STORAGE_VERSION) {
        return Err(invalid(format!(
            "the data dir was written by an older oxcd (storage version {}, this one reads {STORAGE_VERSION}): its raft entries use other field numbers than etcd's; start with a fresh --data-dir (or restore the keys with etcdctl into a new member)",
            loaded.storage_version.map_or("1".to_string(), |v| v.to_string())
        )));
    }
    if loaded.removed.contains(&cfg.id) {
        return Err(io::Error::other(super::MemberRemoved));
    }
    Ok(())
}

/// A fresh WAL: the joining member's empty configuration, or a new
/// cluster's log; the backend is marked with the storage version.
fn bootstrap_wal(
    cfg: &NodeConfig,
    wal: &mut Wal,
    st: &mut WalState,
    backend: &dyn Backend,
) -> io::Result<()> {
    // The marker first: a crash before the WAL is synced leaves a fresh WAL
    // (bootstrapped again), never a WAL without its marker.
    backend.commit(&[BackendOp::SetStorageVersion], 0)?;
    backend.flush()?;
    wal.set_metadata(cfg.id, cfg.cluster_id);
    if cfg.join_existing {
        // The log, member table and configuration come from the leader.
        wal.set_conf_state(&ConfState::default())?;
        st.conf_state = Some(ConfState::default());
    } else {
        let (cs, entries, hs) = bootstrap_log(&cfg.initial_members)?;
        wal.set_conf_state(&cs)?;
        wal.append_entries(&entries)?;
        wal.set_hard_state(&hs)?;
        st.conf_state = Some(cs);
        st.entries = entries;
        st.hard_state = Some(hs);
    }
    wal.sync()
}

/// etcd's `restartAsStandaloneNode` (`--force-new-cluster`): the entries
/// never committed are dropped, and committed conf changes removing every
/// other member (voter or learner) are appended, so that applying them
/// leaves this member alone in the cluster, with all its data. The cluster
/// keeps its id; the removed members are remembered as removed.
fn force_new_cluster(
    cfg: &NodeConfig,
    wal: &mut Wal,
    conf_state: &ConfState,
    entries: &mut Vec<Entry>,
    hs: &mut HardState,
    start: (u64, u64),
    consistent_index: u64,
) -> io::Result<()> {
    let commit = hs.commit.max(consistent_index);
    entries.retain(|e| e.index <= commit);
    // The configuration as of the last committed entry.
    let mut ids: std::collections::BTreeSet<u64> = conf_state
        .voters
        .iter()
        .chain(&conf_state.learners)
        .copied()
        .collect();
    for e in entries.iter().filter(|e| e.index > consistent_index) {
        if e.get_entry_type() != EntryType::EntryConfChange {
            continue;
        }
        let cc = ConfChange::parse_from_bytes(&e.data).map_err(io::Error::other)?;
        match cc.get_change_type() {
            ConfChangeType::RemoveNode => ids.remove(&cc.node_id),
            _ => ids.insert(cc.node_id),
        };
    }
    let (mut index, term) = entries.last().map_or(start, |e| (e.index, e.term));
    let mut appended = Vec::new();
    for id in ids.into_iter().filter(|id| *id != cfg.id) {
        let mut cc = ConfChange::default();
        cc.set_change_type(ConfChangeType::RemoveNode);
        cc.node_id = id;
        cc.context = Member {
            id,
            ..Default::default()
        }
        .encode_to_vec()
        .into();
        index += 1;
        let mut e = Entry::default();
        e.set_entry_type(EntryType::EntryConfChange);
        e.term = term;
        e.index = index;
        e.data = cc.write_to_bytes().map_err(io::Error::other)?.into();
        appended.push(e);
    }
    tracing::info!(
        target: "etcdserver",
        "forcing restart of member {:x} in cluster {:x} at commit index {index}",
        cfg.id,
        cfg.cluster_id
    );
    hs.commit = index;
    hs.term = hs.term.max(term);
    // The uncommitted tail goes from the WAL too: it is rewritten whole.
    let mut all = std::mem::take(entries);
    all.extend(appended);
    wal.rewrite(hs, start, &all)?;
    wal.sync()?;
    *entries = all;
    Ok(())
}

/// Where the log starts and what is in it, given the WAL and the backend;
/// checks that the backend's applied index lies within the log.
fn recover_log(
    st: &mut WalState,
    loaded: &Loaded,
    consistent_index: u64,
) -> io::Result<((u64, u64), Vec<Entry>)> {
    // The log starts after the WAL's log start, or after a snapshot the
    // backend installed whose WAL record a crash took.
    let mut start = st.log_start.unwrap_or((0, 0));
    let mut entries = std::mem::take(&mut st.entries);
    if let Some(snap) = loaded.snapshot {
        if snap.0 > start.0 {
            start = snap;
            entries.clear();
        }
    }
    let last_index = entries.last().map_or(start.0, |e| e.index);
    if consistent_index > last_index {
        return Err(invalid(format!(
            "backend applied index {consistent_index} is past the WAL's last entry {last_index}: the WAL lost synced data"
        )));
    }
    if consistent_index < start.0 {
        return Err(invalid(format!(
            "backend applied index {consistent_index} is before the WAL's first entry {}: the backend lost flushed data",
            start.0 + 1
        )));
    }
    Ok((start, entries))
}

impl RaftNode {
    /// Recovers (or bootstraps) a node from its WAL directory and backend.
    pub fn open(
        cfg: &NodeConfig,
        disk: Arc<dyn Disk>,
        wal_dir: &Path,
        backend: Arc<dyn Backend>,
    ) -> io::Result<(RaftNode, RaftHandle)> {
        let (mut wal, mut st) = Wal::open(disk, wal_dir)?;
        if st.truncated_bytes > 0 {
            tracing::warn!(bytes = st.truncated_bytes, "cut a torn tail off the WAL");
        }
        let loaded = backend.load()?;
        check_data_dir(cfg, &st, &loaded)?;
        let fresh = st.conf_state.is_none();
        if fresh {
            bootstrap_wal(cfg, &mut wal, &mut st, &*backend)?;
        }
        let consistent_index = if crate::bugs::active(crate::bugs::Bug::ForgetConsistentIndex) {
            0
        } else {
            loaded.consistent_index
        };
        let (start, mut entries) = recover_log(&mut st, &loaded, consistent_index)?;
        // The configuration as of the backend's index; later conf changes
        // are applied again from the log.
        let conf_state = match &loaded.conf_state {
            Some(b) => ConfState::parse_from_bytes(b).map_err(io::Error::other)?,
            None => st.conf_state.clone().unwrap_or_default(),
        };
        let mut hs = st.hard_state.clone().unwrap_or_default();
        let existing = st.hard_state.is_some() && !fresh;
        if cfg.force_new_cluster && existing {
            force_new_cluster(
                cfg,
                &mut wal,
                &conf_state,
                &mut entries,
                &mut hs,
                start,
                consistent_index,
            )?;
        }
        let storage = LogStore::new();
        storage.set_start(start.0, start.1);
        storage.append(&entries);
        storage.set_conf_state(conf_state.clone());
        let last_index = entries.last().map_or(start.0, |e| e.index);
        // Entries are applied only once committed, so the backend's index
        // proves a commit the WAL's hard state may not have recorded yet.
        hs.commit = hs.commit.min(last_index).max(consistent_index);
        hs.term = hs.term.max(start.1);
        storage.set_hard_state(hs);
        let voters = conf_state.voters.clone();
        let raw = new_raw_node(cfg, storage, consistent_index)?;
        if let Some(v) = &loaded.cluster_version {
            log_cluster_version(None, v);
        }
        let state = State::recover(loaded, cfg.lessor, &cfg.auth_tokens);
        let learner = state.cluster.is_learner(cfg.id);
        let watchable = Arc::new(WatchableStore::new(state.kv.rev()));
        let handle = RaftHandle {
            shared: Arc::new(RwLock::new(Shared {
                state,
                status: RaftStatus {
                    applied_index: consistent_index,
                    ..Default::default()
                },
            })),
            reachable: Default::default(),
            learner: Arc::new(AtomicBool::new(learner)),
            clock: Default::default(),
            watchable,
            metrics: Arc::new(crate::metrics::Metrics::new(cfg.metrics)),
            quota_max: crate::apply::alarm::quota_max(cfg.quota_backend_bytes),
            v2_changed: Default::default(),
        };
        // Above the sequence numbers of this member's earlier runs (each
        // used far fewer than one a nanosecond), unless the clock was set back.
        let read_seq_start = crate::rt::time::unix_nanos().max(0) as u64;
        let node = RaftNode {
            raw,
            wal,
            backend,
            applier: Applier::new(cfg.id, conf_state, consistent_index),
            handle: handle.clone(),
            backend_batch: Default::default(),
            committer: None,
            checkpoint_waiters: Vec::new(),
            waiters: Default::default(),
            reads: super::read_rounds::ReadRounds::new(read_seq_start),
            reads_ready: Vec::new(),
            tick: Duration::from_millis(cfg.tick_ms),
            transport: None,
            transfers: Vec::new(),
            initial_peers: cfg.peers.clone(),
            peer_dialer: cfg.peer_dialer.clone(),
            snapshot_count: cfg.snapshot_count.max(1),
            compacted_at: consistent_index,
            removed: false,
            // A one-voter group needs no election timeout to start.
            campaign_at_start: voters == [cfg.id],
            election_ticks: cfg.election_ticks,
            last_reset: None,
            published: RaftStatus::default(),
            lessor: cfg.lessor,
            auth_tokens: cfg.auth_tokens.clone(),
            primary: false,
            snapshot_tx: None,
            snapshot_building: false,
        };
        Ok((node, handle))
    }
}

/// raft-rs's node for this member, with etcd's settings.
///
/// raft-rs draws a randomized election timeout from `rand::thread_rng()`,
/// which the simulator cannot seed, whenever it resets (a new term or
/// role). The loop overrides each draw with one from the runtime seam
/// before the next tick ([`RaftNode::rerandomize_election_timeout`]), so
/// runs replay exactly; a fixed timeout per incarnation instead could leave
/// two members timing out together forever (split votes).
fn new_raw_node(
    cfg: &NodeConfig,
    storage: LogStore,
    applied: u64,
) -> io::Result<RawNode<LogStore>> {
    let config = Config {
        id: cfg.id,
        election_tick: cfg.election_ticks,
        min_election_tick: cfg.election_ticks,
        max_election_tick: 2 * cfg.election_ticks,
        heartbeat_tick: 1,
        applied,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        pre_vote: true,
        check_quorum: true,
        ..Default::default()
    };
    config.validate().map_err(io::Error::other)?;
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    RawNode::new(&config, storage, &logger).map_err(io::Error::other)
}

/// A new cluster's first entries, as etcd writes them: one committed
/// `ConfChangeAddNode` per initial member at term 1, in member-id order.
pub fn bootstrap_log(members: &[Member]) -> io::Result<(ConfState, Vec<Entry>, HardState)> {
    let mut members = members.to_vec();
    members.sort_by_key(|m| m.id);
    let cs = ConfState::from((members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![]));
    let mut entries = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let mut cc = ConfChange::default();
        cc.set_change_type(ConfChangeType::AddNode);
        cc.node_id = m.id;
        cc.context = m.encode_to_vec().into();
        let mut e = Entry::default();
        e.set_entry_type(EntryType::EntryConfChange);
        e.term = 1;
        e.index = i as u64 + 1;
        e.data = cc.write_to_bytes().map_err(io::Error::other)?.into();
        entries.push(e);
    }
    let hs = HardState {
        term: 1,
        commit: entries.len() as u64,
        ..Default::default()
    };
    Ok((cs, entries, hs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> NodeConfig {
        NodeConfig {
            id: 1,
            cluster_id: 7,
            initial_members: vec![],
            peers: vec![],
            join_existing: false,
            tick_ms: 100,
            election_ticks: 10,
            snapshot_count: 100,
            lessor: LessorConfig::default(),
            auth_tokens: Default::default(),
            peer_dialer: Default::default(),
            metrics: Default::default(),
            quota_backend_bytes: 0,
            force_new_cluster: false,
        }
    }

    #[test]
    fn data_written_in_the_old_layout_is_refused() {
        let written = WalState {
            conf_state: Some(ConfState::default()),
            metadata: Some((1, 7)),
            ..Default::default()
        };
        let old = Loaded::default();
        let e = check_data_dir(&cfg(), &written, &old).unwrap_err();
        assert!(
            e.to_string()
                .contains("written by an older oxcd (storage version 1"),
            "{e}"
        );
        let current = Loaded {
            storage_version: Some(STORAGE_VERSION),
            ..Default::default()
        };
        check_data_dir(&cfg(), &written, &current).unwrap();
        // A fresh data dir has nothing to refuse.
        check_data_dir(&cfg(), &WalState::default(), &old).unwrap();
        let removed = Loaded {
            storage_version: Some(STORAGE_VERSION),
            removed: vec![1],
            ..Default::default()
        };
        assert!(check_data_dir(&cfg(), &written, &removed)
            .unwrap_err()
            .get_ref()
            .is_some_and(|e| e.is::<MemberRemoved>()));
        let other = WalState {
            metadata: Some((2, 7)),
            ..written
        };
        assert!(check_data_dir(&cfg(), &other, &current).is_err());
    }
}
