//! The raft node driver: owns raft-rs's `RawNode`, the WAL and the
//! [`Applier`], and runs the one Ready loop — persist (WAL append + fsync)
//! → apply committed entries → commit their batch → run their effects →
//! answer waiters → advance.
//!
//! Every proposal that arrived while the previous batch was being persisted
//! is taken in one go, so one fsync covers many requests (group commit).
//!
//! The replicated state and raft's progress are one [`Shared`] value behind
//! one lock, which the loop holds only while it applies entries in memory;
//! the backend commit happens after the lock is released, so reads never
//! wait on the disk.
//!
//! Start-up (a new cluster's log, recovery, the checks between WAL and
//! backend) is in [`bootstrap`]; snapshots and log compaction in
//! [`snapshot`].

mod backend_batch;
mod bootstrap;
mod read_rounds;
mod snapshot;
mod wait;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use raft::eraftpb::{ConfChange, Entry};
use raft::{RawNode, SnapshotStatus, StateRole};
use tokio::sync::{mpsc, oneshot};

use self::backend_batch::{BackendBatch, Committer};
pub use self::bootstrap::{bootstrap_log, MemberRemoved, NodeConfig};
use self::read_rounds::ReadRounds;
pub use self::snapshot::{snapshots_installed, SNAPSHOT_CATCHUP_ENTRIES};
use self::wait::Waiters;
pub use self::wait::{ProposeError, Reply, Waiter};
use crate::apply::{Applier, Effect, Output, State};
use crate::lease::{LessorConfig, CHECKPOINT_BATCH, REVOKE_RATE};
use crate::pb::etcdserverpb::{
    internal_raft_request::Request, InternalRaftRequest, LeaseCheckpoint, LeaseCheckpointRequest,
    LeaseRevokeRequest, Member,
};
use crate::storage::backend::Backend;
use crate::storage::logstore::LogStore;
use crate::storage::wal::Wal;
use crate::transport::{RaftSink, Reachable, Transport};

/// Most commands drained from the queue into one Ready cycle.
const BATCH_COMMANDS_MAX: usize = 4096;
/// A learner is in sync when it has this share of the leader's log (etcd).
const LEARNER_READY_PERCENT: f64 = 0.9;

/// A request to the raft loop.
pub enum RaftCmd {
    /// Replicate `data` (an encoded `InternalRaftRequest` with this `id`),
    /// apply it, and answer `waiter` with the result.
    Propose {
        id: u64,
        data: Vec<u8>,
        waiter: Waiter,
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
        reply: Reply<Vec<Member>>,
    },
    /// How sending a snapshot to `to` went.
    ReportSnapshot { to: u64, ok: bool },
    /// A peer refused this member's messages: it was removed.
    Removed,
    /// A snapshot built off the loop (see `raftnode::snapshot`), or why
    /// it could not be.
    SnapshotBuilt(Box<Result<raft::eraftpb::Snapshot, String>>),
    /// Whether learner `id` has caught up with this leader's log.
    LearnerReady {
        id: u64,
        reply: oneshot::Sender<Result<bool, TransferError>>,
    },
    /// Commit the backend batch now and answer with a checkpoint of the
    /// backend holding every applied entry (etcd's `ForceCommit` before a
    /// snapshot or a defragmentation).
    CommitBackend {
        reply: oneshot::Sender<io::Result<crate::storage::backend::Checkpoint>>,
    },
}

/// Why a leadership transfer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferError {
    NotLeader,
    BadTransferee,
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

/// What the server reads and the raft loop writes: the replicated state
/// and raft's progress.
#[derive(Default)]
pub struct Shared {
    pub state: State,
    pub status: RaftStatus,
}

