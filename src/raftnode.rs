//! The raft node driver: owns raft-rs's `RawNode`, the WAL and the applier,
//! and runs the one Ready loop — persist (WAL append + fsync) → apply
//! committed entries → answer waiters → advance.
//!
//! Every proposal that arrived while the previous batch was being persisted is
//! taken in one go, so one fsync covers many requests (group commit).
//!
//! **Bootstrap** is etcd's: a new cluster's log starts with one committed
//! `ConfChangeAddNode` entry per initial member (term 1), so every member —
//! and any member that joins later and replays the log — builds the member
//! table by applying entries.
//!
//! **Snapshots and compaction.** Every `--snapshot-count` applied entries the
//! backend is flushed and the log (in memory and in the WAL) is cut to the
//! last [`SNAPSHOT_CATCHUP_ENTRIES`] entries. A follower that needs
//! entries from before the cut gets a snapshot instead: the backend's
//! pairs at the leader's applied index, built on demand
//! ([`crate::storage::logstore`]) and streamed in chunks by the transport.
//! The receiver replaces its backend (durably, with a marker), then records
//! the new log start in its WAL. Recovery trusts the backend's marker if the
//! WAL record was lost.
//!
//! **Membership** changes are raft conf changes carrying the etcd `Member`
//! in their context; each member validates them against the same table, so
//! all accept or all refuse one, and persists the new `ConfState` with the
//! applied index in one backend batch.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Snapshot};
use raft::{Config, RawNode, SnapshotStatus, StateRole};
use tokio::sync::{mpsc, oneshot};

use crate::apply::{
    apply_entry, apply_member_change, validate_member_change, Applied, ApplyResult, MemberChange,
    StateMachine,
};
use crate::mvcc::{BackendOp, KvStore};
use crate::pb::etcdserverpb::Member;
use crate::rt::disk::Disk;
use crate::storage::backend::{Backend, SnapshotData};
use crate::storage::logstore::LogStore;
use crate::storage::wal::Wal;
use crate::transport::{Reachable, Transport};

/// Most commands drained from the queue into one Ready cycle.
const BATCH_COMMANDS_MAX: usize = 4096;
/// Entries kept behind a compaction for slow followers (etcd's
/// `SnapshotCatchUpEntries`), unless `--snapshot-count` is smaller.
pub const SNAPSHOT_CATCHUP_ENTRIES: u64 = 5000;
/// A learner is in sync when it has this share of the leader's log (etcd).
const LEARNER_READY_PERCENT: f64 = 0.9;
/// ReadIndex requests outstanding before abandoned ones are swept.
const READS_PENDING_MAX: usize = 4096;
/// Backend batches between explicit flushes (sled also flushes on its own).
const FLUSH_EVERY_BATCHES: u64 = 64;

/// Snapshots installed by every member in this process (a figure for
/// simulation reports).
static SNAPSHOTS_INSTALLED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many snapshots members in this process have installed.
pub fn snapshots_installed() -> u64 {
    SNAPSHOTS_INSTALLED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A request to the raft loop.
pub enum RaftCmd {
    /// Replicate `data` (an encoded `InternalRequest` with this `id`), apply
    /// it, and answer with the result.
    Propose {
        id: u64,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<ApplyResult, ProposeError>>,
    },
    /// Answer once the local state machine has caught up with the leader's
    /// commit index as of now (raft ReadIndex): reads after that are linearizable.
    ReadIndex { reply: oneshot::Sender<()> },
    /// A raft message from another member.
    Step(Box<raft::eraftpb::Message>),
    /// Hand leadership to `target` (answered once it leads).
    TransferLeader {
        target: u64,
        reply: oneshot::Sender<Result<(), TransferError>>,
    },
    /// Replicate a membership change (its `id` finds the caller).
    ProposeConfChange {
        cc: ConfChange,
        reply: oneshot::Sender<Result<ApplyResult, ProposeError>>,
    },
    /// How sending a snapshot to `to` went.
    ReportSnapshot { to: u64, ok: bool },
    /// Whether learner `id` has caught up with this leader's log.
    LearnerReady {
        id: u64,
        reply: oneshot::Sender<Result<bool, TransferError>>,
    },
}

/// Why a leadership transfer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferError {
    NotLeader,
    BadTransferee,
}

