//! Watch coalescing (etcd's `watch_ranges.go`, `watch_broadcasts.go`,
//! `watch_broadcast.go`, `watcher.go`) as one in-memory [`Hub`]: no I/O
//! here; the Watch service opens and closes the upstream watches the hub
//! asks for.
//!
//! A *broadcast* is one upstream watch of a key range, with the client
//! *watchers* it serves (its receivers). A new watcher joins a broadcast of
//! its range when the broadcast will not skip anything it needs (its next
//! revision is not ahead of the watcher's); otherwise it gets a broadcast
//! of its own, which, once the cluster has answered it, is merged into an
//! older broadcast of the range that is not ahead of it (then its upstream
//! watch closes). Each watcher filters what it receives: events below its
//! own next revision (seen already, or before it asked), its filters, and
//! `prev_kv` unless it asked for it.
//!
//! Worked example: watcher A watches `k` from now: broadcast 1 is created
//! (`nextrev` 0) and the cluster answers "created at 7": `nextrev` 8.
//! Watcher B watches `k` from now too: broadcast 1 is ahead of B's 0, so B
//! gets broadcast 2; when the cluster answers "created at 7", broadcast 2's
//! `nextrev` (8) is not behind broadcast 1's (8), so B moves to broadcast
//! 1 and broadcast 2's upstream watch is closed: two clients, one upstream
//! watch. A watcher C from revision 9 joins broadcast 1 at once and is told
//! "created" by the hub itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::pb::etcdserverpb::{ResponseHeader, WatchRequest, WatchResponse};
use crate::pb::mvccpb::event::EventType;

use super::metrics::ProxyMetrics;

/// etcd's `maxCoalesceReceivers`: a broadcast this popular is not merged.
const MAX_COALESCE_RECEIVERS: usize = 5;

/// A client watch stream, as its watchers reach it.
pub type StreamId = u64;
/// One client watcher: its stream and the id the stream gave it.
pub type WatcherKey = (StreamId, i64);
pub type BcastId = u64;

/// Where a client stream's responses go: a bounded queue, and the stream's
/// cancellation (a client whose queue is full is cut off rather than let
/// it hold up the other receivers of a broadcast).
pub struct ClientOut {
    pub tx: mpsc::Sender<WatchResponse>,
    pub cancel: CancellationToken,
}

impl ClientOut {
    /// Queues `r`; a full (or closed) queue cancels the stream.
    pub fn post(&self, r: WatchResponse) -> bool {
        if self.tx.try_send(r).is_ok() {
            return true;
        }
        self.cancel.cancel();
        false
    }
}

/// A client watcher: what it asked for and how far it has got.
pub struct Watcher {
    pub key: Vec<u8>,
    pub end: Vec<u8>,
    pub id: i64,
    /// The smallest revision it may still be sent; 0: from now.
    pub nextrev: i64,
    pub progress_notify: bool,
    pub prev_kv: bool,
    pub no_put: bool,
    pub no_delete: bool,
    /// The header of the last response it was sent (a cancel repeats it).
    pub last_header: ResponseHeader,
    pub out: Arc<ClientOut>,
}

/// clientv3's `IsProgressNotify`.
fn is_progress_notify(r: &WatchResponse) -> bool {
    r.events.is_empty()
        && !r.canceled
        && !r.created
        && r.compact_revision == 0
        && r.header.as_ref().is_some_and(|h| h.revision != 0)
}

impl Watcher {
    /// etcd's `watcher.send`: `r` as this watcher must see it, if at all.
    fn send(&mut self, r: &WatchResponse) {
        let progress = is_progress_notify(r);
        if progress && !self.progress_notify {
            return;
        }
        let rev = r.header.as_ref().map_or(0, |h| h.revision);
        if self.nextrev > rev && !r.events.is_empty() {
            return;
        }
        if self.nextrev == 0 {
            // A watch from now: what follows this answer.
            self.nextrev = rev + 1;
        }
        let mut last = 0;
        let mut events = Vec::with_capacity(r.events.len());
        for ev in &r.events {
            let modrev = ev.kv.as_ref().map_or(0, |kv| kv.mod_revision);
            if modrev < self.nextrev {
                continue;
            }
            // Not nextrev yet: one txn's events share a revision.
            last = modrev;
            let put = ev.r#type == EventType::Put as i32;
            if (put && self.no_put) || (!put && self.no_delete) {
                continue;
            }
            let mut ev = ev.clone();
            if !self.prev_kv {
                ev.prev_kv = None;
            }
            events.push(ev);
        }
        if last >= self.nextrev {
            self.nextrev = last + 1;
        }
        if !progress && !r.created && !r.canceled && events.is_empty() && r.compact_revision == 0 {
            return;
        }
        let header = r.header.unwrap_or_default();
        self.last_header = header;
        self.out.post(WatchResponse {
            header: Some(header),
            watch_id: self.id,
            created: r.created,
            canceled: r.canceled,
            compact_revision: r.compact_revision,
            cancel_reason: r.cancel_reason.clone(),
            events,
            fragment: false,
        });
    }
}