/// What the rest of the server shares with the raft loop.
#[derive(Clone)]
pub struct RaftHandle {
    pub shared: Arc<RwLock<Shared>>,
    /// Peers the transport reached lately.
    pub reachable: Reachable,
    /// Whether this member is a learner (read on every client request, so
    /// not behind the lock the loop takes to apply).
    pub learner: Arc<AtomicBool>,
    /// The node clock (see [`NodeClock`]).
    pub clock: NodeClock,
    /// The watchers, told of every applied revision.
    pub watchable: Arc<crate::mvcc::watchable_store::WatchableStore>,
    /// This member's metrics (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Woken after every applied batch that changed the v2 store (its
    /// waiting watchers then poll their mailboxes).
    pub v2_changed: Arc<tokio::sync::Notify>,
    /// The backend quota in bytes (`None`: no quota).
    pub quota_max: Option<u64>,
}

/// The member's own clock, as the raft ticker measures it: the ticks
/// delivered since start, plus the time since the last one (at most one
/// tick). Leases expire by it, so the clock faults the simulator gives the
/// ticker (a fast, slow or jumping clock) reach leases exactly as they reach
/// elections; in production it is the monotonic clock.
#[derive(Clone)]
pub struct NodeClock(Arc<std::sync::Mutex<ClockState>>);

struct ClockState {
    /// Ticks delivered, as time.
    ticked: Duration,
    /// When the last tick was delivered (the runtime's clock).
    at: tokio::time::Instant,
    tick: Duration,
}

impl Default for NodeClock {
    fn default() -> Self {
        NodeClock(Arc::new(std::sync::Mutex::new(ClockState {
            ticked: Duration::ZERO,
            at: crate::rt::time::now(),
            tick: Duration::from_millis(100),
        })))
    }
}

impl NodeClock {
    pub fn now(&self) -> Duration {
        let c = self.0.lock().expect("clock lock");
        c.ticked + c.at.elapsed().min(c.tick)
    }

    /// `n` ticks of `tick` were delivered just now. A slow clock delivers
    /// none at times: then the reading stays capped one tick past the last
    /// delivery, so it never runs backwards.
    fn advance(&self, n: u32, tick: Duration) {
        let mut c = self.0.lock().expect("clock lock");
        c.tick = tick;
        if n > 0 {
            c.ticked += tick * n;
            c.at = crate::rt::time::now();
        }
    }
}

pub struct RaftNode {
    raw: RawNode<LogStore>,
    wal: Wal,
    backend: Arc<dyn Backend>,
    applier: Applier,
    handle: RaftHandle,
    /// Applied writes not yet committed to the backend (etcd's batch tx).
    /// Reads never need them there: the state in memory has them. The WAL
    /// holds their entries until the batch is committed and flushed.
    backend_batch: BackendBatch,
    /// Commits the backend batches, in order, off the loop (started by
    /// [`RaftNode::run`]).
    committer: Option<Committer>,
    /// `CommitBackend` requests, answered after this cycle's batch.
    checkpoint_waiters: Vec<oneshot::Sender<io::Result<crate::storage::backend::Checkpoint>>>,
    waiters: Waiters,
    /// Linearizable reads waiting for a ReadIndex round or its answer.
    reads: ReadRounds<oneshot::Sender<()>>,
    reads_ready: Vec<(u64, oneshot::Sender<()>)>,
    tick: Duration,
    transport: Option<Transport>,
    /// Leadership transfers waiting for their target to lead.
    transfers: Vec<(u64, oneshot::Sender<Result<(), TransferError>>)>,
    initial_peers: Vec<(u64, String)>,
    peer_dialer: crate::rt::net::Dialer,
    snapshot_count: u64,
    /// Applied index at the last compaction.
    compacted_at: u64,
    /// This member applied its own removal, or a peer said it was removed.
    removed: bool,
    campaign_at_start: bool,
    election_ticks: usize,
    /// `(term, role)` when the election timeout was last drawn.
    last_reset: Option<(u64, StateRole)>,
    /// The status last published (the lock is taken only on a change).
    published: RaftStatus,
    /// The lessor's configuration (a snapshot's state gets it too).
    lessor: LessorConfig,
    /// `--auth-token`, `--auth-token-ttl` (a snapshot's state gets them too).
    auth_tokens: crate::auth::TokenConfig,
    /// Whether this member's lessor is primary (it leads, and applied its
    /// term's first entry).
    primary: bool,
    /// Where a snapshot built off the loop is handed back (set by `run`).
    snapshot_tx: Option<mpsc::WeakSender<RaftCmd>>,
    /// A snapshot is being built.
    snapshot_building: bool,
}

