//! The Watch proxy (etcd's `proxy/grpcproxy/watch.go`): each client stream
//! gets a bounded queue and a task reading its requests; its watchers go
//! into the [`Hub`], which shares upstream watches among them; each
//! upstream watch the hub opens runs on a task of its own that ends when
//! the hub drops its broadcast. A stream that goes away (its response
//! stream dropped by the server) takes its watchers with it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status, Streaming};

use super::broadcast::{ClientOut, Hub, Open, StreamId, Watcher};
use super::{receiver_stream, up, Upstream};
use crate::pb::etcdserverpb::{
    watch_create_request::FilterType, watch_request::RequestUnion, watch_server, RangeRequest,
    ResponseHeader, WatchCreateRequest, WatchRequest, WatchResponse,
};

/// Responses queued for one client stream (etcd's `watchCh`); a client
/// that lets it fill is cut off.
const STREAM_QUEUE: usize = 1024;
/// Watchers one client stream may hold at once.
const WATCHERS_PER_STREAM_MAX: usize = 10_000;
/// Requests queued to one upstream stream (its create, progress requests).
const UPSTREAM_QUEUE: usize = 16;
/// Waits between attempts to reopen a broken upstream watch.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(3);

pub struct WatchProxy {
    up: Upstream,
    /// A std mutex: the hub does no I/O (queues are `try_send`).
    hub: Arc<Mutex<Hub>>,
    next_stream: AtomicU64,
}

impl WatchProxy {
    pub fn new(up: Upstream) -> WatchProxy {
        let hub = Hub::new(up.metrics.clone());
        WatchProxy {
            up,
            hub: Arc::new(Mutex::new(hub)),
            next_stream: AtomicU64::new(1),
        }
    }
}

/// Removes a client stream's watchers and stops its reader when the
/// server drops the stream's responses (the client went away or the
/// stream ended).
struct StreamGuard {
    hub: Arc<Mutex<Hub>>,
    stream: StreamId,
    reader: tokio::task::AbortHandle,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.reader.abort();
        self.hub
            .lock()
            .expect("hub lock")
            .remove_stream(self.stream);
    }
}

#[tonic::async_trait]
impl watch_server::Watch for WatchProxy {
    type WatchStream = BoxStream<'static, Result<WatchResponse, Status>>;

