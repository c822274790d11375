//! etcd's `WatchableStore`: watchers on key ranges, fed the events of every
//! applied revision, in revision order, each exactly once.
//!
//! A watcher is in one of three sets, as in etcd:
//!
//! * **synced**: it has everything up to the last notified revision, and the
//!   raft loop hands it each new revision's events ([`WatchableStore::notify`]);
//! * **unsynced**: it starts in the past, or fell behind; the sync task reads
//!   the history it missed from the MVCC store ([`WatchableStore::sync`]);
//! * **victim**: its stream's buffer was full when a batch was ready; the
//!   batch is kept and retried by the sync task, and the watcher then catches
//!   up as unsynced. So a slow watcher never blocks writes and never loses
//!   an event silently: it is delivered late, or cancelled as compacted.
//!
//! Every watcher remembers the next revision it must get (`next_rev`); a
//! batch is sent only for revisions at or past it, which is what makes the
//! hand-over between the sync task and the raft loop exact, whichever runs
//! first. The buffer is one bounded channel per client stream.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::mpsc;

use super::store::KvStore;
use crate::pb::mvccpb::{event::EventType, Event};

/// Revisions a catching-up watcher gets in one batch (etcd's
/// `watchBatchMaxRevs`).
const SYNC_BATCH_REVS: i64 = 1000;

/// Unsynced watchers that read history in one sync round (etcd's
/// `maxWatchersPerSync`): the round holds the store's lock, which the raft
/// loop's notify needs, so its work is bounded; the rest wait a round.
const SYNC_WATCHERS_MAX: usize = 512;

/// What a stream's send loop gets for one of its watchers.
#[derive(Debug, PartialEq)]
pub struct Batch {
    pub watch_id: i64,
    pub events: Vec<Event>,
    /// The store's revision the batch is complete up to.
    pub revision: i64,
    /// Non-zero: the watcher wanted compacted history and is cancelled.
    pub compact_revision: i64,
}

/// What a client stream sends, in order: its watchers' batches, and the
/// stream's own answers (created, cancelled, progress), which must not
/// overtake the batches queued before them.
#[derive(Debug, PartialEq)]
pub enum Out {
    Batch(Batch),
    Control(crate::pb::etcdserverpb::WatchResponse),
}

/// A client stream's end of its watchers' batches.
pub type BatchTx = mpsc::Sender<Out>;

/// What a watcher watches.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    pub key: Vec<u8>,
    /// Empty: `key` alone; `[0]`: every key from `key` on; else `[key, end)`.
    pub range_end: Vec<u8>,
    /// The first revision to send (0: the next one).
    pub start_rev: i64,
    pub no_put: bool,
    pub no_delete: bool,
}

impl WatchSpec {
    fn contains(&self, k: &[u8]) -> bool {
        match self.range_end.as_slice() {
            [] => k == self.key.as_slice(),
            [0] => k >= self.key.as_slice(),
            end => k >= self.key.as_slice() && k < end,
        }
    }

    fn wants(&self, ev: &Event) -> bool {
        let put = ev.r#type == EventType::Put as i32;
        if (put && self.no_put) || (!put && self.no_delete) {
            return false;
        }
        ev.kv.as_ref().is_some_and(|kv| self.contains(&kv.key))
    }
}

#[derive(Debug)]
enum Set {
    Synced,
    Unsynced,
    /// The batch that did not fit its stream's buffer.
    Victim(Batch),
}

struct Watcher {
    stream: u64,
    watch_id: i64,
    spec: WatchSpec,
    next_rev: i64,
    set: Set,
    tx: BatchTx,
}

#[derive(Default)]
struct Inner {
    /// By `(stream, watch id)`. Ordered: the order watchers are handed
    /// their batches decides which stream task wakes first, and a hash
    /// map's order differs between runs of one seed (the simulator's
    /// determinism check caught it).
    watchers: BTreeMap<(u64, i64), Watcher>,
    /// The last revision whose events were handed out.
    notified: i64,
    next_stream: u64,
    /// Streams opened and not yet closed (a metric).
    open_streams: i64,
}

/// The watchers of one member.
#[derive(Default)]
pub struct WatchableStore {
    inner: Mutex<Inner>,
}

/// Why a watch was refused; `Display` is etcd's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchError {
    /// `mvcc: watcher range is empty`
    EmptyRange,
    /// `mvcc: duplicate watch ID provided on the WatchStream`
    DuplicateId,
}

impl std::fmt::Display for WatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WatchError::EmptyRange => "mvcc: watcher range is empty",
            WatchError::DuplicateId => "mvcc: duplicate watch ID provided on the WatchStream",
        })
    }
}