#[tonic::async_trait]
impl RaftSink for mpsc::Sender<RaftCmd> {
    async fn step(&self, m: raft::eraftpb::Message) -> Result<(), ()> {
        self.send(RaftCmd::Step(Box::new(m))).await.map_err(|_| ())
    }

    async fn report_snapshot(&self, to: u64, ok: bool) {
        let _ = self.send(RaftCmd::ReportSnapshot { to, ok }).await;
    }

    async fn removed(&self) {
        let _ = self.send(RaftCmd::Removed).await;
    }
}

#[tonic::async_trait]
impl RaftSink for mpsc::WeakSender<RaftCmd> {
    async fn step(&self, m: raft::eraftpb::Message) -> Result<(), ()> {
        self.upgrade().ok_or(())?.step(m).await
    }

    async fn report_snapshot(&self, to: u64, ok: bool) {
        if let Some(tx) = self.upgrade() {
            tx.report_snapshot(to, ok).await;
        }
    }

    async fn removed(&self) {
        if let Some(tx) = self.upgrade() {
            tx.removed().await;
        }
    }
}

impl RaftNode {
    fn me(&self) -> u64 {
        self.raw.raft.id
    }

    /// Runs the Ready loop until `stop` turns true (then flushes the backend
    /// and returns `Ok(false)`), or until this member is removed from the
    /// cluster (`Ok(true)`). Stopping is explicit: request handlers that
    /// still hold a sender cannot keep the loop alive. `tx` feeds `rx` (the
    /// transport reports snapshot outcomes through it).
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<RaftCmd>,
        tx: mpsc::Sender<RaftCmd>,
        stop: tokio_util::sync::CancellationToken,
    ) -> io::Result<bool> {
        let sink: Arc<dyn RaftSink> = Arc::new(tx.downgrade());
        self.snapshot_tx = Some(tx.downgrade());
        let mut transport = Transport::new(
            self.me(),
            sink,
            self.handle.reachable.clone(),
            self.peer_dialer.clone(),
            self.handle.metrics.clone(),
        );
        for (id, url) in &self.initial_peers {
            if *id != self.me() {
                transport.add(*id, url);
            }
        }
        self.transport = Some(transport);
        self.committer = Some(Committer::start(
            self.backend.clone(),
            self.handle.metrics.clone(),
        ));
        self.add_member_peers();
        drop(tx);
        let mut tick = tokio::time::interval(self.tick);
        // Apply what is committed first: raft refuses to campaign while a
        // committed conf change (the bootstrap entries) is unapplied.
        self.on_ready().await?;
        if self.campaign_at_start {
            self.raw.campaign().map_err(io::Error::other)?;
            self.on_ready().await?;
        }
        loop {
            tokio::select! {
                // tokio picks among ready branches with a thread-local RNG the
                // simulator cannot seed; a fixed order keeps replays exact.
                biased;
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    // One tick, or a simulated clock fault's more or fewer (rt::faults).
                    let ticks = crate::rt::faults::ticks_due();
                    for _ in 0..ticks {
                        self.raw.tick();
                        // A reset inside a burst must not use raft-rs's own draw.
                        self.rerandomize_election_timeout();
                    }
                    self.handle.clock.advance(ticks, self.tick);
                    self.lease_housekeeping();
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
            loop {
                self.start_read_round();
                // A simulated slow disk (rt::faults); always zero in production.
                let slow_disk = crate::rt::faults::disk_latency();
                if !slow_disk.is_zero() && self.raw.has_ready() {
                    tokio::time::sleep(slow_disk).await;
                }
                self.on_ready().await?;
                // A round just answered: start the next for the reads
                // queued behind it, without waiting for another event.
                if !self.reads.due() {
                    break;
                }
            }
            self.backend_housekeeping().await?;
            if self.removed {
                self.sync_backend().await?;
                return Ok(true);
            }
        }
        self.sync_backend().await?;
        Ok(false)
    }

    fn handle(&mut self, cmd: RaftCmd) {
        match cmd {
            RaftCmd::Propose { id, data, waiter } => {
                if self.raw.propose(vec![], data).is_err() {
                    waiter.fail(ProposeError::NoLeader);
                } else {
                    self.waiters.insert(id, waiter);
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
                    self.waiters.insert(id, Waiter::Members(reply));
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
                let _ = reply.send(self.learner_ready(id));
            }
            RaftCmd::SnapshotBuilt(built) => self.snapshot_built(*built),
            RaftCmd::CommitBackend { reply } => self.checkpoint_waiters.push(reply),
            RaftCmd::ReadIndex { reply } => self.read_index(reply),
            // Stops the loop as applying the removal would: the peers, which
            // applied it, no longer take this member's messages.
            RaftCmd::Removed => self.removed = true,
            RaftCmd::Step(m) => {
                // Messages from unknown or removed peers are refused by raft.
                let _ = self.raw.step(*m);
            }
            RaftCmd::TransferLeader { target, reply } => self.transfer_leader(target, reply),
        }
    }

    fn learner_ready(&self, id: u64) -> Result<bool, TransferError> {
        let r = &self.raw.raft;
        if r.state != StateRole::Leader {
            return Err(TransferError::NotLeader);
        }
        let leader = r.prs().get(r.id).map_or(0, |p| p.matched);
        let learner = r.prs().get(id).map_or(0, |p| p.matched);
        Ok(learner as f64 >= leader as f64 * LEARNER_READY_PERCENT)
    }

    fn read_index(&mut self, reply: oneshot::Sender<()>) {
        self.reads.queue(reply);
    }

    /// Asks raft for a ReadIndex round if one is due ([`ReadRounds`]).
    fn start_read_round(&mut self) {
        let (term, leader) = (self.raw.raft.term, self.raw.raft.leader_id);
        let now = crate::rt::time::now();
        // Callers that gave up ask again after 500 ms with a new reply.
        if let Some(seq) = self.reads.start(now, term, leader, |r| !r.is_closed()) {
            // The leader keys pending reads by context, so it must be unique
            // across members: member id, then a sequence number.
            let mut ctx = self.me().to_be_bytes().to_vec();
            ctx.extend_from_slice(&seq.to_be_bytes());
            self.raw.read_index(ctx);
        }
    }

    fn transfer_leader(&mut self, target: u64, reply: oneshot::Sender<Result<(), TransferError>>) {
        if self.raw.raft.state != StateRole::Leader {
            let _ = reply.send(Err(TransferError::NotLeader));
        } else if !self.raw.raft.prs().conf().voters().contains(target) {
            let _ = reply.send(Err(TransferError::BadTransferee));
        } else if target == self.me() {
            let _ = reply.send(Ok(()));
        } else {
            self.raw.transfer_leader(target);
            self.transfers.push((target, reply));
        }
    }

    async fn on_ready(&mut self) -> io::Result<()> {
        self.rerandomize_election_timeout();
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut rd = self.raw.ready();
        if !rd.snapshot().is_empty() {
            self.install_snapshot(rd.snapshot()).await?;
        }
        // A leader may send before persisting (Raft §10.2.1).
        let to_peers = rd.take_messages();
        let sent_early = !to_peers.is_empty();
        self.send(to_peers);
        for rs in rd.take_read_states() {
            let Some(seq) = self.own_read_seq(&rs.request_ctx) else {
                continue;
            };
            let answered = self.reads.answered(seq);
            self.reads_ready
                .extend(answered.into_iter().map(|r| (rs.index, r)));
        }
        // Persist before anything that depends on it is applied or answered.
        let entries = !rd.entries().is_empty();
        if entries {
            self.wal.append_entries(rd.entries())?;
            self.raw.store().append(rd.entries());
        }
        // etcd's MustSync: entries, a new term or a new vote are fsynced
        // before anything depends on them. A hard state that only moves
        // the commit index is written but not fsynced: a restart takes the
        // commit index from the backend's applied index when that is
        // further (bootstrap), and the leader tells it again. Syncing it
        // cost every member of a cluster a second fsync per put, one for
        // the entry and one for its commit.
        let mut must_sync = entries;
        if let Some(hs) = rd.hs() {
            let prev = self.raw.store().hard_state();
            must_sync |= hs.term != prev.term || hs.vote != prev.vote;
            self.wal.set_hard_state(hs)?;
            self.raw.store().set_hard_state(hs.clone());
        }
        // Votes and appends acknowledged to peers wait for the fsync: a
        // member that crashed after sending them would deny having them.
        let persisted = rd.take_persisted_messages();
        let early = crate::bugs::active(crate::bugs::Bug::SendBeforeFsync);
        if early {
            self.send(persisted.clone());
        }
        if must_sync {
            if sent_early {
                // The peer senders just woken wait in this worker's LIFO
                // slot, which no other worker steals, and the fsync below
                // blocks this worker: without a yield the appends leave only
                // after the leader's fsync, and the followers' fsyncs cannot
                // overlap it.
                tokio::task::yield_now().await;
            }
            crate::rt::faults::fsync_point(entries).await;
            if crate::rt::faults::fsync_fails() {
                return Err(io::Error::other(
                    "failed to sync the WAL: the disk failed the fsync",
                ));
            }
            let fsync_started = crate::rt::time::now();
            self.wal.sync()?;
            self.handle.metrics.observe_fsync(fsync_started.elapsed());
            crate::rt::faults::fsync_point(false).await;
        } else {
            self.wal.write()?;
        }
        // The same LIFO slot: a follower's acknowledgements would wait for
        // the applies below, and the leader's commit with them.
        let mut acks_queued = !persisted.is_empty();
        if !early {
            self.send(persisted);
        }
        let committed = rd.take_committed_entries();
        yield_before_apply(&mut acks_queued, &committed).await;
        self.apply(committed)?;
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.raw.store().set_commit(commit);
        }
        self.send(light.take_messages());
        let committed = light.take_committed_entries();
        yield_before_apply(&mut acks_queued, &committed).await;
        self.apply(committed)?;
        self.raw.advance_apply();
        self.release_reads();
        self.finish_transfers();
        if self.applier.applied() >= self.compacted_at + self.snapshot_count {
            self.compact().await?;
        }
        if self.raw.store().take_snapshot_wanted() {
            self.make_snapshot().await?;
        }
        self.rerandomize_election_timeout();
        self.publish_status();
        Ok(())
    }

    /// Applies committed entries: in memory under the lock, then their batch
    /// to the backend, then their effects, then the answers.
    fn apply(&mut self, entries: Vec<Entry>) -> io::Result<()> {
        let Some(last) = entries.last().map(|e| e.index) else {
            return Ok(());
        };
        let before = self.applier.applied();
        assert!(
            entries.first().is_some_and(|e| e.index <= before + 1),
            "committed entries start at or before the next index to apply ({})",
            before + 1
        );
        let mut out = Output::default();
        let now = self.handle.clock.now();
        self.applier.set_now(now, crate::rt::time::unix_nanos());
        self.applier.set_quota(crate::apply::alarm::Quota {
            backend_bytes: self.backend.size_bytes(),
            max: self.handle.quota_max,
        });
        // etcd promotes the lessor when the leader applies its term's empty
        // entry: every entry of earlier terms (grants, revokes) is applied.
        let term = self.raw.raft.term;
        let promote = self.raw.raft.state == StateRole::Leader
            && entries.iter().any(|e| {
                e.index > before
                    && e.term == term
                    && e.data.is_empty()
                    && e.get_entry_type() == raft::eraftpb::EntryType::EntryNormal
            });
        let rev = {
            let mut shared = self.handle.shared.write().expect("state lock");
            for e in &entries {
                self.applier.apply(&mut shared.state, e, &mut out);
            }
            self.applier.finish_batch(&mut shared.state, &mut out);
            if promote && !self.primary {
                let extend = self.tick * self.election_ticks as u32;
                shared.state.lessor.promote(now, extend);
                self.primary = true;
            }
            shared.state.kv.rev()
        };
        if last > before {
            assert_eq!(
                self.applier.applied(),
                last,
                "every committed entry applied"
            );
            self.backend_batch.add(out.ops, last);
            self.handle
                .metrics
                .carry_apply_counts(self.applier.counts());
        }
        self.run_effects(out.effects)?;
        // Watchers hear of a revision once readers can see it.
        if !out.events.is_empty() {
            self.handle.watchable.notify(rev, &out.events);
        }
        if out.v2_changed {
            self.handle.v2_changed.notify_waiters();
        }
        for (id, answer) in out.answers {
            self.waiters.answer(id, answer);
        }
        Ok(())
    }

    fn committer(&self) -> &Committer {
        self.committer
            .as_ref()
            .expect("the committer runs while the loop does")
    }

    /// Hands whatever the backend batch holds to the committer now.
    async fn send_backend_batch(&mut self) -> io::Result<()> {
        let batch = self.backend_batch.take();
        self.committer().send(batch).await
    }

    /// Hands the backend batch to the committer if it is due, and answers
    /// `CommitBackend` requests once what was applied before is committed.
    async fn backend_housekeeping(&mut self) -> io::Result<()> {
        if self.backend_batch.due() || !self.checkpoint_waiters.is_empty() {
            self.send_backend_batch().await?;
        }
        for reply in std::mem::take(&mut self.checkpoint_waiters) {
            self.committer().checkpoint(reply).await?;
        }
        Ok(())
    }

    /// Returns once the backend holds every applied entry, durably.
    async fn sync_backend(&mut self) -> io::Result<()> {
        self.send_backend_batch().await?;
        self.committer().synced().await
    }

    /// Runs what applying asked of the raft node, in log order.
    fn run_effects(&mut self, effects: Vec<Effect>) -> io::Result<()> {
        for effect in effects {
            match effect {
                Effect::ConfChange { cc, conf_state } => {
                    let cs = self.raw.apply_conf_change(&cc).map_err(io::Error::other)?;
                    // raft-rs lists ids in hash-set order.
                    let sorted = |ids: &[u64]| {
                        let mut ids = ids.to_vec();
                        ids.sort_unstable();
                        ids
                    };
                    assert_eq!(
                        (sorted(&cs.voters), sorted(&cs.learners)),
                        (conf_state.voters.clone(), conf_state.learners.clone()),
                        "raft and the applier agree on the configuration"
                    );
                    self.note_learner();
                }
                Effect::PeerAdded { id, url } => {
                    if let Some(t) = self.transport.as_mut() {
                        t.add(id, &url);
                    }
                }
                Effect::PeerRemoved(id) => {
                    if let Some(t) = self.transport.as_mut() {
                        t.remove(id);
                    }
                }
                Effect::Removed => self.removed = true,
            }
        }
        Ok(())
    }

    /// The sequence number in a read context this member issued.
    fn own_read_seq(&self, ctx: &[u8]) -> Option<u64> {
        let (id, seq) = ctx.split_at_checked(8)?;
        if id != self.me().to_be_bytes() {
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
        let applied = self.applier.applied();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_ready)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.reads_ready = waiting;
        for (_, reply) in ready {
            let _ = reply.send(());
        }
    }

    fn finish_transfers(&mut self) {
        let leader = self.raw.raft.leader_id;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.transfers)
            .into_iter()
            .partition(|(target, _)| *target == leader);
        self.transfers = waiting;
        for (_, reply) in done {
            let _ = reply.send(Ok(()));
        }
    }

    /// Sends to every other member in the table (at its first peer URL).
    fn add_member_peers(&mut self) {
        let me = self.me();
        let Some(t) = self.transport.as_mut() else {
            return;
        };
        let shared = self.handle.shared.read().expect("state lock");
        for m in shared.state.cluster.members().filter(|m| m.id != me) {
            if let Some(url) = m.peer_ur_ls.first() {
                t.add(m.id, url);
            }
        }
    }

    /// Publishes whether this member is (still) a learner.
    fn note_learner(&self) {
        let shared = self.handle.shared.read().expect("state lock");
        let learner = shared.state.cluster.is_learner(self.me());
        self.handle.learner.store(learner, Ordering::Relaxed);
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

    /// A leader that lost leadership stops being the primary lessor at
    /// once: from here on no lease expires on this member.
    fn demote_if_deposed(&mut self) {
        if self.primary && self.raw.raft.state != StateRole::Leader {
            self.primary = false;
            let mut shared = self.handle.shared.write().expect("state lock");
            shared.state.lessor.demote();
        }
    }

    /// On the primary, each tick: revoke expired leases and replicate due
    /// checkpoints, both through raft (at most etcd's revoke rate).
    fn lease_housekeeping(&mut self) {
        self.demote_if_deposed();
        if !self.primary {
            return;
        }
        let now = self.handle.clock.now();
        let per_tick = (REVOKE_RATE as u128 * self.tick.as_millis() / 1000).max(1) as usize;
        let (expired, checkpoints) = {
            let mut shared = self.handle.shared.write().expect("state lock");
            let lessor = &mut shared.state.lessor;
            (
                lessor.expired(now, per_tick),
                lessor.due_checkpoints(now, CHECKPOINT_BATCH),
            )
        };
        for id in expired {
            self.propose_internal(Request::LeaseRevoke(LeaseRevokeRequest { id }));
        }
        if !checkpoints.is_empty() {
            let checkpoints = checkpoints
                .into_iter()
                .map(|(id, remaining_ttl)| LeaseCheckpoint { id, remaining_ttl })
                .collect();
            self.propose_internal(Request::LeaseCheckpoint(LeaseCheckpointRequest {
                checkpoints,
            }));
        }
    }

    /// Proposes a request of the member's own that nobody waits for (its
    /// header id 0 matches no waiter). Only the leader does: a follower's
    /// proposal would be forwarded, and a deposed leader must not revoke.
    fn propose_internal(&mut self, req: Request) {
        if self.raw.raft.state != StateRole::Leader {
            return;
        }
        let data = prost::Message::encode_to_vec(&InternalRaftRequest {
            request: Some(req),
            ..Default::default()
        });
        let _ = self.raw.propose(vec![], data);
    }

    fn publish_status(&mut self) {
        self.demote_if_deposed();
        let r = &self.raw.raft;
        let st = RaftStatus {
            term: r.term,
            commit_index: r.raft_log.committed,
            applied_index: self.applier.applied(),
            leader_id: r.leader_id,
            is_leader: r.state == StateRole::Leader,
        };
        if st != self.published {
            if st.leader_id != 0 && st.leader_id != self.published.leader_id {
                self.handle.metrics.leader_changes_seen.inc();
            }
            self.published = st;
            self.handle.shared.write().expect("state lock").status = st;
        }
    }
}

/// Lets the peer senders woken by `queued` messages run before an apply
/// that would otherwise hold this worker (and its LIFO slot) first.
async fn yield_before_apply(queued: &mut bool, entries: &[Entry]) {
    if *queued && !entries.is_empty() {
        *queued = false;
        tokio::task::yield_now().await;
    }
}
