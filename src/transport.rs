//! The peer transport: raft messages between members, over gRPC on the peer
//! URLs, through the runtime seam (tonic is madsim-tonic in simulation).
//!
//! Sending never blocks the raft loop: each peer has a bounded queue drained
//! by its own task, which batches what has queued up and writes the batches
//! on a standing stream to the peer (answered batch by batch), and probes an
//! idle peer with an empty batch, so the member knows which peers it can
//! reach (etcd's "active" peers, used by membership safety checks).
//! Messages that cannot be delivered are dropped — raft retransmits what
//! matters. A snapshot message goes on its own task as a stream of chunks of
//! at most [`SNAPSHOT_CHUNK_BYTES`], and its outcome is reported to raft.
//!
//! Peers come and go with membership changes ([`Transport::add`],
//! [`Transport::remove`]). A member removed from the cluster is told so by
//! the peers it still sends to, as etcd's peers answer it 410 Gone: it may
//! have missed the commit of its own removal (partitioned, or the last
//! message lost), and must stop all the same.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::membership::MemberError;
use crate::pb::oxcdpeer::{
    peer_client::PeerClient, peer_server, Ack, LeaseRenewBatchRequest, LeaseRenewBatchResponse,
    LeaseRenewRequest, LeaseRenewResponse, LeaseTimeToLiveResponse as PeerTtlResponse,
    MembersRequest, MembersResponse, PromoteRequest, PromoteResponse, RaftBatch, SnapshotChunk,
};
use crate::rt::net::{self, Dialer, Listener, ServeOptions};
use crate::server::Forwarded;
use crate::v3rpc::http::PeerHttp;

/// Messages queued per peer before new ones are dropped.
const PEER_QUEUE_MAX: usize = 4096;
/// Most messages in one RPC.
const BATCH_MESSAGES_MAX: usize = 512;
/// Connect timeout, and how long a batch may go unanswered.
const PEER_TIMEOUT: Duration = Duration::from_secs(1);
/// Most batches written to a peer's stream and not yet answered.
const STREAM_WINDOW: usize = 64;
/// An idle peer is probed this often.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Largest piece of snapshot data in one stream message.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// Largest snapshot a member accepts.
const SNAPSHOT_BYTES_MAX: usize = 8 << 30;
/// Time allowed for a whole snapshot stream.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// Which peers answered the last send or probe: member id → reachable.
pub type Reachable = Arc<Mutex<BTreeMap<u64, bool>>>;

struct PeerLink {
    url: String,
    queue: mpsc::Sender<Message>,
}

/// What the transport needs from the raft loop: received messages in, and
/// how a snapshot it sent went. (The raft node implements it; the transport
/// does not know the raft node.)
#[tonic::async_trait]
pub trait RaftSink: Send + Sync + 'static {
    /// Hands a message from a peer to raft; `Err` when the loop has stopped.
    async fn step(&self, m: Message) -> Result<(), ()>;
    async fn report_snapshot(&self, to: u64, ok: bool);
    /// A peer said this member was removed from the cluster.
    async fn removed(&self);
}

