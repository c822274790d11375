//! The raft node driver: owns raft-rs's `RawNode`, the WAL and the applier,
//! and runs the one Ready loop — persist (WAL append + fsync) → apply
//! committed entries → answer waiters → advance.
//!
//! Every proposal that arrived while the previous batch was being persisted is
//! taken in one go, so one fsync covers many requests (group commit).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft::eraftpb::{ConfState, Entry, EntryType};
use raft::storage::MemStorage;
use raft::{Config, RawNode, StateRole, Storage};
use tokio::sync::{mpsc, oneshot};

use crate::apply::{apply_entry, ApplyResult, StateMachine};
use crate::mvcc::KvStore;
use crate::pb::etcdserverpb::Member;
use crate::rt::disk::Disk;
use crate::storage::backend::Backend;
use crate::storage::wal::Wal;
use crate::transport::Transport;

/// Most commands drained from the queue into one Ready cycle.
const BATCH_COMMANDS_MAX: usize = 4096;
/// Raft log entries kept in memory behind the applied index.
const LOG_ENTRIES_RETAINED: u64 = 10_000;
/// ReadIndex requests outstanding before abandoned ones are swept.
const READS_PENDING_MAX: usize = 4096;
/// Backend batches between explicit flushes (sled also flushes on its own).
const FLUSH_EVERY_BATCHES: u64 = 64;

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
pub struct RaftHandle {
    /// The applied state; read under the lock, written only by the loop.
    pub kv: Arc<Mutex<KvStore>>,
    pub status: Arc<Mutex<RaftStatus>>,
    /// Members' published attributes, by member id.
    pub members: Arc<Mutex<BTreeMap<u64, Member>>>,
}

/// Static configuration of one node.
pub struct NodeConfig {
    pub id: u64,
    pub cluster_id: u64,
    pub voters: Vec<u64>,
    /// The other members: `(id, peer URL)`.
    pub peers: Vec<(u64, String)>,
    /// `--initial-cluster-state existing`: join rather than bootstrap.
    pub join_existing: bool,
    pub tick_ms: u64,
    pub election_ticks: usize,
}

pub struct RaftNode {
    raw: RawNode<MemStorage>,
    wal: Wal,
    backend: Arc<dyn Backend>,
    kv: Arc<Mutex<KvStore>>,
    members: Arc<Mutex<BTreeMap<u64, Member>>>,
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
    /// Only a one-voter group may drop applied entries from memory: with
    /// peers, a lagging follower needs them (snapshots are not built yet).
    compact_log: bool,
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
        let kv = KvStore::restore(loaded.revs, loaded.compact_rev);
        let members: BTreeMap<u64, Member> =
            loaded.members.into_iter().map(|m| (m.id, m)).collect();