/// One upstream watch and the watchers it serves.
struct Bcast {
    range: (Vec<u8>, Vec<u8>),
    /// The smallest revision the upstream watch will still deliver.
    nextrev: i64,
    /// Answers from the cluster so far.
    responses: u64,
    receivers: BTreeMap<WatcherKey, Watcher>,
    /// Requests to its upstream stream (progress requests).
    requests: mpsc::Sender<WatchRequest>,
    /// Dropping the broadcast cancels its upstream task, which closes the
    /// upstream watch.
    _stop: DropGuard,
}

impl Bcast {
    /// etcd's `watchBroadcast.add`: whether `w` can join without missing
    /// anything; a broadcast already answered tells it "created" itself.
    fn fits(&self, w: &Watcher) -> bool {
        !(self.nextrev > w.nextrev || (self.nextrev == 0 && w.nextrev != 0))
    }
}

/// An upstream watch the hub wants opened (by the caller, on a task that
/// ends when `stop` is cancelled).
pub struct Open {
    pub id: BcastId,
    pub key: Vec<u8>,
    pub end: Vec<u8>,
    pub start_revision: i64,
    pub requests: mpsc::Receiver<WatchRequest>,
    pub stop: CancellationToken,
}

/// A client stream's progress request waiting for its broadcasts.
struct Progress {
    out: Arc<ClientOut>,
    waiting: BTreeSet<BcastId>,
    header: Option<ResponseHeader>,
}

/// Requests queued to one upstream watch stream.
const UPSTREAM_REQUESTS: usize = 16;

/// Every broadcast of the proxy, by range.
pub struct Hub {
    next_id: BcastId,
    bcasts: BTreeMap<BcastId, Bcast>,
    ranges: BTreeMap<(Vec<u8>, Vec<u8>), Vec<BcastId>>,
    watchers: BTreeMap<WatcherKey, BcastId>,
    progress: BTreeMap<StreamId, Progress>,
    metrics: Arc<ProxyMetrics>,
}

impl Hub {
    pub fn new(metrics: Arc<ProxyMetrics>) -> Hub {
        Hub {
            next_id: 1,
            bcasts: BTreeMap::new(),
            ranges: BTreeMap::new(),
            watchers: BTreeMap::new(),
            progress: BTreeMap::new(),
            metrics,
        }
    }

    /// Upstream watches open.
    #[cfg(test)]
    pub fn upstreams(&self) -> usize {
        self.bcasts.len()
    }

    /// Client watchers served.
    #[cfg(test)]
    pub fn watchers(&self) -> usize {
        self.watchers.len()
    }

    /// etcd's `watchers_coalescing_total`: the watchers sharing another's
    /// upstream watch (every receiver of a broadcast but one).
    fn publish(&self) {
        let sharing: usize = self
            .bcasts
            .values()
            .map(|b| b.receivers.len().saturating_sub(1))
            .sum();
        self.metrics.watchers_coalescing.set(sharing as i64);
    }