/// Outbound half: one queue and sender task per peer.
pub struct Transport {
    /// This member's id, sent with every batch.
    me: u64,
    /// Ordered (not a `HashMap`): dropping the transport ends the senders,
    /// and so closes their streams, in this order, which a simulation replay
    /// must repeat (see CONTRIBUTING, determinism).
    peers: BTreeMap<u64, PeerLink>,
    /// Where snapshot outcomes are reported.
    raft: Arc<dyn RaftSink>,
    reachable: Reachable,
    /// How peers are dialled (the peer TLS for `https://` peer URLs).
    dialer: Dialer,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Transport {
    pub fn new(
        me: u64,
        raft: Arc<dyn RaftSink>,
        reachable: Reachable,
        dialer: Dialer,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Transport {
        Transport {
            me,
            peers: BTreeMap::new(),
            raft,
            reachable,
            dialer,
            metrics,
        }
    }

    /// Starts sending to member `id` at `url` (replacing an older URL).
    pub fn add(&mut self, id: u64, url: &str) {
        if self.peers.get(&id).is_some_and(|p| p.url == url) {
            return;
        }
        let (tx, rx) = mpsc::channel(PEER_QUEUE_MAX);
        tokio::spawn(sender(
            Route {
                from: self.me,
                to: id,
                url: url.to_string(),
            },
            rx,
            self.raft.clone(),
            self.reachable.clone(),
            self.dialer.clone(),
            self.metrics.clone(),
        ));
        self.peers.insert(
            id,
            PeerLink {
                url: url.to_string(),
                queue: tx,
            },
        );
    }

    /// Stops sending to member `id` (its task ends with its queue).
    pub fn remove(&mut self, id: u64) {
        self.peers.remove(&id);
        self.reachable.lock().expect("reachable lock").remove(&id);
    }

    /// Queues messages for their destinations; drops what does not fit.
    pub fn send(&self, msgs: Vec<Message>) {
        for m in msgs {
            let Some(p) = self.peers.get(&m.to) else {
                continue;
            };
            if m.get_msg_type() == MessageType::MsgSnapshot {
                tokio::spawn(send_snapshot(
                    p.url.clone(),
                    m,
                    self.raft.clone(),
                    self.dialer.clone(),
                ));
            } else {
                let _ = p.queue.try_send(m);
            }
        }
    }
}

async fn connect(url: &str, dialer: &Dialer) -> Option<PeerClient<tonic::transport::Channel>> {
    let ch = match dialer.dial(url, PEER_TIMEOUT).await {
        Ok(ch) => ch,
        Err(e) => {
            tracing::debug!(target: "rafthttp", "cannot dial peer {url}: {e}");
            return None;
        }
    };
    Some(
        PeerClient::new(ch)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20),
    )
}

/// A standing `Stream` call to a peer: batches go in through `batches`,
/// one `Ack` per batch comes back in order on `acks`.
struct PeerStream {
    /// Kept with the call so that forgetting the stream closes its
    /// connection.
    _client: PeerClient<tonic::transport::Channel>,
    batches: mpsc::Sender<RaftBatch>,
    acks: tonic::Streaming<Ack>,
    /// When each batch still unanswered was written, oldest first.
    unacked: VecDeque<Instant>,
}

/// Dials the peer and opens its message stream.
async fn open_stream(url: &str, dialer: &Dialer, raft: &Arc<dyn RaftSink>) -> Option<PeerStream> {
    let mut c = connect(url, dialer).await?;
    let (batches, rx) = mpsc::channel(STREAM_WINDOW);
    let body =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    match tokio::time::timeout(PEER_TIMEOUT, c.stream(body)).await {
        Ok(Ok(r)) => Some(PeerStream {
            _client: c,
            batches,
            acks: r.into_inner(),
            unacked: VecDeque::new(),
        }),
        Ok(Err(e)) => {
            tracing::debug!(target: "rafthttp", "peer {url} refused the message stream: {e}");
            if is_member_removed(&e) {
                raft.removed().await;
            }
            None
        }
        Err(_) => None,
    }
}

/// The next answer on the stream; never, when there is none.
async fn next_ack(link: &mut Option<PeerStream>) -> Option<Result<Ack, Status>> {
    match link {
        Some(l) => l.acks.next().await,
        None => std::future::pending().await,
    }
}

/// What woke the sender.
enum Wake {
    Message(Option<Message>),
    Ack(Option<Result<Ack, Status>>),
    Timer,
}

/// Who a sender task sends for, and to whom.
struct Route {
    from: u64,
    to: u64,
    url: String,
}

/// The answer a removed member gets from its former peers.
fn member_removed() -> Status {
    Status::failed_precondition(crate::raftnode::MemberRemoved.to_string())
}

fn is_member_removed(s: &Status) -> bool {
    s.code() == tonic::Code::FailedPrecondition
        && s.message() == crate::raftnode::MemberRemoved.to_string()
}

/// One peer's sender: writes batches on a standing stream without waiting
/// for the previous batch's answer (a unary call per batch cost a loopback
/// round trip, 0.47–0.59 ms, in front of every batch), at most
/// [`STREAM_WINDOW`] unanswered. The answers tell which peers are
/// reachable: a batch unanswered after [`PEER_TIMEOUT`], or a stream that
/// ends, marks the peer unreachable and the stream is opened again for the
/// next batch; an idle peer is probed with an empty batch. A peer that
/// refuses this member as removed ends the sender and tells the raft loop.
async fn sender(
    route: Route,
    mut rx: mpsc::Receiver<Message>,
    raft: Arc<dyn RaftSink>,
    reachable: Reachable,
    dialer: Dialer,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let Route { from, to: id, url } = route;
    let to = format!("{id:x}");
    let round_trip = metrics.peer_round_trip_seconds.with_label_values(&[&to]);
    let sent_bytes = metrics.peer_sent_bytes.with_label_values(&[&to]);
    let failures = metrics.peer_sent_failures.with_label_values(&[&to]);
    let set_reachable = |ok: bool| {
        let mut r = reachable.lock().expect("reachable lock");
        if r.contains_key(&id) || ok {
            r.insert(id, ok);
        }
    };
    let mut link: Option<PeerStream> = None;
    let mut last_sent = crate::rt::time::now();
    loop {
        let window_full = link
            .as_ref()
            .is_some_and(|l| l.unacked.len() >= STREAM_WINDOW);
        let deadline = match link.as_ref().and_then(|l| l.unacked.front()) {
            Some(oldest) => *oldest + PEER_TIMEOUT,
            None => last_sent + PROBE_INTERVAL,
        };
        let wake = tokio::select! {
            biased;
            a = next_ack(&mut link) => Wake::Ack(a),
            m = rx.recv(), if !window_full => Wake::Message(m),
            _ = tokio::time::sleep_until(deadline) => Wake::Timer,
        };
        let batch = match wake {
            Wake::Ack(Some(Ok(_))) => {
                if let Some(sent) = link.as_mut().and_then(|l| l.unacked.pop_front()) {
                    // The peer took the batch: the round trip etcd's
                    // prober measures.
                    round_trip.observe(sent.elapsed().as_secs_f64());
                }
                set_reachable(true);
                continue;
            }
            Wake::Ack(Some(Err(s))) if is_member_removed(&s) => {
                tracing::debug!(target: "rafthttp", "peer {to} refused: {}", s.message());
                raft.removed().await;
                return;
            }
            Wake::Ack(_) => {
                // The stream ended or failed: what it did not answer is
                // lost (raft retransmits).
                drop_link(&mut link, &failures);
                set_reachable(false);
                continue;
            }
            // The peer was removed. Batches still in flight are cancelled
            // with the stream, perhaps the commit of the peer's own removal:
            // then the other members refuse its next message as removed.
            Wake::Message(None) => return,
            Wake::Message(Some(m)) => {
                let mut batch = vec![m];
                while batch.len() < BATCH_MESSAGES_MAX {
                    match rx.try_recv() {
                        Ok(m) => batch.push(m),
                        Err(_) => break,
                    }
                }
                batch
            }
            Wake::Timer => {
                if link.as_ref().is_some_and(|l| !l.unacked.is_empty()) {
                    drop_link(&mut link, &failures);
                    set_reachable(false);
                    continue;
                }
                Vec::new() // idle: probe with an empty batch
            }
        };
        if link.is_none() {
            link = open_stream(&url, &dialer, &raft).await;
        }
        last_sent = crate::rt::time::now();
        let Some(l) = link.as_mut() else {
            if !batch.is_empty() {
                failures.inc();
            }
            set_reachable(false);
            continue;
        };
        let messages: Vec<Vec<u8>> = batch
            .iter()
            .filter_map(|m| m.write_to_bytes().ok())
            .collect();
        let bytes: usize = messages.iter().map(Vec::len).sum();
        // The channel holds at most the unanswered batches, so it is never
        // full here; it is closed when the call has ended.
        if l.batches.try_send(RaftBatch { messages, from }).is_ok() {
            l.unacked.push_back(last_sent);
            sent_bytes.inc_by(bytes as u64);
        } else {
            drop_link(&mut link, &failures);
            failures.inc();
            set_reachable(false);
        }
    }
}

/// Forgets a broken stream, counting its unanswered batches as failures.
fn drop_link(link: &mut Option<PeerStream>, failures: &prometheus::IntCounter) {
    if let Some(l) = link.take() {
        failures.inc_by(l.unacked.len() as u64);
    }
}

/// Streams one snapshot message in chunks and tells raft how it went.
async fn send_snapshot(url: String, mut m: Message, raft: Arc<dyn RaftSink>, dialer: Dialer) {
    let to = m.to;
    let data = std::mem::take(&mut m.mut_snapshot().data);
    let head = m.write_to_bytes().unwrap_or_default();
    let mut chunks = Vec::new();
    let mut pieces = data.chunks(SNAPSHOT_CHUNK_BYTES);
    chunks.push(SnapshotChunk {
        message: head,
        data: pieces.next().map(|p| p.to_vec()).unwrap_or_default(),
    });
    chunks.extend(pieces.map(|p| SnapshotChunk {
        message: Vec::new(),
        data: p.to_vec(),
    }));
    let ok = match connect(&url, &dialer).await {
        _ if chunks[0].message.is_empty() => false,
        None => false,
        Some(mut c) => {
            let sent = tokio::time::timeout(
                SNAPSHOT_TIMEOUT,
                c.send_snapshot(futures::stream::iter(chunks)),
            )
            .await;
            if matches!(&sent, Ok(Err(s)) if is_member_removed(s)) {
                // Stopping, not retrying: no warning, no report to raft.
                raft.removed().await;
                return;
            }
            matches!(sent, Ok(Ok(_)))
        }
    };
    if !ok {
        tracing::warn!("failed to send a snapshot to {to:x}; raft will retry");
    }
    raft.report_snapshot(to, ok).await;
}

/// What the peer service needs from the rest of the member.
#[tonic::async_trait]
pub trait PeerHost: Send + Sync + 'static {
    /// Cluster id and members, for a joining member.
    fn members(&self) -> MembersResponse;
    /// Where received peer bytes are counted.
    fn metrics(&self) -> &crate::metrics::Metrics;
    /// Promotes learner `id` (called on the leader).
    async fn promote(&self, id: u64) -> Result<(), PromoteError>;
    /// A keep-alive forwarded by a follower (answered by the primary).
    async fn lease_renew(&self, id: i64) -> LeaseRenewResponse;
    /// Keep-alives a follower forwarded together: one answer each, in order.
    async fn lease_renew_batch(&self, ids: Vec<i64>) -> Vec<LeaseRenewResponse>;
    /// A TimeToLive forwarded by a follower (answered by the primary).
    async fn lease_time_to_live(
        &self,
        req: crate::pb::etcdserverpb::LeaseTimeToLiveRequest,
    ) -> PeerTtlResponse;
    /// Whether member `id` was removed from the cluster (it is refused).
    fn is_removed(&self, id: u64) -> bool;
    /// This member's KV hash at a revision (etcd's `/members/hashkv`).
    fn hash_kv(&self, rev: i64) -> Result<crate::pb::etcdserverpb::HashKvResponse, Status>;
}

