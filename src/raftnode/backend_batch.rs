//! The backend batch (etcd's batch tx): the writes of applied entries
//! gather in the raft loop and go to the backend every
//! [`BACKEND_BATCH_INTERVAL`] or [`BACKEND_BATCH_LIMIT`] writes, whichever
//! comes first, as etcd's backend commits every 100 ms or 10,000 writes.
//!
//! Committing one backend batch per raft batch cost a put a fifth of its
//! instructions and 80 µs of the loop's time; committing on the loop every
//! 100 ms stalled it for tens of milliseconds. So a [`Committer`] task
//! commits and flushes the batches off the loop, one at a time and in
//! order, while the loop goes on.
//!
//! Nothing reads the backend for requests: the state in memory has every
//! applied write. What must find every applied entry in the backend waits
//! for the committer first: log compaction (the WAL keeps every entry whose
//! batch is not yet durable, so a restart applies them again), raft
//! snapshots and `Maintenance.Snapshot` (a checkpoint taken behind the
//! batches sent before), installing a snapshot, defragmentation, and
//! stopping.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::storage::backend::{Backend, Checkpoint};
use crate::storage::schema::BackendOp;

/// How long applied writes wait before their batch goes to the backend
/// (etcd's `--backend-batch-interval` default).
pub const BACKEND_BATCH_INTERVAL: Duration = Duration::from_millis(100);
/// Most writes in one batch (etcd's `--backend-batch-limit` default).
pub const BACKEND_BATCH_LIMIT: usize = 10_000;

/// The writes applied since the last batch went to the committer.
#[derive(Default)]
pub struct BackendBatch {
    ops: Vec<BackendOp>,
    /// The index of the last entry whose writes are in `ops`.
    last: u64,
    /// When the first entry was added.
    since: Option<tokio::time::Instant>,
}

/// A batch handed to the committer: the writes, and the consistent index
/// they bring the backend to.
pub type Batch = Option<(Vec<BackendOp>, u64)>;

impl BackendBatch {
    /// Adds an applied batch of entries up to index `last`.
    pub fn add(&mut self, ops: Vec<BackendOp>, last: u64) {
        if self.ops.is_empty() {
            self.ops = ops;
        } else {
            self.ops.extend(ops);
        }
        self.last = last;
        self.since.get_or_insert_with(crate::rt::time::now);
    }

    /// Whether the batch should go to the backend now.
    pub fn due(&self) -> bool {
        self.ops.len() >= BACKEND_BATCH_LIMIT
            || self
                .since
                .is_some_and(|t| t.elapsed() >= BACKEND_BATCH_INTERVAL)
    }

    /// Takes the batch, if any entry was added since the last take.
    pub fn take(&mut self) -> Batch {
        self.since.take()?;
        Some((std::mem::take(&mut self.ops), self.last))
    }
}

enum Job {
    Commit(Vec<BackendOp>, u64),
    /// A checkpoint of the backend once every earlier job is done.
    Checkpoint(oneshot::Sender<io::Result<Checkpoint>>),
    /// Answered once every earlier job is done.
    Synced(oneshot::Sender<()>),
}

/// The handle of the committer task.
pub struct Committer {
    tx: mpsc::Sender<Job>,
    /// Why the task stopped, if a commit failed.
    failed: Arc<Mutex<Option<io::Error>>>,
}

impl Committer {
    /// Starts the task. One batch may wait while another commits; the
    /// loop waits beyond that, so the writes held in memory stay bounded.
    pub fn start(backend: Arc<dyn Backend>, metrics: Arc<crate::metrics::Metrics>) -> Committer {
        let (tx, rx) = mpsc::channel(1);
        let failed: Arc<Mutex<Option<io::Error>>> = Default::default();
        tokio::spawn(run(backend, rx, failed.clone(), metrics));
        Committer { tx, failed }
    }

    /// Why the committer is gone: a failed commit stops the member, as a
    /// failed backend commit stops etcd.
    fn gone(&self) -> io::Error {
        self.failed
            .lock()
            .expect("committer lock")
            .take()
            .unwrap_or_else(|| io::Error::other("the backend committer stopped"))
    }

    async fn job(&self, job: Job) -> io::Result<()> {
        self.tx.send(job).await.map_err(|_| self.gone())
    }

    /// Hands a batch over (nothing for `None`).
    pub async fn send(&self, batch: Batch) -> io::Result<()> {
        match batch {
            Some((ops, last)) => self.job(Job::Commit(ops, last)).await,
            None => Ok(()),
        }
    }

    /// Has `reply` answered with a checkpoint once every batch handed
    /// over so far is committed.
    pub async fn checkpoint(
        &self,
        reply: oneshot::Sender<io::Result<Checkpoint>>,
    ) -> io::Result<()> {
        self.job(Job::Checkpoint(reply)).await
    }

    /// Returns once every batch handed over so far is committed and
    /// flushed.
    pub async fn synced(&self) -> io::Result<()> {
        let (reply, done) = oneshot::channel();
        self.job(Job::Synced(reply)).await?;
        done.await.map_err(|_| self.gone())
    }
}

async fn run(
    backend: Arc<dyn Backend>,
    mut rx: mpsc::Receiver<Job>,
    failed: Arc<Mutex<Option<io::Error>>>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    while let Some(job) = rx.recv().await {
        match job {
            Job::Commit(ops, last) => {
                let started = crate::rt::time::now();
                let b = backend.clone();
                let done = crate::rt::blocking(move || {
                    b.commit(&ops, last)?;
                    b.flush()
                })
                .await;
                match done {
                    Ok(()) => metrics.observe_backend_commit(started.elapsed()),
                    Err(e) => {
                        tracing::error!(error = %e, "failed to commit the backend batch");
                        *failed.lock().expect("committer lock") = Some(e);
                        return;
                    }
                }
            }
            Job::Checkpoint(reply) => {
                let _ = reply.send(Ok(backend.checkpoint()));
            }
            Job::Synced(reply) => {
                let _ = reply.send(());
            }
        }
    }
}