    /// Adds watcher `w` of stream `stream`: into a broadcast of its range
    /// that fits, or a new one (returned, to be opened).
    pub fn add(&mut self, stream: StreamId, mut w: Watcher) -> Option<Open> {
        let key = (stream, w.id);
        let range = (w.key.clone(), w.end.clone());
        let ids = self.ranges.get(&range).cloned().unwrap_or_default();
        for id in ids {
            let b = self
                .bcasts
                .get_mut(&id)
                .expect("ranges name live broadcasts");
            if !b.fits(&w) {
                continue;
            }
            if b.responses > 0 {
                // The cluster said "created" already: say it ourselves.
                let header = ResponseHeader {
                    revision: w.nextrev,
                    ..Default::default()
                };
                if !w.out.post(WatchResponse {
                    header: Some(header),
                    watch_id: w.id,
                    created: true,
                    ..Default::default()
                }) {
                    return None;
                }
            }
            b.receivers.insert(key, w);
            self.watchers.insert(key, id);
            self.publish();
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let stop = CancellationToken::new();
        let (requests, rx) = mpsc::channel(UPSTREAM_REQUESTS);
        let open = Open {
            id,
            key: w.key.clone(),
            end: w.end.clone(),
            start_revision: w.nextrev,
            requests: rx,
            stop: stop.clone(),
        };
        let nextrev = w.nextrev;
        w.last_header = ResponseHeader::default();
        let mut receivers = BTreeMap::new();
        receivers.insert(key, w);
        self.bcasts.insert(
            id,
            Bcast {
                range: range.clone(),
                nextrev,
                responses: 0,
                receivers,
                requests,
                _stop: stop.drop_guard(),
            },
        );
        self.ranges.entry(range).or_default().push(id);
        self.watchers.insert(key, id);
        self.publish();
        Some(open)
    }

    /// Drops broadcast `id` (its upstream watch closes) with its receivers.
    fn drop_bcast(&mut self, id: BcastId) {
        let Some(b) = self.bcasts.remove(&id) else {
            return;
        };
        for k in b.receivers.keys() {
            self.watchers.remove(k);
        }
        if let Some(ids) = self.ranges.get_mut(&b.range) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                self.ranges.remove(&b.range);
            }
        }
        self.forget_in_progress(id);
    }

    /// Removes a watcher (a cancel, or its stream gone); the last watcher
    /// of a broadcast closes its upstream watch.
    pub fn delete(&mut self, key: WatcherKey) -> Option<Watcher> {
        let id = self.watchers.remove(&key)?;
        let b = self
            .bcasts
            .get_mut(&id)
            .expect("watchers name live broadcasts");
        let w = b
            .receivers
            .remove(&key)
            .expect("a broadcast holds its watchers");
        if b.receivers.is_empty() {
            self.drop_bcast(id);
        }
        self.publish();
        Some(w)
    }

    /// Removes every watcher of a stream that went away.
    pub fn remove_stream(&mut self, stream: StreamId) {
        let keys: Vec<WatcherKey> = self
            .watchers
            .range((stream, i64::MIN)..=(stream, i64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.delete(k);
        }
        self.progress.remove(&stream);
    }

    /// The revision an upstream watch resumes from after its stream broke
    /// (`None`: the broadcast is gone; 0: it never got an answer).
    pub fn resume_revision(&self, id: BcastId) -> Option<(i64, bool)> {
        self.bcasts.get(&id).map(|b| (b.nextrev, b.responses > 0))
    }

    /// An answer from broadcast `id`'s upstream watch (keys already
    /// without the namespace).
    pub fn on_response(&mut self, id: BcastId, r: &WatchResponse) {
        if r.watch_id == -1 && !r.created && !r.canceled && r.events.is_empty() {
            self.on_progress(id, r);
            return;
        }
        let Some(b) = self.bcasts.get_mut(&id) else {
            return;
        };
        let rev = r.header.as_ref().map_or(0, |h| h.revision);
        // Watchers start at their revision, if any: a create's header
        // revision (now) says nothing of what a past start will send.
        if b.responses > 0 || b.nextrev == 0 {
            b.nextrev = rev + 1;
        }
        b.responses += 1;
        for w in b.receivers.values_mut() {
            w.send(r);
        }
        let n = b.receivers.len() as u64;
        self.metrics.events_coalescing.inc_by(n.saturating_sub(1));
        if r.canceled {
            // The cluster ended the watch (compacted, refused): so do we.
            self.drop_bcast(id);
            self.publish();
            return;
        }
        self.coalesce(id);
    }

    /// etcd's `coalesce`: moves `id`'s watchers into an older broadcast of
    /// the range that is answered and not ahead of it, and closes `id`.
    fn coalesce(&mut self, id: BcastId) {
        let b = &self.bcasts[&id];
        if b.receivers.len() >= MAX_COALESCE_RECEIVERS {
            return;
        }
        let (range, nextrev) = (b.range.clone(), b.nextrev);
        let into = self.ranges[&range].iter().copied().find(|o| {
            *o != id && {
                let o = &self.bcasts[o];
                nextrev >= o.nextrev && o.responses > 0
            }
        });
        let Some(into) = into else {
            return;
        };
        let from = self.bcasts.get_mut(&id).expect("present");
        let receivers = std::mem::take(&mut from.receivers);
        for (k, w) in receivers {
            self.watchers.insert(k, into);
            self.bcasts
                .get_mut(&into)
                .expect("present")
                .receivers
                .insert(k, w);
        }
        self.drop_bcast(id);
        self.publish();
    }

    /// A client stream asked for progress: each of its broadcasts asks its
    /// upstream watch; the answer goes out once all have answered, with
    /// the lowest revision they named (everything up to it was delivered
    /// to the stream's queue before). `false`: the stream has no watcher
    /// (the caller answers with the cluster's current revision).
    pub fn request_progress(&mut self, stream: StreamId, out: Arc<ClientOut>) -> bool {
        let waiting: BTreeSet<BcastId> = self
            .watchers
            .range((stream, i64::MIN)..=(stream, i64::MAX))
            .map(|(_, id)| *id)
            .collect();
        if waiting.is_empty() {
            return false;
        }
        if self.progress.contains_key(&stream) {
            // One at a time per stream, as the member's watch server.
            return true;
        }
        for id in &waiting {
            let req = WatchRequest {
                request_union: Some(
                    crate::pb::etcdserverpb::watch_request::RequestUnion::ProgressRequest(
                        Default::default(),
                    ),
                ),
            };
            // A full queue already holds a progress request.
            let _ = self.bcasts[id].requests.try_send(req);
        }
        self.progress.insert(
            stream,
            Progress {
                out,
                waiting,
                header: None,
            },
        );
        true
    }

    fn on_progress(&mut self, id: BcastId, r: &WatchResponse) {
        let mut done = Vec::new();
        for (stream, p) in self.progress.iter_mut() {
            if !p.waiting.remove(&id) {
                continue;
            }
            let h = r.header.unwrap_or_default();
            if p.header
                .as_ref()
                .is_none_or(|old| h.revision < old.revision)
            {
                p.header = Some(h);
            }
            if p.waiting.is_empty() {
                done.push(*stream);
            }
        }
        for stream in done {
            self.answer_progress(stream);
        }
    }

    fn answer_progress(&mut self, stream: StreamId) {
        let p = self.progress.remove(&stream).expect("pending");
        if let Some(header) = p.header {
            p.out.post(WatchResponse {
                header: Some(header),
                watch_id: -1,
                ..Default::default()
            });
        }
    }

    /// A broadcast that went away can no longer answer a progress request.
    fn forget_in_progress(&mut self, id: BcastId) {
        let mut done = Vec::new();
        for (stream, p) in self.progress.iter_mut() {
            if p.waiting.remove(&id) && p.waiting.is_empty() {
                done.push(*stream);
            }
        }
        for stream in done {
            self.answer_progress(stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::mvccpb::{Event, KeyValue};

    fn out() -> (Arc<ClientOut>, mpsc::Receiver<WatchResponse>) {
        let (tx, rx) = mpsc::channel(8);
        (
            Arc::new(ClientOut {
                tx,
                cancel: CancellationToken::new(),
            }),
            rx,
        )
    }

    fn watcher(id: i64, nextrev: i64, out: &Arc<ClientOut>) -> Watcher {
        Watcher {
            key: b"k".to_vec(),
            end: vec![],
            id,
            nextrev,
            progress_notify: false,
            prev_kv: false,
            no_put: false,
            no_delete: false,
            last_header: ResponseHeader::default(),
            out: out.clone(),
        }
    }

    fn header(revision: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            revision,
            ..Default::default()
        })
    }

    fn created(revision: i64) -> WatchResponse {
        WatchResponse {
            header: header(revision),
            created: true,
            ..Default::default()
        }
    }

    fn put(revision: i64) -> WatchResponse {
        WatchResponse {
            header: header(revision),
            events: vec![Event {
                r#type: EventType::Put as i32,
                kv: Some(KeyValue {
                    key: b"k".to_vec(),
                    mod_revision: revision,
                    ..Default::default()
                }),
                prev_kv: Some(KeyValue::default()),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn two_watchers_from_now_share_one_upstream_watch() {
        let m = Arc::new(ProxyMetrics::default());
        let mut hub = Hub::new(m.clone());
        let (o1, mut r1) = out();
        let (o2, mut r2) = out();
        let a = hub.add(1, watcher(0, 0, &o1)).expect("first opens");
        hub.on_response(a.id, &created(7));
        // The first broadcast is ahead of a watch from now: a second opens...
        let b = hub.add(2, watcher(0, 0, &o2)).expect("second opens");
        assert_eq!(hub.upstreams(), 2);
        assert!(!b.stop.is_cancelled());
        // ...and is merged once created.
        hub.on_response(b.id, &created(7));
        assert_eq!(hub.upstreams(), 1);
        assert!(b.stop.is_cancelled(), "the merged upstream watch closes");
        assert_eq!(m.watchers_coalescing.get(), 1);
        hub.on_response(a.id, &put(8));
        assert_eq!(m.events_coalescing.get(), 1);
        for r in [&mut r1, &mut r2] {
            let c = r.try_recv().unwrap();
            assert!(c.created && c.watch_id == 0);
            let ev = r.try_recv().unwrap();
            assert_eq!(ev.events.len(), 1);
            assert_eq!(ev.events[0].prev_kv, None, "prev_kv only when asked");
        }
        // The last watcher out closes the upstream watch.
        assert!(hub.delete((1, 0)).is_some());
        assert!(!a.stop.is_cancelled());
        assert_eq!(m.watchers_coalescing.get(), 0);
        hub.remove_stream(2);
        assert!(a.stop.is_cancelled());
        assert_eq!((hub.upstreams(), hub.watchers()), (0, 0));
    }

    #[test]
    fn a_later_start_joins_and_is_told_created() {
        let mut hub = Hub::new(Arc::new(ProxyMetrics::default()));
        let (o1, _r1) = out();
        let (o2, mut r2) = out();
        let a = hub.add(1, watcher(0, 0, &o1)).unwrap();
        hub.on_response(a.id, &created(7));
        assert!(hub.add(2, watcher(5, 9, &o2)).is_none(), "joins");
        let c = r2.try_recv().unwrap();
        assert!(c.created);
        assert_eq!((c.watch_id, c.header.unwrap().revision), (5, 9));
        // An event before its start is not sent to it.
        hub.on_response(a.id, &put(8));
        assert!(r2.try_recv().is_err());
        hub.on_response(a.id, &put(9));
        assert_eq!(r2.try_recv().unwrap().events.len(), 1);
        // A past start cannot join a broadcast that is ahead of it.
        let (o3, _r3) = out();
        assert!(hub.add(3, watcher(0, 2, &o3)).is_some());
    }

    #[test]
    fn a_full_client_queue_cancels_only_that_client() {
        let mut hub = Hub::new(Arc::new(ProxyMetrics::default()));
        let (slow, _keep) = {
            let (tx, rx) = mpsc::channel(1);
            (
                Arc::new(ClientOut {
                    tx,
                    cancel: CancellationToken::new(),
                }),
                rx,
            )
        };
        let (fast, mut rf) = out();
        let a = hub.add(1, watcher(0, 0, &slow)).unwrap();
        hub.add(2, watcher(0, 0, &fast));
        hub.on_response(a.id, &created(7));
        hub.on_response(a.id, &put(8));
        assert!(slow.cancel.is_cancelled());
        assert!(!fast.cancel.is_cancelled());
        assert_eq!(rf.try_recv().unwrap().watch_id, 0);
    }

    #[test]
    fn progress_waits_for_every_broadcast_of_the_stream() {
        let mut hub = Hub::new(Arc::new(ProxyMetrics::default()));
        let (o, mut r) = out();
        let a = hub.add(1, watcher(0, 0, &o)).unwrap();
        let mut w = watcher(1, 0, &o);
        w.key = b"other".to_vec();
        let mut b = hub.add(1, w).unwrap();
        assert!(hub.request_progress(1, o.clone()));
        assert!(b.requests.try_recv().is_ok(), "asked upstream");
        let answer = |rev| WatchResponse {
            header: header(rev),
            watch_id: -1,
            ..Default::default()
        };
        hub.on_response(a.id, &answer(12));
        assert!(r.try_recv().is_err(), "one broadcast still to answer");
        hub.on_response(b.id, &answer(10));
        let p = r.try_recv().unwrap();
        assert_eq!((p.watch_id, p.header.unwrap().revision), (-1, 10));
        let (o2, _r2) = out();
        assert!(
            !hub.request_progress(9, o2),
            "no watcher: the caller answers"
        );
    }
}