/// Why a promotion asked of the leader did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromoteError {
    /// The cluster refused it.
    Refused(MemberError),
    /// It could not be done or asked (etcd's message, for the log).
    Failed(String),
}

/// Inbound half: hands received messages to the raft loop.
pub struct PeerService {
    pub raft: Arc<dyn RaftSink>,
    pub host: Arc<dyn PeerHost>,
}

impl PeerService {
    async fn step(&self, m: Message) -> Result<(), Status> {
        self.raft
            .step(m)
            .await
            .map_err(|()| Status::unavailable("etcdserver: server stopped"))
    }

    /// Refuses member `from` if it was removed, as etcd's peers do (410
    /// Gone, and this log line).
    fn refuse_if_removed(&self, from: u64) -> Result<(), Status> {
        if !self.host.is_removed(from) {
            return Ok(());
        }
        tracing::warn!(
            target: "rafthttp",
            "rejected the stream from peer {from:x} since it was removed"
        );
        Err(member_removed())
    }

    /// Decodes and steps one batch's messages, counting their bytes.
    async fn step_batch(&self, batch: RaftBatch) -> Result<(), Status> {
        self.refuse_if_removed(batch.from)?;
        for b in batch.messages {
            let m = Message::parse_from_bytes(&b).map_err(bad_message)?;
            self.host
                .metrics()
                .peer_received_bytes
                .with_label_values(&[&format!("{:x}", m.from)])
                .inc_by(b.len() as u64);
            self.step(m).await?;
        }
        Ok(())
    }
}