/// Why a proposal was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// No leader to take it (raft dropped the proposal).
    NoLeader,
    /// Another membership change is still being applied.
    ConfChangePending,
}

/// Raft progress, published after every Ready cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RaftStatus {
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub leader_id: u64,
    pub is_leader: bool,
}

/// What the rest of the server shares with the raft loop.
#[derive(Clone)]
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

pub struct RaftHandle {
    /// The applied state; read under the lock, written only by the loop.
    pub kv: Arc<Mutex<KvStore>>,
    pub status: Arc<Mutex<RaftStatus>>,
    /// The member table, by member id.
    pub members: Arc<Mutex<BTreeMap<u64, Member>>>,
    /// The version the cluster agreed on.
    pub cluster_version: Arc<Mutex<Option<String>>>,
    /// Peers the transport reached lately.
    pub reachable: Reachable,
    /// Whether this member is a learner (read on every client request, so
    /// not behind the member table's lock, which apply holds).
    pub learner: Arc<std::sync::atomic::AtomicBool>,
}

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
}

pub struct RaftNode {
    raw: RawNode<LogStore>,
    wal: Wal,
    backend: Arc<dyn Backend>,
    kv: Arc<Mutex<KvStore>>,
    members: Arc<Mutex<BTreeMap<u64, Member>>>,
    cluster_version: Arc<Mutex<Option<String>>>,
    status: Arc<Mutex<RaftStatus>>,
    applied: u64,
    batches_since_flush: u64,
    proposals: HashMap<u64, oneshot::Sender<Result<ApplyResult, ProposeError>>>,
    read_seq: u64,
    reads_pending: HashMap<u64, oneshot::Sender<()>>,
    reads_ready: Vec<(u64, oneshot::Sender<()>)>,
    tick: Duration,
    transport: Option<Transport>,
    /// Leadership transfers waiting for their target to lead.
    transfers: Vec<(u64, oneshot::Sender<Result<(), TransferError>>)>,
    reachable: Reachable,
    learner: Arc<std::sync::atomic::AtomicBool>,
    initial_peers: Vec<(u64, String)>,
    snapshot_count: u64,
    /// Applied index at the last compaction.
    compacted_at: u64,
    /// This member applied its own removal.
    removed: bool,
    campaign_at_start: bool,
    election_ticks: usize,
    /// `(term, role)` when the election timeout was last drawn.
    last_reset: Option<(u64, StateRole)>,
}

