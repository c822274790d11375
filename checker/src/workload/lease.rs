//! The lease workload: each client, round after round, grants a lease, puts
//! two keys with it, and then either keeps it alive for a while over a
//! keep-alive stream, revokes it, or abandons it; an observer reads every
//! key with a linearizable range, over and over. Everything a client saw is
//! logged with simulated times for [`crate::checker::lease`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxcd::pb::etcdserverpb::{
    kv_client::KvClient, lease_client::LeaseClient, LeaseGrantRequest, LeaseKeepAliveRequest,
    LeaseRevokeRequest, PutRequest, RangeRequest,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::clock::now as sim_now;
use crate::coverage;
use crate::workload::{CONNECT_BACKOFF, REQUEST_TIMEOUT};
use oxcd::rt::stream::ReceiverStream;

/// Where every lease's keys live.
pub const PREFIX: &str = "lease/";

/// What happened, as the clients saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Lease `id` was granted `ttl` seconds: asked at `sent`, answered at `acked`.
    Granted {
        id: i64,
        ttl: i64,
        sent: Duration,
        acked: Duration,
    },
    /// Key `key` was put with lease `id` (acknowledged at `acked`).
    Put {
        id: i64,
        key: String,
        acked: Duration,
    },
    /// A keep-alive of `id` sent at `sent` was answered at `acked` with `ttl`
    /// (0: the lease is gone).
    KeptAlive {
        id: i64,
        ttl: i64,
        sent: Duration,
        acked: Duration,
    },
    /// A revoke of `id` was asked at `sent`; `acked` if it was answered.
    Revoked {
        id: i64,
        sent: Duration,
        acked: Option<Duration>,
    },
    /// A linearizable read of every lease key, called at `sent`, answered at
    /// `acked`: the keys it saw and their leases.
    Read {
        sent: Duration,
        acked: Duration,
        keys: Vec<(String, i64)>,
    },
}

pub type SharedEvents = Arc<Mutex<Vec<Event>>>;

/// One client's connection to one member at a time, as a channel for any
/// of the services.
pub(crate) struct Conn {
    urls: Vec<String>,
    current: usize,
    ch: Option<Channel>,
}

impl Conn {
    /// Client `id` starts at member `id % urls.len()`.
    pub(crate) fn new(id: usize, urls: Vec<String>) -> Self {
        Conn {
            current: id % urls.len(),
            urls,
            ch: None,
        }
    }

    /// The channel, connecting first if needed; `None` (after a short
    /// backoff, with the next member lined up) if that fails.
    pub(crate) async fn channel(&mut self) -> Option<Channel> {
        if self.ch.is_none() {
            let url = self.urls[self.current].clone();
            let ep = tonic::transport::Endpoint::new(url).ok()?;
            match tokio::time::timeout(REQUEST_TIMEOUT, ep.connect()).await {
                Ok(Ok(ch)) => self.ch = Some(ch),
                _ => {
                    self.next();
                    madsim::time::sleep(CONNECT_BACKOFF).await;
                }
            }
        }
        self.ch.clone()
    }

    /// A request failed: reconnect next time, to the next member.
    pub(crate) fn next(&mut self) {
        self.ch = None;
        self.current = (self.current + 1) % self.urls.len();
    }
}

pub struct LeaseWorkloadClient {
    id: usize,
    conn: Conn,
    events: SharedEvents,
    rng: StdRng,
}