fn bad_message(e: protobuf::ProtobufError) -> Status {
    Status::invalid_argument(format!("bad raft message: {e}"))
}

#[tonic::async_trait]
impl peer_server::Peer for PeerService {
    type StreamStream = futures::stream::BoxStream<'static, Result<Ack, Status>>;

    /// Steps each batch's messages in order, answering each batch once its
    /// messages are with raft; a bad message ends the stream.
    async fn stream(
        &self,
        r: Request<tonic::Streaming<RaftBatch>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let me = PeerService {
            raft: self.raft.clone(),
            host: self.host.clone(),
        };
        let acks = futures::stream::unfold(Some((r.into_inner(), me)), |state| async move {
            let (mut inbound, me) = state?;
            let answer = match inbound.message().await {
                Ok(Some(batch)) => me.step_batch(batch).await,
                Ok(None) => return None,
                Err(e) => Err(e),
            };
            let next = answer.is_ok().then_some((inbound, me));
            Some((answer.map(|()| Ack {}), next))
        });
        Ok(Response::new(acks.boxed()))
    }

    async fn send_snapshot(
        &self,
        r: Request<tonic::Streaming<SnapshotChunk>>,
    ) -> Result<Response<Ack>, Status> {
        let mut stream = r.into_inner();
        let mut head: Option<Message> = None;
        let mut data = Vec::new();
        while let Some(chunk) = stream.message().await? {
            if head.is_none() {
                let m = Message::parse_from_bytes(&chunk.message).map_err(bad_message)?;
                self.refuse_if_removed(m.from)?;
                head = Some(m);
            }
            if data.len() + chunk.data.len() > SNAPSHOT_BYTES_MAX {
                return Err(Status::resource_exhausted("snapshot too large"));
            }
            data.extend_from_slice(&chunk.data);
        }
        let mut m = head.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        m.mut_snapshot().data = data.into();
        self.step(m).await?;
        Ok(Response::new(Ack {}))
    }