impl RaftNode {
    /// Recovers (or bootstraps) a node from its WAL directory and backend.
    pub fn open(
        cfg: &NodeConfig,
        disk: Arc<dyn Disk>,
        wal_dir: &Path,
        backend: Arc<dyn Backend>,
    ) -> io::Result<(RaftNode, RaftHandle)> {
        let (mut wal, st) = Wal::open(disk, wal_dir)?;
        if st.truncated_bytes > 0 {
            tracing::warn!(bytes = st.truncated_bytes, "cut a torn tail off the WAL");
        }
        let loaded = backend.load()?;
        let consistent_index = if crate::bugs::active(crate::bugs::Bug::ForgetConsistentIndex) {
            0
        } else {
            loaded.consistent_index
        };
        if loaded.removed.contains(&cfg.id) {
            return Err(io::Error::other(MemberRemoved));
        }
        let kv = KvStore::restore(loaded.revs, loaded.compact_rev);
        let members: BTreeMap<u64, Member> =
            loaded.members.into_iter().map(|m| (m.id, m)).collect();

        let mut st = st;
        let fresh = st.conf_state.is_none();
        if let Some((member, cluster)) = st.metadata {
            if (member, cluster) != (cfg.id, cfg.cluster_id) {
                return Err(io::Error::other(format!(
                    "data dir belongs to member {member:x} of cluster {cluster:x}, but the flags describe member {:x} of cluster {:x}: start it with its original --name, --initial-advertise-peer-urls, --initial-cluster and --initial-cluster-token, or use a fresh --data-dir",
                    cfg.id, cfg.cluster_id
                )));
            }
        }
        if fresh {
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
            wal.sync()?;
        }
        // The log starts after the WAL's log start, or after a snapshot the
        // backend installed whose WAL record a crash took.
        let mut start = st.log_start.unwrap_or((0, 0));
        let mut entries = st.entries;
        if let Some(snap) = loaded.snapshot {
            if snap.0 > start.0 {
                start = snap;
                entries.clear();
            }
        }
        let last_index = entries.last().map_or(start.0, |e| e.index);
        if consistent_index > last_index {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "backend applied index {consistent_index} is past the WAL's last entry {last_index}: the WAL lost synced data"
                ),
            ));
        }
        if consistent_index < start.0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "backend applied index {consistent_index} is before the WAL's first entry {}: the backend lost flushed data",
                    start.0 + 1
                ),
            ));
        }
        // The configuration as of the backend's index; later conf changes
        // are applied again from the log.
        let conf_state = match &loaded.conf_state {
            Some(b) => ConfState::parse_from_bytes(b).map_err(io::Error::other)?,
            None => st.conf_state.clone().unwrap_or_default(),
        };
        let storage = LogStore::new();
        storage.set_start(start.0, start.1);
        storage.append(&entries);
        storage.set_conf_state(conf_state.clone());
        let mut hs = st.hard_state.clone().unwrap_or_default();
        // Entries are applied only once committed, so the backend's index
        // proves a commit the WAL's hard state may not have recorded yet.
        hs.commit = hs.commit.min(last_index).max(consistent_index);
        hs.term = hs.term.max(start.1);
        storage.set_hard_state(hs);
        let voters = conf_state.voters.clone();

        // raft-rs draws a randomized election timeout from
        // `rand::thread_rng()`, which the simulator cannot seed, whenever it
        // resets (a new term or role). The loop overrides each draw with one
        // from the runtime seam before the next tick
        // ([`RaftNode::rerandomize_election_timeout`]), so runs replay
        // exactly; a fixed timeout per incarnation instead could leave two
        // members timing out together forever (split votes).
        let config = Config {
            id: cfg.id,
            election_tick: cfg.election_ticks,
            min_election_tick: cfg.election_ticks,
            max_election_tick: 2 * cfg.election_ticks,
            heartbeat_tick: 1,
            applied: consistent_index,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            pre_vote: true,
            check_quorum: true,
            ..Default::default()
        };
        config.validate().map_err(io::Error::other)?;
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw = RawNode::new(&config, storage, &logger).map_err(io::Error::other)?;
        let kv = Arc::new(Mutex::new(kv));
        let members = Arc::new(Mutex::new(members));
        if let Some(v) = &loaded.cluster_version {
            crate::apply::log_cluster_version(None, v);
        }
        let cluster_version = Arc::new(Mutex::new(loaded.cluster_version));
        let reachable = Reachable::default();
        let learner = Arc::new(std::sync::atomic::AtomicBool::new(
            members
                .lock()
                .expect("members lock")
                .get(&cfg.id)
                .is_some_and(|m| m.is_learner),
        ));
        let status = Arc::new(Mutex::new(RaftStatus {
            applied_index: consistent_index,
            ..Default::default()
        }));
        let node = RaftNode {
            raw,
            wal,
            backend,
            kv: kv.clone(),
            members: members.clone(),
            cluster_version: cluster_version.clone(),
            status: status.clone(),
            applied: consistent_index,
            batches_since_flush: 0,
            proposals: HashMap::new(),
            read_seq: 0,
            reads_pending: HashMap::new(),
            reads_ready: Vec::new(),
            tick: Duration::from_millis(cfg.tick_ms),
            transport: None,
            transfers: Vec::new(),
            reachable: reachable.clone(),
            learner: learner.clone(),
            initial_peers: cfg.peers.clone(),
            snapshot_count: cfg.snapshot_count.max(1),
            compacted_at: consistent_index,
            removed: false,
            // A one-voter group needs no election timeout to start.
            campaign_at_start: voters == [cfg.id],
            election_ticks: cfg.election_ticks,
            last_reset: None,
        };
        Ok((
            node,
            RaftHandle {
                kv,
                status,
                members,
                cluster_version,
                reachable,
                learner,
            },
        ))
    }

    /// Runs the loop until every command sender is gone, or this member is
    /// removed from the cluster; `tx` feeds `rx` (the transport reports
    /// snapshot outcomes through it).
    /// Runs the Ready loop until `stop` turns true (then flushes the backend
    /// and returns `Ok(false)`), or until this
    /// member is removed from the cluster (`Ok(true)`). Stopping is explicit:
    /// request handlers that still hold a sender cannot keep the loop alive.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<RaftCmd>,
        tx: mpsc::Sender<RaftCmd>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> io::Result<bool> {
        let mut transport = Transport::new(tx.downgrade(), self.reachable.clone());
        for (id, url) in &self.initial_peers {
            if *id != self.raw.raft.id {
                transport.add(*id, url);
            }
        }
        self.transport = Some(transport);
        self.add_member_peers();
        drop(tx);
        let mut tick = tokio::time::interval(self.tick);
        // Apply what is committed first: raft refuses to campaign while a
        // committed conf change (the bootstrap entries) is unapplied.
        self.on_ready()?;
        if self.campaign_at_start {
            self.raw.campaign().map_err(io::Error::other)?;
            self.on_ready()?;
        }
        loop {
            tokio::select! {
                // tokio picks among ready branches with a thread-local RNG the
                // simulator cannot seed; a fixed order keeps replays exact.
                biased;
                _ = stop.wait_for(|s| *s) => break,
                _ = tick.tick() => {
                    // One tick, or a simulated clock fault's more or fewer (rt::faults).
                    for _ in 0..crate::rt::faults::ticks_due() {
                        self.raw.tick();
                        // A reset inside a burst must not use raft-rs's own draw.
                        self.rerandomize_election_timeout();
                    }
                }
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.handle(cmd);
                    for _ in 1..BATCH_COMMANDS_MAX {
                        match rx.try_recv() {
                            Ok(cmd) => self.handle(cmd),
                            Err(_) => break,
                        }
                    }
                }
            }
            // A simulated slow disk (rt::faults); always zero in production.
            let slow_disk = crate::rt::faults::disk_latency();
            if !slow_disk.is_zero() && self.raw.has_ready() {
                tokio::time::sleep(slow_disk).await;
            }
            self.on_ready()?;
            if self.removed {
                self.backend.flush()?;
                return Ok(true);
            }
        }
        self.backend.flush()?;
        Ok(false)
    }

    fn handle(&mut self, cmd: RaftCmd) {
        match cmd {
            RaftCmd::Propose { id, data, reply } => {
                if self.raw.propose(vec![], data).is_err() {
                    let _ = reply.send(Err(ProposeError::NoLeader));
                } else {
                    self.proposals.insert(id, reply);
                }
            }
            RaftCmd::ProposeConfChange { cc, reply } => {
                // raft-rs would turn a second pending change into a no-op.
                if self.raw.raft.has_pending_conf() {
                    let _ = reply.send(Err(ProposeError::ConfChangePending));
                    return;
                }
                let id = cc.id;
                if self.raw.propose_conf_change(vec![], cc).is_err() {
                    let _ = reply.send(Err(ProposeError::NoLeader));
                } else {
                    self.proposals.insert(id, reply);
                }
            }
            RaftCmd::ReportSnapshot { to, ok } => {
                let status = if ok {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                self.raw.report_snapshot(to, status);
            }
            RaftCmd::LearnerReady { id, reply } => {
                let r = &self.raw.raft;
                if r.state != StateRole::Leader {
                    let _ = reply.send(Err(TransferError::NotLeader));
                    return;
                }
                let leader = r.prs().get(r.id).map_or(0, |p| p.matched);
                let learner = r.prs().get(id).map_or(0, |p| p.matched);
                let ready = learner as f64 >= leader as f64 * LEARNER_READY_PERCENT;
                let _ = reply.send(Ok(ready));
            }
            RaftCmd::ReadIndex { reply } => {
                // The leader keys pending reads by context, so it must be
                // unique across members: member id, then a sequence number.
                self.read_seq += 1;
                let mut ctx = self.raw.raft.id.to_be_bytes().to_vec();
                ctx.extend_from_slice(&self.read_seq.to_be_bytes());
                self.raw.read_index(ctx);
                if self.reads_pending.len() >= READS_PENDING_MAX {
                    // Callers that gave up (raft may drop a read silently).
                    self.reads_pending.retain(|_, r| !r.is_closed());
                }
                self.reads_pending.insert(self.read_seq, reply);
            }
            RaftCmd::Step(m) => {
                // Messages from unknown or removed peers are refused by raft.
                let _ = self.raw.step(*m);
            }
            RaftCmd::TransferLeader { target, reply } => {
                if self.raw.raft.state != StateRole::Leader {
                    let _ = reply.send(Err(TransferError::NotLeader));
                } else if !self.raw.raft.prs().conf().voters().contains(target) {
                    let _ = reply.send(Err(TransferError::BadTransferee));
                } else if target == self.raw.raft.id {
                    let _ = reply.send(Ok(()));
                } else {
                    self.raw.transfer_leader(target);
                    self.transfers.push((target, reply));
                }
            }
        }
    }

    fn on_ready(&mut self) -> io::Result<()> {
        self.rerandomize_election_timeout();
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut rd = self.raw.ready();
        if !rd.snapshot().is_empty() {
            self.install_snapshot(rd.snapshot())?;
        }
        // A leader may send before persisting (Raft §10.2.1).
        self.send(rd.take_messages());
        for rs in rd.take_read_states() {
            let Some(seq) = self.own_read_seq(&rs.request_ctx) else {
                continue;
            };
            if let Some(reply) = self.reads_pending.remove(&seq) {
                self.reads_ready.push((rs.index, reply));
            }
        }
        // Persist before anything that depends on it is applied or answered.
        if !rd.entries().is_empty() {
            self.wal.append_entries(rd.entries())?;
            self.raw.store().append(rd.entries());
        }
        if let Some(hs) = rd.hs() {
            self.wal.set_hard_state(hs)?;
            self.raw.store().set_hard_state(hs.clone());
        }
        self.wal.sync()?;
        self.send(rd.take_persisted_messages());
        let committed = rd.take_committed_entries();
        self.apply(committed)?;
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.raw.store().set_commit(commit);
        }
        self.send(light.take_messages());
        let committed = light.take_committed_entries();
        self.apply(committed)?;
        self.raw.advance_apply();
        self.release_reads();
        let leader = self.raw.raft.leader_id;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.transfers)
            .into_iter()
            .partition(|(target, _)| *target == leader);
        self.transfers = waiting;
        for (_, reply) in done {
            let _ = reply.send(Ok(()));
        }
        if self.applied >= self.compacted_at + self.snapshot_count {
            self.compact()?;
        }
        if self.raw.store().take_snapshot_wanted() {
            self.make_snapshot()?;
        }
        self.rerandomize_election_timeout();
        self.publish_status();
        Ok(())
    }

    /// After raft reset its election timer (new term or role), replaces
    /// raft-rs's own random draw with one from the runtime seam.
    fn rerandomize_election_timeout(&mut self) {
        let now = (self.raw.raft.term, self.raw.raft.state);
        if self.last_reset == Some(now) {
            return;
        }
        self.last_reset = Some(now);
        let n = self.election_ticks as u64;
        let t = crate::rt::rand::gen_range(n..2 * n) as usize;
        self.raw.raft.set_randomized_election_timeout(t);
    }

    /// Serialises the backend at the applied index into a snapshot raft can
    /// send to followers whose entries were compacted away.
    fn make_snapshot(&mut self) -> io::Result<()> {
        let pairs = self.backend.dump()?;
        let mut snap = Snapshot {
            data: SnapshotData { pairs }.encode_to_vec().into(),
            ..Default::default()
        };
        let meta = snap.mut_metadata();
        meta.index = self.applied;
        meta.term = self.raw.store().term_of(self.applied).ok_or_else(|| {
            io::Error::other(format!("no term for applied index {}", self.applied))
        })?;
        meta.set_conf_state(self.raw.raft.prs().conf().to_conf_state());
        tracing::info!(
            index = self.applied,
            bytes = snap.data.len(),
            "made a snapshot for a lagging follower"
        );
        self.raw.store().set_latest_snapshot(snap);
        Ok(())
    }

    /// Installs a snapshot from the leader: backend first (durably, with a
    /// marker), then the in-memory state, then the WAL's log start.
    fn install_snapshot(&mut self, snap: &Snapshot) -> io::Result<()> {
        let meta = snap.get_metadata();
        let data = SnapshotData::decode(&snap.data[..]).map_err(io::Error::other)?;
        tracing::info!(
            index = meta.index,
            term = meta.term,
            "installing a snapshot from the leader"
        );
        self.backend
            .install_snapshot(data.pairs, meta.index, meta.term)?;
        let loaded = self.backend.load()?;
        *self.kv.lock().expect("kv lock") = KvStore::restore(loaded.revs, loaded.compact_rev);
        *self.members.lock().expect("members lock") =
            loaded.members.into_iter().map(|m| (m.id, m)).collect();
        *self.cluster_version.lock().expect("cluster version lock") = loaded.cluster_version;
        self.add_member_peers();
        self.note_learner();
        self.applied = meta.index;
        self.compacted_at = meta.index;
        self.sweep_proposals();
        self.raw.store().apply_snapshot(meta);
        self.wal.set_log_start(meta.index, meta.term);
        SNAPSHOTS_INSTALLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Cuts the log behind the applied index, keeping some entries for slow
    /// followers; the backend is flushed first, so every entry cut is in it.
    fn compact(&mut self) -> io::Result<()> {
        self.backend.flush()?;
        self.batches_since_flush = 0;
        let keep = self.snapshot_count.min(SNAPSHOT_CATCHUP_ENTRIES);
        let store = self.raw.store();
        store.compact(self.applied.saturating_sub(keep));
        let start = store.start();
        self.wal
            .rewrite(&store.hard_state(), start, &store.entries_after(start.0))?;
        self.compacted_at = self.applied;
        Ok(())
    }

    fn apply(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        let Some(last) = entries.last().map(|e| e.index) else {
            return Ok(());
        };
        let mut answers = Vec::new();
        let mut conf_changes: Vec<(MemberChange, Member)> = Vec::new();
        {
            let mut kv = self.kv.lock().expect("kv lock");
            let mut members = self.members.lock().expect("members lock");
            let mut cluster_version = self.cluster_version.lock().expect("cluster version lock");
            let mut meta_ops = Vec::new();
            let mut sm = StateMachine {
                kv: &mut kv,
                members: &mut members,
                cluster_version: &mut cluster_version,
                meta_ops: &mut meta_ops,
            };
            for e in &entries {
                if e.index <= self.applied {
                    continue; // already in the backend: replay is idempotent
                }
                match e.get_entry_type() {
                    EntryType::EntryNormal => {
                        if let Some((id, res)) = apply_entry(&mut sm, &e.data) {
                            answers.push((id, res));
                        }
                    }
                    EntryType::EntryConfChange => {
                        let cc = ConfChange::parse_from_bytes(&e.data)
                            .expect("conf change written by us decodes");
                        let member = Member::decode(&cc.context[..]).unwrap_or(Member {
                            id: cc.node_id,
                            ..Default::default()
                        });
                        let change = match cc.get_change_type() {
                            ConfChangeType::AddNode => MemberChange::AddVoter,
                            ConfChangeType::AddLearnerNode => MemberChange::AddLearner,
                            ConfChangeType::RemoveNode => MemberChange::Remove,
                        };
                        let res = validate_member_change(sm.members, change, &member);
                        if res.is_ok() {
                            apply_member_change(&mut sm, change, &member);
                            let cs = self.raw.apply_conf_change(&cc).map_err(io::Error::other)?;
                            sm.meta_ops.push(BackendOp::SetConfState(
                                cs.write_to_bytes().map_err(io::Error::other)?,
                            ));
                            conf_changes.push((change, member));
                        }
                        if cc.id != 0 {
                            let res = res
                                .map(|()| Applied::Members(sm.members.values().cloned().collect()))
                                .map_err(Into::into);
                            answers.push((cc.id, res));
                        }
                    }
                    EntryType::EntryConfChangeV2 => {
                        unreachable!("oxcd proposes only simple conf changes")
                    }
                }
            }
            let mut ops = kv.take_ops();
            ops.append(&mut meta_ops);
            if last > self.applied {
                self.backend.commit(&ops, last)?;
                self.applied = last;
            }
        }
        self.batches_since_flush += 1;
        if self.batches_since_flush >= FLUSH_EVERY_BATCHES {
            self.backend.flush()?;
            self.batches_since_flush = 0;
        }
        for (id, res) in answers {
            if let Some(reply) = self.proposals.remove(&id) {
                let _ = reply.send(Ok(res));
            }
        }
        let me = self.raw.raft.id;
        if !conf_changes.is_empty() {
            self.note_learner();
        }
        for (change, m) in conf_changes {
            if m.id == me {
                self.removed |= change == MemberChange::Remove;
                continue;
            }
            let Some(t) = self.transport.as_mut() else {
                continue;
            };
            match (change, m.peer_ur_ls.first()) {
                (MemberChange::Remove, _) => t.remove(m.id),
                (_, Some(url)) => t.add(m.id, url),
                (_, None) => {}
            }
        }
        Ok(())
    }

    /// The sequence number in a read context this member issued.
    fn own_read_seq(&self, ctx: &[u8]) -> Option<u64> {
        let (id, seq) = ctx.split_at_checked(8)?;
        if id != self.raw.raft.id.to_be_bytes() {
            return None;
        }
        Some(u64::from_be_bytes(seq.try_into().ok()?))
    }

    fn send(&self, msgs: Vec<raft::eraftpb::Message>) {
        if let Some(t) = &self.transport {
            t.send(msgs);
        }
    }

    fn release_reads(&mut self) {
        let applied = self.applied;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_ready)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.reads_ready = waiting;
        for (_, reply) in ready {
            let _ = reply.send(());
        }
    }

    /// Sends to every other member in the table (at its first peer URL).
    fn add_member_peers(&mut self) {
        let me = self.raw.raft.id;
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        let members = self.members.lock().expect("members lock");
        for m in members.values().filter(|m| m.id != me) {
            if let Some(url) = m.peer_ur_ls.first() {
                t.add(m.id, url);
            }
        }
    }

    /// Publishes whether this member is (still) a learner.
    fn note_learner(&self) {
        let members = self.members.lock().expect("members lock");
        let learner = members.get(&self.raw.raft.id).is_some_and(|m| m.is_learner);
        self.learner
            .store(learner, std::sync::atomic::Ordering::Relaxed);
    }

    /// Drops waiters whose callers gave up (their entries may never apply
    /// here, e.g. when a snapshot skipped them).
    fn sweep_proposals(&mut self) {
        self.proposals.retain(|_, r| !r.is_closed());
    }

    fn publish_status(&mut self) {
        let r = &self.raw.raft;
        let st = RaftStatus {
            term: r.term,
            commit_index: r.raft_log.committed,
            applied_index: self.applied,
            leader_id: r.leader_id,
            is_leader: r.state == StateRole::Leader,
        };
        *self.status.lock().expect("status lock") = st;
    }
}

/// A new cluster's first entries, as etcd writes them: one committed
/// `ConfChangeAddNode` per initial member at term 1, in member-id order.
fn bootstrap_log(members: &[Member]) -> io::Result<(ConfState, Vec<Entry>, HardState)> {
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
