//! etcd's Watch service (`v3rpc/watch.go`): one bidirectional stream carries
//! any number of watchers. The receive half creates and cancels watchers and
//! asks for progress; the send half turns their batches into responses
//! (filling `prev_kv`, splitting with `fragment`). Both halves share one
//! bounded queue per stream, so a stream's answers keep their order and a
//! slow client only slows its own watchers (they become victims and catch up
//! from history, see `mvcc::watchable_store`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use prost::Message;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::errors::to_status;
use super::interceptor::admit_any_token;
use crate::mvcc::watchable_store::{check_range, Batch, Out, WatchError, WatchSpec};
use crate::pb::etcdserverpb::{
    watch_create_request::FilterType, watch_request::RequestUnion, watch_server, ResponseHeader,
    WatchRequest, WatchResponse,
};
use crate::pb::mvccpb::event::EventType;
use crate::server::EtcdServer;

/// Responses queued for one stream before its watchers become victims.
const STREAM_BUFFER: usize = 128;
/// How long a progress request waits for the stream's watchers to be synced.
const PROGRESS_WAIT: Duration = Duration::from_secs(5);

/// The Watch service.
#[derive(Clone)]
pub struct Watch {
    pub server: Arc<EtcdServer>,
    /// Responses of `fragment` watchers over this many bytes are split:
    /// `--max-request-bytes` plus gRPC's overhead, as etcd's watch server.
    pub fragment_bytes: usize,
    /// `--experimental-watch-progress-notify-interval`.
    pub progress_interval: Duration,
}

/// What a stream remembers about each of its watchers.
#[derive(Clone, Copy, Default)]
struct Options {
    prev_kv: bool,
    fragment: bool,
    /// `progress_notify`: whether a tick found no event sent since the
    /// last one (etcd's `serverWatchStream.progress`).
    quiet: Option<bool>,
}

struct StreamState {
    id: u64,
    options: Mutex<BTreeMap<i64, Options>>,
    /// A progress request waits for the watchers to be synced (one at a time).
    progress_pending: AtomicBool,
}

impl Watch {
    fn header(&self, revision: i64) -> Option<ResponseHeader> {
        Some(self.server.header_at(revision))
    }

    /// The receive half: until the client closes its side or goes away.
    /// The answer to a create request that made no watcher.
    fn refused(&self, why: impl std::fmt::Display) -> WatchResponse {
        WatchResponse {
            header: self.header(self.server.watchable.notified()),
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: why.to_string(),
            ..Default::default()
        }
    }