    async fn members(
        &self,
        _r: Request<MembersRequest>,
    ) -> Result<Response<MembersResponse>, Status> {
        Ok(Response::new(self.host.members()))
    }

    async fn promote(
        &self,
        r: Request<PromoteRequest>,
    ) -> Result<Response<PromoteResponse>, Status> {
        let resp = match self.host.promote(r.into_inner().id).await {
            Ok(()) => PromoteResponse::default(),
            Err(PromoteError::Refused(e)) => PromoteResponse {
                error: e.to_string(),
                member_error: e.code(),
            },
            Err(PromoteError::Failed(error)) => PromoteResponse {
                error,
                member_error: 0,
            },
        };
        Ok(Response::new(resp))
    }

    async fn lease_renew(
        &self,
        r: Request<LeaseRenewRequest>,
    ) -> Result<Response<LeaseRenewResponse>, Status> {
        Ok(Response::new(
            self.host.lease_renew(r.into_inner().id).await,
        ))
    }

    async fn lease_renew_batch(
        &self,
        r: Request<LeaseRenewBatchRequest>,
    ) -> Result<Response<LeaseRenewBatchResponse>, Status> {
        let renewed = self.host.lease_renew_batch(r.into_inner().ids).await;
        Ok(Response::new(LeaseRenewBatchResponse { renewed }))
    }