        let storage = MemStorage::new();
        let fresh = st.conf_state.is_none();
        if let Some((member, cluster)) = st.metadata {
            if (member, cluster) != (cfg.id, cfg.cluster_id) {
                return Err(io::Error::other(format!(
                    "data dir belongs to member {member:x} of cluster {cluster:x}, but the flags describe member {:x} of cluster {:x}: start it with its original --name, --initial-advertise-peer-urls, --initial-cluster and --initial-cluster-token, or use a fresh --data-dir",
                    cfg.id, cfg.cluster_id
                )));
            }
        }
        if fresh && cfg.join_existing {
            return Err(io::Error::other(
                "oxcd: joining an existing cluster (--initial-cluster-state=existing) needs `member add`, which is not built yet",
            ));
        }
        let last_index = st.entries.last().map_or(0, |e| e.index);
        if consistent_index > last_index {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "backend applied index {consistent_index} is past the WAL's last entry {last_index}: the WAL lost synced data"
                ),
            ));
        }
        {
            let mut w = storage.wl();
            let cs = match &st.conf_state {
                Some(cs) => cs.clone(),
                None => {
                    let cs = ConfState::from((cfg.voters.clone(), vec![]));
                    wal.set_metadata(cfg.id, cfg.cluster_id);
                    wal.set_conf_state(&cs)?;
                    wal.sync()?;
                    cs
                }
            };
            w.set_conf_state(cs);
            w.append(&st.entries).map_err(io::Error::other)?;
            let mut hs = st.hard_state.clone().unwrap_or_default();
            // Entries are applied only once committed, so the backend's index
            // proves a commit the WAL's hard state may not have recorded yet.
            if hs.commit < consistent_index {
                hs.commit = consistent_index;
            }
            w.set_hardstate(hs);
        }

        // raft-rs draws each randomized election timeout from
        // `rand::thread_rng()`, which the simulator cannot seed. So the
        // randomness comes from the runtime seam once per incarnation, and
        // raft-rs's range is one tick wide.
        let jitter = if cfg.voters.len() > 1 {
            crate::rt::rand::gen_range(0..cfg.election_ticks as u64) as usize
        } else {
            0
        };
        let election_ticks = cfg.election_ticks + jitter;
        let config = Config {
            id: cfg.id,
            election_tick: cfg.election_ticks,
            min_election_tick: election_ticks,
            max_election_tick: election_ticks + 1,
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
        let mut raw = RawNode::new(&config, storage, &logger).map_err(io::Error::other)?;
        if cfg.voters == [cfg.id] {
            // A one-voter group needs no election timeout to start.
            raw.campaign().map_err(io::Error::other)?;
        }
        let kv = Arc::new(Mutex::new(kv));
        let members = Arc::new(Mutex::new(members));
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
            compact_log: cfg.voters.len() == 1,
        };
        Ok((
            node,
            RaftHandle {
                kv,
                status,
                members,
            },
        ))
    }

    /// Runs the loop until every command sender is gone; `peers` are the
    /// other members to send raft messages to.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<RaftCmd>,
        peers: Vec<(u64, String)>,
    ) -> io::Result<()> {
        if !peers.is_empty() {
            self.transport = Some(Transport::start(peers));
        }
        let mut tick = tokio::time::interval(self.tick);
        self.on_ready()?;
        loop {
            tokio::select! {
                // tokio picks among ready branches with a thread-local RNG the
                // simulator cannot seed; a fixed order keeps replays exact.
                biased;
                _ = tick.tick() => {
                    // One tick, or a simulated clock fault's more or fewer (rt::faults).
                    for _ in 0..crate::rt::faults::ticks_due() { self.raw.tick(); }
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
            if self.raw.has_ready() {
                crate::rt::faults::disk_delay().await; // a simulated slow disk (rt::faults)
            }
            self.on_ready()?;
        }
        self.backend.flush()
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
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut rd = self.raw.ready();
        assert!(rd.snapshot().is_empty(), "snapshots are not built yet");
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
            self.raw
                .store()
                .wl()
                .append(rd.entries())
                .map_err(io::Error::other)?;
        }
        if let Some(hs) = rd.hs() {
            self.wal.set_hard_state(hs)?;
            self.raw.store().wl().set_hardstate(hs.clone());
        }
        self.wal.sync()?;
        self.send(rd.take_persisted_messages());
        let committed = rd.take_committed_entries();
        self.apply(committed)?;
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.raw.store().wl().mut_hard_state().commit = commit;
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
        self.publish_status();
        Ok(())
    }

    fn apply(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        let Some(last) = entries.last().map(|e| e.index) else {
            return Ok(());
        };
        let mut answers = Vec::new();
        {
            let mut kv = self.kv.lock().expect("kv lock");
            let mut members = self.members.lock().expect("members lock");
            let mut meta_ops = Vec::new();
            let mut sm = StateMachine {
                kv: &mut kv,
                members: &mut members,
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
                    EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                        unreachable!("membership changes arrive with multi-node raft")
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
        let first = self.raw.store().first_index().map_err(io::Error::other)?;
        if self.compact_log && self.applied > first + 2 * LOG_ENTRIES_RETAINED {
            let to = self.applied - LOG_ENTRIES_RETAINED;
            self.raw
                .store()
                .wl()
                .compact(to)
                .map_err(io::Error::other)?;
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