impl LeaseWorkloadClient {
    pub fn new(id: usize, urls: Vec<String>, events: SharedEvents) -> Self {
        let seed = crate::clock::rng().gen::<u64>();
        LeaseWorkloadClient {
            id,
            conn: Conn::new(id, urls),
            events,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn log(&self, e: Event) {
        self.events.lock().expect("lock").push(e);
    }

    /// `rounds` leases, one after another.
    pub async fn run(&mut self, rounds: usize) {
        for round in 0..rounds {
            self.round(round).await;
        }
    }

    /// Leases one after another until [`crate::clock::now`] reaches
    /// `until` (each round's keys are named by its number, so rounds are
    /// counted here, not restarted).
    pub async fn run_until(&mut self, until: Duration) {
        let mut round = 0;
        while crate::clock::now() < until {
            self.round(round).await;
            round += 1;
        }
    }

    async fn round(&mut self, round: usize) {
        let ttl = self.rng.gen_range(2..=4);
        let Some(id) = self.grant(ttl).await else {
            return;
        };
        for k in ["a", "b"] {
            let key = format!("{PREFIX}{}/{round}/{k}", self.id);
            self.put(id, key).await;
        }
        match self.rng.gen_range(0..3) {
            0 => {
                coverage::hit("lease.keep_alive");
                let d = Duration::from_millis(self.rng.gen_range(1000..8000));
                self.keep_alive(id, ttl, d).await;
            }
            1 => {
                coverage::hit("lease.revoke");
                let d = Duration::from_millis(self.rng.gen_range(0..1500));
                madsim::time::sleep(d).await;
                self.revoke(id).await;
            }
            _ => coverage::hit("lease.abandon"),
        }
    }

    async fn grant(&mut self, ttl: i64) -> Option<i64> {
        let ch = self.conn.channel().await?;
        let sent = sim_now();
        let req = LeaseGrantRequest { ttl, id: 0 };
        let r = tokio::time::timeout(REQUEST_TIMEOUT, LeaseClient::new(ch).lease_grant(req)).await;
        match r {
            Ok(Ok(r)) => {
                let r = r.into_inner();
                coverage::hit("lease.grant");
                self.log(Event::Granted {
                    id: r.id,
                    ttl: r.ttl,
                    sent,
                    acked: sim_now(),
                });
                Some(r.id)
            }
            _ => {
                // A lease granted without an answer is never kept alive; it
                // expires, and its id is unknown, so no check involves it.
                self.conn.next();
                None
            }
        }
    }

    async fn put(&mut self, id: i64, key: String) {
        let Some(ch) = self.conn.channel().await else {
            return;
        };
        let req = PutRequest {
            key: key.clone().into_bytes(),
            value: b"v".to_vec(),
            lease: id,
            ..Default::default()
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, KvClient::new(ch).put(req)).await {
            Ok(Ok(_)) => self.log(Event::Put {
                id,
                key,
                acked: sim_now(),
            }),
            Ok(Err(st)) if st.message().contains("lease not found") => {
                coverage::hit("lease.put_after_expiry");
            }
            _ => self.conn.next(),
        }
    }

    /// Keeps `id` alive for `d` over one stream (a new one after a failure),
    /// a request a third of the TTL after each answer, as clientv3 does.
    async fn keep_alive(&mut self, id: i64, ttl: i64, d: Duration) {
        let until = sim_now() + d;
        let every = Duration::from_secs(ttl as u64) / 3;
        while sim_now() < until {
            let Some(ch) = self.conn.channel().await else {
                continue;
            };
            let (tx, rx) = mpsc::channel::<LeaseKeepAliveRequest>(1);
            let mut client = LeaseClient::new(ch);
            let opened =
                tokio::time::timeout(REQUEST_TIMEOUT, client.lease_keep_alive(ReceiverStream(rx)));
            // The stream opens once the first request is in.
            let _ = tx.send(LeaseKeepAliveRequest { id }).await;
            let mut sent = sim_now();
            let mut resps = match opened.await {
                Ok(Ok(r)) => r.into_inner(),
                _ => {
                    self.conn.next();
                    continue;
                }
            };
            loop {
                let got = tokio::time::timeout(REQUEST_TIMEOUT, resps.message()).await;
                let Ok(Ok(Some(r))) = got else {
                    self.conn.next();
                    break;
                };
                coverage::hit("lease.keep_alive_ack");
                self.log(Event::KeptAlive {
                    id,
                    ttl: r.ttl,
                    sent,
                    acked: sim_now(),
                });
                if r.ttl <= 0 || sim_now() + every >= until {
                    return;
                }
                madsim::time::sleep(every).await;
                sent = sim_now();
                if tx.send(LeaseKeepAliveRequest { id }).await.is_err() {
                    break;
                }
            }
        }
    }

    async fn revoke(&mut self, id: i64) {
        let Some(ch) = self.conn.channel().await else {
            return;
        };
        let sent = sim_now();
        let req = LeaseRevokeRequest { id };
        let r = tokio::time::timeout(REQUEST_TIMEOUT, LeaseClient::new(ch).lease_revoke(req)).await;
        let acked = match r {
            Ok(Ok(_)) => Some(sim_now()),
            Ok(Err(st)) if st.message().contains("lease not found") => {
                // Expired first: the revoke changed nothing.
                coverage::hit("lease.revoke_after_expiry");
                None
            }
            _ => {
                self.conn.next();
                None
            }
        };
        self.log(Event::Revoked { id, sent, acked });
    }
}

/// Reads every lease key, linearizably, every `every` until `stop` says so.
pub async fn observe(
    urls: Vec<String>,
    events: SharedEvents,
    every: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut conn = Conn::new(0, urls);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        read_once(&mut conn, &events).await;
        madsim::time::sleep(every).await;
    }
}

/// One linearizable read of every lease key; whether it was answered.
async fn read_once(conn: &mut Conn, events: &SharedEvents) -> Option<Vec<(String, i64)>> {
    let ch = conn.channel().await?;
    let sent = sim_now();
    let req = RangeRequest {
        key: PREFIX.as_bytes().to_vec(),
        range_end: oxcd::ctl::prefix_end(PREFIX.as_bytes()),
        ..Default::default()
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, KvClient::new(ch).range(req)).await {
        Ok(Ok(r)) => {
            let keys: Vec<(String, i64)> = r
                .into_inner()
                .kvs
                .into_iter()
                .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), kv.lease))
                .collect();
            events.lock().expect("lock").push(Event::Read {
                sent,
                acked: sim_now(),
                keys: keys.clone(),
            });
            Some(keys)
        }
        _ => {
            conn.next();
            None
        }
    }
}

/// After the faults are healed and every client stopped: waits up to
/// `within` for every lease key to be gone (every lease was left to expire
/// or revoked). The keys still there at the end, if any.
pub async fn all_expire(
    urls: Vec<String>,
    events: SharedEvents,
    within: Duration,
) -> Vec<(String, i64)> {
    let mut conn = Conn::new(0, urls);
    let until = sim_now() + within;
    let mut last = Vec::new();
    while sim_now() < until {
        if let Some(keys) = read_once(&mut conn, &events).await {
            if keys.is_empty() {
                return keys;
            }
            last = keys;
        }
        madsim::time::sleep(Duration::from_millis(500)).await;
    }
    last
}
