//! The peer transport: raft messages between members, over gRPC on the peer
//! URLs, through the runtime seam (tonic is madsim-tonic in simulation).
//!
//! Sending never blocks the raft loop: each peer has a bounded queue drained
//! by its own task, which batches what has queued up into one RPC. Messages
//! that cannot be delivered are dropped — raft retransmits what matters.

use std::collections::HashMap;
use std::time::Duration;

use protobuf::Message as _;
use raft::eraftpb::Message;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::pb::oxcdpeer::{peer_client::PeerClient, peer_server, Ack, RaftBatch};
use crate::raftnode::RaftCmd;

/// Messages queued per peer before new ones are dropped.
const PEER_QUEUE_MAX: usize = 4096;
/// Most messages in one RPC.
const BATCH_MESSAGES_MAX: usize = 512;
/// Connect and send timeouts.
const PEER_TIMEOUT: Duration = Duration::from_secs(1);

/// Outbound half: one queue and sender task per peer.
pub struct Transport {
    peers: HashMap<u64, mpsc::Sender<Message>>,
}

impl Transport {
    /// Starts a sender task per `(member id, peer url)`.
    pub fn start(peers: Vec<(u64, String)>) -> Transport {
        let mut map = HashMap::new();
        for (id, url) in peers {
            let (tx, rx) = mpsc::channel(PEER_QUEUE_MAX);
            tokio::spawn(sender(url, rx));
            map.insert(id, tx);
        }
        Transport { peers: map }
    }

    /// Queues messages for their destinations; drops what does not fit.
    pub fn send(&self, msgs: Vec<Message>) {
        for m in msgs {
            if let Some(q) = self.peers.get(&m.to) {
                let _ = q.try_send(m);
            }
        }
    }
}

async fn sender(url: String, mut rx: mpsc::Receiver<Message>) {
    let mut client: Option<PeerClient<tonic::transport::Channel>> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH_MESSAGES_MAX {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if client.is_none() {
            let Ok(ep) = tonic::transport::Endpoint::from_shared(url.clone()) else {
                tracing::error!("bad peer URL {url}");
                return;
            };
            let ep = ep.connect_timeout(PEER_TIMEOUT);
            if let Ok(Ok(ch)) = tokio::time::timeout(PEER_TIMEOUT, ep.connect()).await {
                client = Some(PeerClient::new(ch));
            }
        }
        let Some(c) = client.as_mut() else {
            continue; // peer unreachable: drop, raft retries
        };
        let messages = batch
            .iter()
            .filter_map(|m| m.write_to_bytes().ok())
            .collect();
        let sent = tokio::time::timeout(PEER_TIMEOUT, c.send(RaftBatch { messages })).await;
        if !matches!(sent, Ok(Ok(_))) {
            client = None;
        }
    }
}

/// Inbound half: hands received messages to the raft loop.
pub struct PeerService {
    pub raft: mpsc::Sender<RaftCmd>,
}

#[tonic::async_trait]
impl peer_server::Peer for PeerService {
    async fn send(&self, r: Request<RaftBatch>) -> Result<Response<Ack>, Status> {
        for b in r.into_inner().messages {
            let m = Message::parse_from_bytes(&b)
                .map_err(|e| Status::invalid_argument(format!("bad raft message: {e}")))?;
            if self.raft.send(RaftCmd::Step(Box::new(m))).await.is_err() {
                return Err(Status::unavailable("etcdserver: server stopped"));
            }
        }
        Ok(Response::new(Ack {}))
    }
}

/// Serves the peer transport on `addr` until `shutdown` resolves.
pub async fn serve_peers(
    raft: mpsc::Sender<RaftCmd>,
    addr: std::net::SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tonic::transport::Server::builder()
        .add_service(
            peer_server::PeerServer::new(PeerService { raft }).max_decoding_message_size(64 << 20),
        )
        .serve_with_shutdown(addr, shutdown)
        .await
        .map_err(std::io::Error::other)
}