    async fn watch(
        &self,
        r: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (md, _, inbound) = r.into_parts();
        let stream = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let cancel = CancellationToken::new();
        let out = Arc::new(ClientOut {
            tx,
            cancel: cancel.clone(),
        });
        let reader = Reader {
            up: self.up.clone(),
            hub: self.hub.clone(),
            stream,
            md,
            out,
            live: BTreeSet::new(),
            next_id: 0,
        };
        let task = tokio::spawn(reader.run(inbound));
        let guard = StreamGuard {
            hub: self.hub.clone(),
            stream,
            reader: task.abort_handle(),
        };
        let responses = futures::stream::unfold(
            (rx, cancel, Some(guard)),
            |(mut rx, cancel, guard)| async move {
                guard.as_ref()?;
                tokio::select! {
                    biased;
                    Some(r) = rx.recv() => Some((Ok(r), (rx, cancel, guard))),
                    // etcd's proxy ends a cancelled stream with ctx.Err().
                    _ = cancel.cancelled() => {
                        Some((Err(Status::cancelled("context canceled")), (rx, cancel, None)))
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(responses)))
    }
}

/// etcd's `watchRange.valid`.
fn valid_range(key: &[u8], end: &[u8]) -> bool {
    end.is_empty() || end > key || end == [0]
}

fn refused(reason: String) -> WatchResponse {
    WatchResponse {
        header: Some(ResponseHeader::default()),
        watch_id: -1,
        created: true,
        canceled: true,
        cancel_reason: reason,
        ..Default::default()
    }
}

/// Reads one client stream's requests.
struct Reader {
    up: Upstream,
    hub: Arc<Mutex<Hub>>,
    stream: StreamId,
    md: MetadataMap,
    out: Arc<ClientOut>,
    /// Ids of this stream's watchers not cancelled by the client.
    live: BTreeSet<i64>,
    next_id: i64,
}

impl Reader {
    async fn run(mut self, mut inbound: Streaming<WatchRequest>) {
        while let Ok(Some(req)) = inbound.message().await {
            match req.request_union {
                Some(RequestUnion::CreateRequest(cr)) => self.create(cr).await,
                Some(RequestUnion::CancelRequest(c)) => {
                    let gone = self
                        .hub
                        .lock()
                        .expect("hub lock")
                        .delete((self.stream, c.watch_id));
                    self.live.remove(&c.watch_id);
                    if let Some(w) = gone {
                        self.out.post(WatchResponse {
                            header: Some(w.last_header),
                            watch_id: c.watch_id,
                            canceled: true,
                            ..Default::default()
                        });
                    }
                }
                Some(RequestUnion::ProgressRequest(_)) => self.progress().await,
                None => {}
            }
        }
        // The client closed its side or went away: so does the stream.
        self.out.cancel.cancel();
    }

    /// etcd's `checkPermissionForWatch`: a count of the range with the
    /// caller's token (the upstream watch may be another client's).
    async fn permitted(&self, key: &[u8], end: &[u8]) -> Result<(), Status> {
        let (key, end) = if key.is_empty() {
            (vec![0], vec![0])
        } else {
            (key.to_vec(), end.to_vec())
        };
        let mut req = RangeRequest {
            key,
            range_end: end,
            serializable: true,
            count_only: true,
            limit: 1,
            ..Default::default()
        };
        self.up.ns.range(&mut req)?;
        self.up.kv().range(up(&self.md, req)).await.map(|_| ())
    }

    async fn create(&mut self, cr: WatchCreateRequest) {
        if let Err(s) = self.permitted(&cr.key, &cr.range_end).await {
            self.out.post(refused(s.message().to_string()));
            return;
        }
        if !valid_range(&cr.key, &cr.range_end) {
            self.out.post(refused(String::new()));
            return;
        }
        if self.live.len() >= WATCHERS_PER_STREAM_MAX {
            self.out.post(refused(format!(
                "oxcd grpc-proxy: a stream holds at most {WATCHERS_PER_STREAM_MAX} watchers"
            )));
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.live.insert(id);
        let has = |f: FilterType| cr.filters.contains(&(f as i32));
        let w = Watcher {
            key: cr.key,
            end: cr.range_end,
            id,
            nextrev: cr.start_revision,
            progress_notify: cr.progress_notify,
            prev_kv: cr.prev_kv,
            no_put: has(FilterType::Noput),
            no_delete: has(FilterType::Nodelete),
            last_header: ResponseHeader::default(),
            out: self.out.clone(),
        };
        let open = self.hub.lock().expect("hub lock").add(self.stream, w);
        if let Some(open) = open {
            tokio::spawn(upstream(
                self.up.clone(),
                self.hub.clone(),
                self.md.clone(),
                open,
            ));
        }
    }

    async fn progress(&mut self) {
        let asked = self
            .hub
            .lock()
            .expect("hub lock")
            .request_progress(self.stream, self.out.clone());
        if asked {
            return;
        }
        // No watcher: the cluster's current revision is the answer.
        let req = RangeRequest {
            key: vec![0],
            count_only: true,
            limit: 1,
            ..Default::default()
        };
        if let Ok(r) = self.up.kv().range(up(&self.md, req)).await {
            self.out.post(WatchResponse {
                header: r.into_inner().header,
                watch_id: -1,
                ..Default::default()
            });
        }
    }
}

/// Errors that reopening the upstream watch cannot cure.
fn permanent(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unauthenticated
            | Code::PermissionDenied
            | Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::OutOfRange
    )
}

/// One upstream watch: opened with `prev_kv` and progress notifications
/// (each client watcher takes what it asked for), its answers handed to
/// the hub; reopened from the broadcast's next revision when its stream
/// breaks, until the hub drops the broadcast (`stop`).
async fn upstream(up_: Upstream, hub: Arc<Mutex<Hub>>, md: MetadataMap, open: Open) {
    let Open {
        id,
        key,
        end,
        start_revision,
        mut requests,
        stop,
    } = open;
    let (key, end) = if up_.ns.is_empty() {
        (key, end)
    } else {
        up_.ns.interval(&key, &end)
    };
    let (mut rev, mut resumed, mut wait) = (start_revision, false, RETRY_MIN);
    loop {
        let (tx, rx) = mpsc::channel(UPSTREAM_QUEUE);
        let create = WatchCreateRequest {
            key: key.clone(),
            range_end: end.clone(),
            start_revision: rev,
            progress_notify: true,
            prev_kv: true,
            ..Default::default()
        };
        tx.try_send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .expect("an empty queue takes one");
        let outgoing = receiver_stream(rx);
        let mut client = up_.watch();
        let call = client.watch(up(&md, outgoing));
        let answer = tokio::select! {
            r = call => r,
            _ = stop.cancelled() => return,
        };
        match answer {
            Ok(resp) => {
                let mut s = resp.into_inner();
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        Some(r) = requests.recv() => {
                            let _ = tx.try_send(r);
                        }
                        m = s.message() => {
                            let Ok(Some(mut r)) = m else { break };
                            if resumed && r.created && !r.canceled {
                                // The clients were told "created" long ago.
                                continue;
                            }
                            r.created &= !resumed;
                            for ev in &mut r.events {
                                if let Some(kv) = &mut ev.kv {
                                    up_.ns.strip_kv(kv);
                                }
                                if let Some(kv) = &mut ev.prev_kv {
                                    up_.ns.strip_kv(kv);
                                }
                            }
                            wait = RETRY_MIN;
                            hub.lock().expect("hub lock").on_response(id, &r);
                            if r.canceled {
                                return;
                            }
                        }
                    }
                }
            }
            Err(s) if permanent(&s) => {
                let r = WatchResponse {
                    header: Some(ResponseHeader::default()),
                    created: !resumed,
                    canceled: true,
                    cancel_reason: s.message().to_string(),
                    ..Default::default()
                };
                hub.lock().expect("hub lock").on_response(id, &r);
                return;
            }
            Err(s) => tracing::warn!(error = %s, "upstream watch failed; retrying"),
        }
        let Some((next, answered)) = hub.lock().expect("hub lock").resume_revision(id) else {
            return;
        };
        (rev, resumed) = (next, answered);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
        wait = (wait * 2).min(RETRY_MAX);
    }
}