    async fn lease_time_to_live(
        &self,
        r: Request<crate::pb::etcdserverpb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<PeerTtlResponse>, Status> {
        Ok(Response::new(
            self.host.lease_time_to_live(r.into_inner()).await,
        ))
    }

    async fn hash_kv(
        &self,
        r: Request<crate::pb::etcdserverpb::HashKvRequest>,
    ) -> Result<Response<crate::pb::etcdserverpb::HashKvResponse>, Status> {
        self.host
            .hash_kv(r.into_inner().revision)
            .map(Response::new)
    }
}

/// A follower's connection to the leader for what it forwards (keep-alives,
/// TimeToLive, promote), kept across requests: a keep-alive stream on a
/// follower would otherwise dial the leader once a renewal. Forgotten after
/// a failure or when the leader moves.
#[derive(Default)]
pub struct LeaderConn {
    link: LeaderLink,
    /// The queue of keep-alives to forward, and the task forwarding them
    /// (started by the first); the task ends when this is dropped.
    renewals: std::sync::OnceLock<mpsc::Sender<QueuedRenewal>>,
}

/// The dialed connection itself, shared with the renewal task.
#[derive(Clone, Default)]
struct LeaderLink {
    dialer: Dialer,
    /// The leader's URL and a client dialed to it.
    conn: Arc<std::sync::Mutex<Option<(String, LeaderClient)>>>,
}

type LeaderClient = PeerClient<tonic::transport::Channel>;

/// A keep-alive waiting for its batch.
struct QueuedRenewal {
    url: String,
    id: i64,
    reply: tokio::sync::oneshot::Sender<Forwarded<i64>>,
}

/// Keep-alives waiting to be forwarded before new ones wait to be queued.
const RENEW_QUEUE_MAX: usize = 4096;
/// Most keep-alives in one forwarded batch.
const RENEW_BATCH_MAX: usize = 1024;

impl LeaderConn {
    /// Dials the leader with `dialer` (the peer TLS).
    pub fn new(dialer: Dialer) -> LeaderConn {
        LeaderConn {
            link: LeaderLink {
                dialer,
                conn: Default::default(),
            },
            renewals: Default::default(),
        }
    }

    async fn client(&self, url: &str) -> Option<LeaderClient> {
        self.link.client(url).await
    }

    fn forget(&self) {
        self.link.forget()
    }