    async fn recv_loop(
        self,
        st: Arc<StreamState>,
        mut requests: Streaming<WatchRequest>,
        (token, cn): (Option<String>, Option<String>),
        tx: mpsc::Sender<Out>,
    ) {
        let mut next_auto = 0i64;
        while let Ok(Some(req)) = requests.message().await {
            match req.request_union {
                Some(RequestUnion::CreateRequest(c)) => {
                    // Each watch is checked as it is created, with the
                    // stream's token as it stands then (etcd's
                    // `isWatchPermitted`); a refusal cancels just this one.
                    let permitted = self
                        .server
                        .auth_info_from(token.as_deref(), cn.as_deref())
                        .and_then(|ai| {
                            self.server
                                .check_range_permitted(ai.as_ref(), &c.key, &c.range_end)
                        });
                    if let Err(e) = permitted {
                        // etcd's cancel reason is the gRPC error's text
                        // (`rpctypes.ErrGRPC*.Error()`), code and all.
                        let s = to_status(e);
                        let why =
                            format!("rpc error: code = {:?} desc = {}", s.code(), s.message());
                        if tx.send(Out::Control(self.refused(why))).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    let mut key = c.key;
                    if key.is_empty() {
                        key = vec![0];
                    }
                    let spec = WatchSpec {
                        key,
                        range_end: c.range_end,
                        start_rev: c.start_revision,
                        no_put: c.filters.contains(&(FilterType::Noput as i32)),
                        no_delete: c.filters.contains(&(FilterType::Nodelete as i32)),
                    };
                    let store = &self.server.watchable;
                    // etcd's auto ids: the lowest free one from a counter.
                    let auto = c.watch_id == 0;
                    let mut id = if auto { next_auto } else { c.watch_id };
                    while auto && store.is_watching(st.id, id) {
                        id += 1;
                    }
                    let checked = match check_range(&spec) {
                        Err(e) => Err(e),
                        Ok(()) if !auto && store.is_watching(st.id, id) => {
                            Err(WatchError::DuplicateId)
                        }
                        Ok(()) => Ok(()),
                    };
                    match checked {
                        Ok(()) => {
                            if auto {
                                next_auto = id + 1;
                            }
                            // The created answer must go out before any of
                            // the watcher's batches: it is queued first, and
                            // the watcher starts right after the revision it
                            // names (what arrives meanwhile, it catches up on).
                            let rev = store.notified();
                            let start_rev = if spec.start_rev <= 0 {
                                rev + 1
                            } else {
                                spec.start_rev
                            };
                            st.options.lock().expect("options").insert(
                                id,
                                Options {
                                    prev_kv: c.prev_kv,
                                    fragment: c.fragment,
                                    quiet: c.progress_notify.then_some(true),
                                },
                            );
                            let wr = WatchResponse {
                                header: self.header(rev),
                                watch_id: id,
                                created: true,
                                ..Default::default()
                            };
                            if tx.send(Out::Control(wr)).await.is_err() {
                                return;
                            }
                            let spec = WatchSpec { start_rev, ..spec };
                            // Only this loop adds watchers to the stream.
                            let _ = store.watch(st.id, id, false, spec, tx.clone());
                        }
                        Err(e) => {
                            if tx.send(Out::Control(self.refused(e))).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                // An unknown id is ignored, as etcd does.
                Some(RequestUnion::CancelRequest(c))
                    if self.server.watchable.cancel(st.id, c.watch_id) =>
                {
                    st.options.lock().expect("options").remove(&c.watch_id);
                    let wr = WatchResponse {
                        header: self.header(self.server.watchable.notified()),
                        watch_id: c.watch_id,
                        canceled: true,
                        ..Default::default()
                    };
                    if tx.send(Out::Control(wr)).await.is_err() {
                        return;
                    }
                }
                Some(RequestUnion::CancelRequest(_)) => {}
                Some(RequestUnion::ProgressRequest(_)) => {
                    self.request_progress(st.clone(), tx.clone());
                }
                None => {}
            }
        }
    }

    /// Answers a progress request once every watcher of the stream has all
    /// events up to the revision it names (etcd 3.4 named the current
    /// revision at once, which could claim one whose events were not sent;
    /// etcd 3.5 waits, as here). One wait per stream at a time, bounded.
    fn request_progress(&self, st: Arc<StreamState>, tx: mpsc::Sender<Out>) {
        if st.progress_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let synced = tokio::time::timeout(PROGRESS_WAIT, async {
                loop {
                    if crate::bugs::active(crate::bugs::Bug::ProgressBeforeSync) {
                        return this.server.watchable.notified();
                    }
                    if let Some(rev) = this.server.watchable.progress(st.id) {
                        return rev;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            st.progress_pending.store(false, Ordering::Release);
            if let Ok(rev) = synced {
                let wr = WatchResponse {
                    header: this.header(rev),
                    watch_id: -1,
                    ..Default::default()
                };
                let _ = tx.send(Out::Control(wr)).await;
            }
        });
    }

    /// etcd's progress ticker: every interval (plus jitter), each
    /// `progress_notify` watcher that was sent no event since the last tick
    /// and is synced hears the revision it is complete up to. Ends with the
    /// stream.
    async fn progress_ticks(self, st: Arc<StreamState>, tx: mpsc::Sender<Out>) {
        loop {
            let jitter =
                crate::rt::rand::gen_range(0..self.progress_interval.as_millis() as u64 / 10 + 1);
            let tick = self.progress_interval + Duration::from_millis(jitter);
            tokio::select! {
                biased;
                _ = tx.closed() => return,
                _ = tokio::time::sleep(tick) => {}
            }
            let due: Vec<i64> = {
                let mut opts = st.options.lock().expect("options");
                opts.iter_mut()
                    .filter_map(|(id, o)| {
                        let quiet = o.quiet.as_mut()?;
                        let was = std::mem::replace(quiet, true);
                        was.then_some(*id)
                    })
                    .collect()
            };
            for id in due {
                let Some(rev) = self.server.watchable.watcher_progress(st.id, id) else {
                    continue;
                };
                let wr = WatchResponse {
                    header: self.header(rev),
                    watch_id: id,
                    ..Default::default()
                };
                if tx.send(Out::Control(wr)).await.is_err() {
                    return;
                }
            }
        }
    }

    /// One batch as the responses to send (several when fragmented).
    fn responses(&self, st: &StreamState, b: Batch) -> Vec<WatchResponse> {
        let opts = {
            let mut all = st.options.lock().expect("options");
            let o = all.get_mut(&b.watch_id);
            match o {
                Some(o) => {
                    if !b.events.is_empty() {
                        if let Some(q) = o.quiet.as_mut() {
                            *q = false;
                        }
                    }
                    *o
                }
                None => Options::default(),
            }
        };
        let mut events = b.events;
        if opts.prev_kv {
            for e in &mut events {
                let Some(kv) = &e.kv else { continue };
                let is_create = e.r#type == EventType::Put as i32 && kv.version == 1;
                if !is_create {
                    e.prev_kv = self.server.kv_at_rev(&kv.key, kv.mod_revision - 1);
                }
            }
        }
        let wr = WatchResponse {
            header: self.header(b.revision),
            watch_id: b.watch_id,
            compact_revision: b.compact_revision,
            canceled: b.compact_revision != 0,
            events,
            ..Default::default()
        };
        if opts.fragment {
            fragments(wr, self.fragment_bytes)
        } else {
            vec![wr]
        }
    }
}

/// etcd's `sendFragments`: a response of `limit` bytes or more is split
/// into responses of as many events as keep each (marked `fragment` while
/// it is measured) under `limit`, at least one each; all but the last are
/// marked `fragment`.
fn fragments(mut wr: WatchResponse, limit: usize) -> Vec<WatchResponse> {
    if wr.encoded_len() < limit || wr.events.len() < 2 {
        return vec![wr];
    }
    let events = std::mem::take(&mut wr.events);
    let empty = WatchResponse {
        fragment: true,
        ..wr
    };
    // A response's size is its fields' plus each event's (tag 11, length,
    // body): kept as a sum, not re-encoded for every event added.
    let base = empty.encoded_len();
    let mut out = Vec::new();
    let (mut cur, mut size) = (empty.clone(), base);
    for e in events {
        let n = prost::encoding::message::encoded_len(11, &e);
        if !cur.events.is_empty() && size + n >= limit {
            out.push(std::mem::replace(&mut cur, empty.clone()));
            size = base;
        }
        size += n;
        cur.events.push(e);
    }
    cur.fragment = false;
    out.push(cur);
    out
}

#[tonic::async_trait]
impl watch_server::Watch for Watch {
    type WatchStream = BoxStream<'static, Result<WatchResponse, Status>>;

    async fn watch(
        &self,
        r: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let token = super::interceptor::token(&r);
        let cn = super::interceptor::client_cn(&r);
        // An invalid token cancels each watch it asks for, not the stream.
        let requests = admit_any_token(&self.server, r)?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let st = Arc::new(StreamState {
            id: self.server.watchable.new_stream(),
            options: Mutex::default(),
            progress_pending: AtomicBool::new(false),
        });
        tokio::spawn(self.clone().progress_ticks(st.clone(), tx.clone()));
        tokio::spawn(
            self.clone()
                .recv_loop(st.clone(), requests, (token, cn), tx),
        );
        // The send half: the response stream itself. Dropping it (the
        // client went away, or the server stops) closes the queue, so the
        // receive half ends and the store forgets the stream's watchers.
        let guard = CloseStream {
            server: self.server.clone(),
            id: st.id,
        };
        let this = self.clone();
        let stream = futures::stream::unfold(
            (rx, this, st, guard, std::collections::VecDeque::new()),
            |(mut rx, this, st, guard, mut ready)| async move {
                loop {
                    if let Some(wr) = ready.pop_front() {
                        return Some((Ok(wr), (rx, this, st, guard, ready)));
                    }
                    match rx.recv().await? {
                        Out::Control(wr) => ready.push_back(wr),
                        Out::Batch(b) => ready.extend(this.responses(&st, b)),
                    }
                }
            },
        );
        Ok(Response::new(stream.boxed()))
    }
}

/// Forgets a stream's watchers when its response stream is dropped.
struct CloseStream {
    server: Arc<EtcdServer>,
    id: u64,
}

impl Drop for CloseStream {
    fn drop(&mut self) {
        self.server.watchable.close_stream(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::mvccpb::{Event, KeyValue};

    /// etcd's `sendFragments` as written: re-measure after each event.
    fn fragments_by_remeasuring(wr: WatchResponse, limit: usize) -> Vec<WatchResponse> {
        if wr.encoded_len() < limit || wr.events.len() < 2 {
            return vec![wr];
        }
        let empty = WatchResponse {
            events: Vec::new(),
            fragment: true,
            ..wr.clone()
        };
        let mut out = Vec::new();
        let mut cur = empty.clone();
        for e in wr.events {
            cur.events.push(e);
            if cur.events.len() > 1 && cur.encoded_len() >= limit {
                let e = cur.events.pop().expect("just pushed");
                out.push(std::mem::replace(&mut cur, empty.clone()));
                cur.events.push(e);
            }
        }
        cur.fragment = false;
        out.push(cur);
        out
    }

    #[test]
    fn fragments_split_where_remeasuring_would() {
        let event = |i: usize| Event {
            kv: Some(KeyValue {
                key: format!("key{i}").into_bytes(),
                value: vec![b'v'; (i * 37) % 300],
                mod_revision: i as i64 + 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let wr = WatchResponse {
            header: Some(ResponseHeader {
                revision: 99,
                ..Default::default()
            }),
            watch_id: 3,
            events: (0..200).map(event).collect(),
            ..Default::default()
        };
        for limit in [1, 100, 500, 1000, 4096, 20_000, 1 << 20] {
            let got = fragments(wr.clone(), limit);
            assert_eq!(
                got,
                fragments_by_remeasuring(wr.clone(), limit),
                "limit {limit}"
            );
            if limit == 1000 {
                assert!(got.len() > 10, "{}", got.len());
            }
        }
    }
}