/// etcd refuses a range whose end is not past its key.
pub fn check_range(spec: &WatchSpec) -> Result<(), WatchError> {
    let end = spec.range_end.as_slice();
    if !end.is_empty() && end != [0] && spec.key.as_slice() >= end {
        return Err(WatchError::EmptyRange);
    }
    Ok(())
}

impl WatchableStore {
    pub fn new(current_rev: i64) -> Self {
        WatchableStore {
            inner: Mutex::new(Inner {
                notified: current_rev,
                ..Default::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("watchable store lock")
    }

    /// A new client stream's id.
    pub fn new_stream(&self) -> u64 {
        let mut g = self.lock();
        g.next_stream += 1;
        g.open_streams += 1;
        g.next_stream
    }

    /// `(watchers, open streams, watchers not synced)`, for `/metrics`.
    pub fn gauges(&self) -> (i64, i64, i64) {
        let g = self.lock();
        let slow = g
            .watchers
            .values()
            .filter(|w| !matches!(w.set, Set::Synced))
            .count();
        (g.watchers.len() as i64, g.open_streams, slow as i64)
    }

    /// Watches `spec` on `stream` as `watch_id` (0: the lowest free id from
    /// `auto_from`, as etcd assigns them; the caller passes its counter).
    /// Returns the id, and the revision the watch was created at.
    pub fn watch(
        &self,
        stream: u64,
        watch_id: i64,
        auto: bool,
        spec: WatchSpec,
        tx: BatchTx,
    ) -> Result<(i64, i64), WatchError> {
        check_range(&spec)?;
        let mut g = self.lock();
        let mut id = watch_id;
        if auto {
            while g.watchers.contains_key(&(stream, id)) {
                id += 1;
            }
        } else if g.watchers.contains_key(&(stream, id)) {
            return Err(WatchError::DuplicateId);
        }
        let current = g.notified;
        let next_rev = if spec.start_rev <= 0 {
            current + 1
        } else {
            spec.start_rev
        };
        let set = if next_rev > current {
            Set::Synced
        } else {
            Set::Unsynced
        };
        g.watchers.insert(
            (stream, id),
            Watcher {
                stream,
                watch_id: id,
                spec,
                next_rev,
                set,
                tx,
            },
        );
        Ok((id, current))
    }

    /// Whether `stream` has a watcher `watch_id`.
    pub fn is_watching(&self, stream: u64, watch_id: i64) -> bool {
        self.lock().watchers.contains_key(&(stream, watch_id))
    }

    /// Cancels a watch; whether it existed.
    pub fn cancel(&self, stream: u64, watch_id: i64) -> bool {
        self.lock().watchers.remove(&(stream, watch_id)).is_some()
    }

    /// A stream ended: its watchers go.
    pub fn close_stream(&self, stream: u64) {
        let mut g = self.lock();
        g.open_streams -= 1;
        g.watchers.retain(|_, w| w.stream != stream);
    }

    /// The revision a stream's watchers are all complete up to, if every
    /// one of them is synced (a progress notification may claim no more).
    pub fn progress(&self, stream: u64) -> Option<i64> {
        let g = self.lock();
        let all_synced = g
            .watchers
            .values()
            .filter(|w| w.stream == stream)
            .all(|w| matches!(w.set, Set::Synced));
        all_synced.then_some(g.notified)
    }

    /// The revision one watcher is complete up to, if it is synced (etcd's
    /// `watchableStore.progress`: a watcher still catching up, or whose
    /// batch waits as a victim, gets no notification).
    pub fn watcher_progress(&self, stream: u64, watch_id: i64) -> Option<i64> {
        let g = self.lock();
        let w = g.watchers.get(&(stream, watch_id))?;
        matches!(w.set, Set::Synced).then_some(g.notified)
    }

    /// The revision every synced watcher is complete up to.
    pub fn notified(&self) -> i64 {
        self.lock().notified
    }

    /// How many watchers there are.
    pub fn len(&self) -> usize {
        self.lock().watchers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raft loop applied revisions up to `rev`, with these events (in
    /// revision order): each synced watcher gets its share, one batch per
    /// revision.
    pub fn notify(&self, rev: i64, events: &[Event]) {
        let mut g = self.lock();
        if rev <= g.notified && events.is_empty() {
            return;
        }
        // The events by revision, `(revision, events)`, found once for all
        // watchers.
        let rev_of = |e: &Event| e.kv.as_ref().map_or(0, |kv| kv.mod_revision);
        let by_rev: Vec<(i64, &[Event])> = events
            .chunk_by(|a, b| rev_of(a) == rev_of(b))
            .map(|c| (rev_of(&c[0]), c))
            .collect();
        let mut gone = Vec::new();
        for (key, w) in g.watchers.iter_mut() {
            if !matches!(w.set, Set::Synced) {
                continue;
            }
            for &(r, evs) in &by_rev {
                if r >= w.next_rev {
                    let mine: Vec<Event> =
                        evs.iter().filter(|e| w.spec.wants(e)).cloned().collect();
                    w.next_rev = r + 1;
                    if !mine.is_empty() {
                        let b = Batch {
                            watch_id: w.watch_id,
                            events: mine,
                            revision: r,
                            compact_revision: 0,
                        };
                        match w.tx.try_send(Out::Batch(b)) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(Out::Batch(b))) => {
                                // Later revisions come from history once
                                // this batch is out.
                                w.set = Set::Victim(b);
                                break;
                            }
                            Err(mpsc::error::TrySendError::Full(_)) => unreachable!(),
                            Err(mpsc::error::TrySendError::Closed(_)) => {
                                gone.push(*key);
                                break;
                            }
                        }
                    }
                }
            }
            if matches!(w.set, Set::Synced) {
                w.next_rev = w.next_rev.max(rev + 1);
            }
        }
        for k in gone {
            g.watchers.remove(&k);
        }
        g.notified = g.notified.max(rev);
    }

    /// The key space was replaced (a snapshot from the leader): every
    /// watcher catches up from the new history.
    pub fn restore(&self, current_rev: i64) {
        let mut g = self.lock();
        for w in g.watchers.values_mut() {
            if matches!(w.set, Set::Synced) {
                w.set = Set::Unsynced;
            }
        }
        g.notified = current_rev;
    }

    /// Whether the sync task has work: watchers behind, or batches waiting.
    pub fn needs_sync(&self) -> bool {
        self.lock()
            .watchers
            .values()
            .any(|w| !matches!(w.set, Set::Synced))
    }

    /// The sync task's round: victims retry their batch; unsynced watchers
    /// get the history they missed from `kv` (or are cancelled as compacted)
    /// and become synced once they have all of it.
    pub fn sync(&self, kv: &KvStore) {
        let mut g = self.lock();
        // Revisions at or below `notified` are in `kv` already: the raft loop
        // applies before it notifies. `kv` may be further on; notify will
        // skip what a watcher got here (its next_rev moved past it).
        let current = kv.rev();
        let mut gone = Vec::new();
        let mut read = 0;
        for (key, w) in g.watchers.iter_mut() {
            if let Set::Victim(_) = w.set {
                let Set::Victim(b) = std::mem::replace(&mut w.set, Set::Unsynced) else {
                    unreachable!()
                };
                match w.tx.try_send(Out::Batch(b)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(Out::Batch(b))) => {
                        w.set = Set::Victim(b);
                        continue;
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => unreachable!(),
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        gone.push(*key);
                        continue;
                    }
                }
            }
            // No room on its stream: reading history now would be thrown
            // away; it waits for the client to take what is queued.
            if !matches!(w.set, Set::Unsynced) || w.tx.capacity() == 0 {
                continue;
            }
            if w.tx.is_closed() {
                gone.push(*key);
                continue;
            }
            if w.next_rev <= kv.compact_rev() {
                let b = Batch {
                    watch_id: w.watch_id,
                    events: Vec::new(),
                    revision: 0,
                    compact_revision: kv.compact_rev(),
                };
                match w.tx.try_send(Out::Batch(b)) {
                    Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*key),
                    Err(mpsc::error::TrySendError::Full(_)) => {}
                }
                continue;
            }
            if read == SYNC_WATCHERS_MAX {
                continue;
            }
            read += 1;
            let to = current.min(w.next_rev + SYNC_BATCH_REVS - 1);
            let from = if crate::bugs::active(crate::bugs::Bug::WatchSyncOffByOne) {
                w.next_rev + 1
            } else {
                w.next_rev
            };
            let events: Vec<Event> = kv
                .events_between(&w.spec.key, &w.spec.range_end, from, to)
                .into_iter()
                .filter(|e| w.spec.wants(e))
                .collect();
            if !events.is_empty() {
                let b = Batch {
                    watch_id: w.watch_id,
                    events,
                    revision: current,
                    compact_revision: 0,
                };
                match w.tx.try_send(Out::Batch(b)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => continue,
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        gone.push(*key);
                        continue;
                    }
                }
            }
            w.next_rev = w.next_rev.max(to + 1);
            if to >= current {
                w.set = Set::Synced;
            }
        }
        for k in gone {
            g.watchers.remove(&k);
        }
        // `notified` stays: a synced watcher may not have had the revisions
        // `kv` is ahead by yet (the raft loop notifies after it applies).
    }
}

#[cfg(test)]
mod tests;