    /// Asks the leader at `url` to renew lease `id`. Keep-alives queued
    /// while a batch is in flight go together in the next one, as reads
    /// share a ReadIndex round: one call and one leadership check on the
    /// leader for all of them, where etcd 3.4 sends one HTTP request each.
    pub async fn renew(&self, url: &str, id: i64) -> Forwarded<i64> {
        let queue = self.renewals.get_or_init(|| {
            let (tx, rx) = mpsc::channel(RENEW_QUEUE_MAX);
            tokio::spawn(forward_renewals(self.link.clone(), rx));
            tx
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = QueuedRenewal {
            url: url.to_string(),
            id,
            reply,
        };
        if queue.send(queued).await.is_err() {
            return Forwarded::Retry;
        }
        answer.await.unwrap_or(Forwarded::Retry)
    }
}

/// The renewal task: forwards the queued keep-alives in batches, one batch
/// in flight at a time, to the leader the newest keep-alive names. A
/// keep-alive naming another leader abandons the batch in flight and what
/// is queued for the old leader (their callers ask again), so a leader that
/// stopped answering does not hold the new one's renewals back for the
/// call's timeout.
async fn forward_renewals(link: LeaderLink, mut rx: mpsc::Receiver<QueuedRenewal>) {
    let mut queued: Vec<QueuedRenewal> = Vec::new();
    let mut newest = String::new();
    let mut open = true;
    loop {
        if queued.is_empty() {
            let Some(r) = rx.recv().await else { return };
            queue_renewal(&mut queued, &mut newest, r);
        }
        while let Ok(r) = rx.try_recv() {
            queue_renewal(&mut queued, &mut newest, r);
        }
        let mut batch = std::mem::take(&mut queued);
        // Callers that gave up (their request timed out) need no renewal.
        batch.retain(|r| !r.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let url = newest.clone();
        let ids = batch.iter().map(|r| r.id).collect();
        let call = link.renew_batch(&url, ids);
        tokio::pin!(call);
        let answers = loop {
            tokio::select! {
                biased;
                answers = &mut call => break answers,
                r = rx.recv(), if open => match r {
                    Some(r) => {
                        if queue_renewal(&mut queued, &mut newest, r) {
                            break batch.iter().map(|_| Forwarded::Retry).collect();
                        }
                    }
                    None => open = false,
                },
            }
        };
        for (r, answer) in batch.into_iter().zip(answers) {
            let _ = r.reply.send(answer);
        }
    }
}

/// Queues `r` for the next batch; returns whether it names another leader
/// than the one before it. Everything queued names the newest leader; past
/// [`RENEW_BATCH_MAX`] a keep-alive is asked to come again, so what waits
/// here stays bounded while a batch is in flight.
fn queue_renewal(queued: &mut Vec<QueuedRenewal>, newest: &mut String, r: QueuedRenewal) -> bool {
    if r.url != *newest {
        for old in queued.drain(..) {
            let _ = old.reply.send(Forwarded::Retry);
        }
        newest.clone_from(&r.url);
        queued.push(r);
        return true;
    }
    if queued.len() >= RENEW_BATCH_MAX {
        let _ = r.reply.send(Forwarded::Retry);
    } else {
        queued.push(r);
    }
    false
}

impl LeaderLink {
    async fn client(&self, url: &str) -> Option<LeaderClient> {
        if let Some((at, c)) = &*self.conn.lock().expect("leader connection") {
            if at == url {
                return Some(c.clone());
            }
        }
        let c = connect(url, &self.dialer).await?;
        *self.conn.lock().expect("leader connection") = Some((url.to_string(), c.clone()));
        Some(c)
    }

    fn forget(&self) {
        *self.conn.lock().expect("leader connection") = None;
    }

    /// Asks the leader at `url` to renew `ids`: one answer each, in order.
    async fn renew_batch(&self, url: &str, ids: Vec<i64>) -> Vec<Forwarded<i64>> {
        let n = ids.len();
        let retry = || (0..n).map(|_| Forwarded::Retry).collect();
        let Some(mut c) = self.client(url).await else {
            return retry();
        };
        let asked = tokio::time::timeout(
            PEER_TIMEOUT * 5,
            c.lease_renew_batch(LeaseRenewBatchRequest { ids: ids.clone() }),
        )
        .await;
        match asked {
            Ok(Ok(r)) => {
                let renewed = r.into_inner().renewed;
                let mut answers: Vec<_> = renewed.into_iter().take(n).map(forwarded).collect();
                answers.resize_with(n, || Forwarded::Retry);
                answers
            }
            // A leader from before batches: one call each.
            Ok(Err(s)) if s.code() == tonic::Code::Unimplemented => {
                let one = |id| {
                    let mut c = c.clone();
                    async move {
                        let asked = tokio::time::timeout(
                            PEER_TIMEOUT * 5,
                            c.lease_renew(LeaseRenewRequest { id }),
                        )
                        .await;
                        match asked {
                            Ok(Ok(r)) => forwarded(r.into_inner()),
                            _ => Forwarded::Retry,
                        }
                    }
                };
                futures::future::join_all(ids.into_iter().map(one)).await
            }
            _ => {
                self.forget();
                retry()
            }
        }
    }
}

/// A forwarded renewal's answer.
fn forwarded(r: LeaseRenewResponse) -> Forwarded<i64> {
    if !r.error.is_empty() {
        Forwarded::Retry
    } else if r.ttl <= 0 {
        Forwarded::NotFound
    } else {
        Forwarded::Ok(r.ttl)
    }
}

/// Asks the leader at `url` for a lease's time to live.
pub async fn forward_lease_time_to_live(
    conn: &LeaderConn,
    url: &str,
    req: crate::pb::etcdserverpb::LeaseTimeToLiveRequest,
) -> Forwarded<crate::pb::etcdserverpb::LeaseTimeToLiveResponse> {
    let Some(mut c) = conn.client(url).await else {
        return Forwarded::Retry;
    };
    let asked = tokio::time::timeout(PEER_TIMEOUT * 5, c.lease_time_to_live(req)).await;
    if !matches!(asked, Ok(Ok(_))) {
        conn.forget();
    }
    match asked {
        Ok(Ok(r)) => {
            let r = r.into_inner();
            match (r.error.is_empty(), r.not_found, r.response) {
                (true, true, _) => Forwarded::NotFound,
                (true, false, Some(resp)) => Forwarded::Ok(resp),
                _ => Forwarded::Retry,
            }
        }
        _ => Forwarded::Retry,
    }
}

/// Asks the member at `url` for the cluster's members (a joining member's
/// first step).
pub async fn fetch_members(url: &str, dialer: &Dialer) -> Option<MembersResponse> {
    let mut c = connect(url, dialer).await?;
    let r = tokio::time::timeout(PEER_TIMEOUT, c.members(MembersRequest {})).await;
    r.ok()?.ok().map(|r| r.into_inner())
}

/// Asks the member at `url` for its KV hash at `rev` (the corruption
/// checks' `getPeerHashKVHTTP`).
pub async fn fetch_hash_kv(
    url: &str,
    dialer: &Dialer,
    rev: i64,
    timeout: std::time::Duration,
) -> Result<crate::pb::etcdserverpb::HashKvResponse, Status> {
    let mut c = connect(url, dialer)
        .await
        .ok_or_else(|| Status::unavailable(format!("cannot reach {url}")))?;
    let req = crate::pb::etcdserverpb::HashKvRequest { revision: rev };
    match tokio::time::timeout(timeout, c.hash_kv(req)).await {
        Ok(r) => r.map(|r| r.into_inner()),
        Err(_) => Err(Status::deadline_exceeded("context deadline exceeded")),
    }
}

/// Asks the leader at `url` to promote learner `id`.
pub async fn forward_promote(conn: &LeaderConn, url: &str, id: u64) -> Result<(), PromoteError> {
    let unreachable = || PromoteError::Failed(format!("cannot reach the leader at {url}"));
    let mut c = conn.client(url).await.ok_or_else(unreachable)?;
    let asked = tokio::time::timeout(PEER_TIMEOUT * 5, c.promote(PromoteRequest { id })).await;
    if !matches!(asked, Ok(Ok(_))) {
        conn.forget();
    }
    let resp = asked
        .map_err(|_| unreachable())?
        .map_err(|_| unreachable())?;
    let resp = resp.into_inner();
    match (
        resp.error.is_empty(),
        MemberError::from_code(resp.member_error),
    ) {
        (true, _) => Ok(()),
        (false, Some(e)) => Err(PromoteError::Refused(e)),
        (false, None) => Err(PromoteError::Failed(resp.error)),
    }
}

/// Serves the peer transport on `listener` until `shutdown` resolves.
pub async fn serve_peers(
    raft: Arc<dyn RaftSink>,
    host: Arc<dyn PeerHost>,
    listener: Listener,
    opts: &ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = net::grpc_server(opts, Arc::new(PeerHttp)).add_service(
        peer_server::PeerServer::new(PeerService { raft, host })
            .max_decoding_message_size(64 << 20),
    );
    net::serve(router, listener, opts.drain, shutdown).await
}
