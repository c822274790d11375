//! The watch workload: writers put and delete a few keys with values unique
//! in the run, recording each acknowledged write's revision; watchers watch
//! every key from revision 1 with `prev_kv`, each on its own member, and
//! when a stream fails they resume on the next member from the revision
//! after the last one they saw. Watchers ask for progress now and then and
//! have periodic progress notifications on. Everything is recorded for
//! [`crate::checker::watch`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxcd::pb::etcdserverpb::{
    kv_client::KvClient, watch_client::WatchClient, watch_request::RequestUnion,
    DeleteRangeRequest, PutRequest, WatchCreateRequest, WatchRequest,
};
use oxcd::pb::mvccpb::Event;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

use crate::coverage;
use crate::workload::{CONNECT_BACKOFF, REQUEST_TIMEOUT};
use oxcd::rt::stream::ReceiverStream;

/// The keys written and watched.
pub const KEYS: [&str; 4] = ["w0", "w1", "w2", "w3"];

/// An acknowledged write.
#[derive(Clone, Debug)]
pub struct Write {
    pub key: String,
    /// `None`: a delete (of a key that existed: deletes of absent keys
    /// write nothing and are not recorded).
    pub value: Option<String>,
    pub revision: i64,
}

/// One watch response as a watcher got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub watcher: usize,
    /// Which stream of the watcher (a new one after each resume).
    pub stream: usize,
    pub events: Vec<Event>,
    pub compact_revision: i64,
    /// A progress notification (asked for, or periodic): the revision it
    /// says every event up to has been sent.
    pub progress: Option<i64>,
}

#[derive(Default)]
pub struct Log {
    pub writes: Vec<Write>,
    pub received: Vec<Received>,
}

impl Log {
    /// The revision of the last acknowledged write (0: none).
    pub fn last_revision(&self) -> i64 {
        self.writes.iter().map(|w| w.revision).max().unwrap_or(0)
    }
}

pub type SharedLog = Arc<Mutex<Log>>;

/// Puts and deletes `n` times on random keys.
pub async fn writer(id: usize, urls: Vec<String>, log: SharedLog, n: usize) {
    let mut rng = StdRng::seed_from_u64(crate::clock::rng().gen());
    let mut current = id % urls.len();
    for i in 0..n {
        let url = urls[current].clone();
        let Ok(Ok(mut kv)) = tokio::time::timeout(REQUEST_TIMEOUT, KvClient::connect(url)).await
        else {
            current = (current + 1) % urls.len();
            madsim::time::sleep(CONNECT_BACKOFF).await;
            continue;
        };
        let key = KEYS[rng.gen_range(0..KEYS.len())].to_string();
        if rng.gen_range(0..5) == 0 {
            let req = DeleteRangeRequest {
                key: key.clone().into_bytes(),
                ..Default::default()
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, kv.delete_range(req)).await {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    if r.deleted > 0 {
                        let revision = r.header.map_or(0, |h| h.revision);
                        log.lock().expect("lock").writes.push(Write {
                            key,
                            value: None,
                            revision,
                        });
                    }
                }
                _ => current = (current + 1) % urls.len(),
            }
        } else {
            let value = format!("c{id}-{i}");
            let req = PutRequest {
                key: key.clone().into_bytes(),
                value: value.clone().into_bytes(),
                ..Default::default()
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, kv.put(req)).await {
                Ok(Ok(r)) => {
                    let revision = r.into_inner().header.map_or(0, |h| h.revision);
                    log.lock().expect("lock").writes.push(Write {
                        key,
                        value: Some(value),
                        revision,
                    });
                }
                _ => current = (current + 1) % urls.len(),
            }
        }
        madsim::time::sleep(Duration::from_millis(rng.gen_range(10..60))).await;
    }
}

/// Watches every key from revision 1 until `until()` is true, resuming
/// after failures; returns the last revision it saw.
pub async fn watcher(
    id: usize,
    urls: Vec<String>,
    log: SharedLog,
    until: impl Fn(i64) -> bool,
) -> i64 {
    let mut rng = StdRng::seed_from_u64(crate::clock::rng().gen());
    let mut current = id % urls.len();
    let mut last = 0i64;
    let mut stream_no = 0;
    while !until(last) {
        stream_no += 1;
        let url = urls[current].clone();
        current = (current + 1) % urls.len();
        let Ok(Ok(mut c)) = tokio::time::timeout(REQUEST_TIMEOUT, WatchClient::connect(url)).await
        else {
            madsim::time::sleep(CONNECT_BACKOFF).await;
            continue;
        };
        let (tx, rx) = mpsc::channel::<WatchRequest>(2);
        let create = WatchCreateRequest {
            key: vec![0],
            range_end: vec![0],
            start_revision: last + 1,
            prev_kv: true,
            progress_notify: true,
            ..Default::default()
        };
        let _ = tx
            .send(WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(create)),
            })
            .await;
        if stream_no > 1 {
            coverage::hit("watch.resume");
        }
        // Progress asked at once, as a resuming client does to learn where
        // it stands: the answer must wait for the catch-up it names.
        if rng.gen_range(0..2) == 0 {
            coverage::hit("watch.progress_request");
            let ask = WatchRequest {
                request_union: Some(RequestUnion::ProgressRequest(Default::default())),
            };
            let _ = tx.try_send(ask);
        }
        let opened = tokio::time::timeout(REQUEST_TIMEOUT, c.watch(ReceiverStream(rx))).await;
        let Ok(Ok(resp)) = opened else {
            madsim::time::sleep(CONNECT_BACKOFF).await;
            continue;
        };
        let mut stream = resp.into_inner();
        // A watcher also moves on by itself now and then, so resuming from
        // history (the sync path) is exercised without a fault too.
        #[allow(clippy::disallowed_methods)] // madsim's simulated clock
        let leave_at =
            madsim::time::Instant::now() + Duration::from_millis(rng.gen_range(500..4000));
        loop {
            #[allow(clippy::disallowed_methods)] // madsim's simulated clock
            if madsim::time::Instant::now() >= leave_at {
                break;
            }
            // A quiet stream is normal; a dead member's is not answered for
            // long: move on after a while, from where it was.
            let got = tokio::time::timeout(Duration::from_secs(3), stream.message()).await;
            let Ok(Ok(Some(r))) = got else { break };
            if r.created {
                continue;
            }
            let progress = (r.events.is_empty() && !r.canceled && r.compact_revision == 0)
                .then(|| r.header.map_or(0, |h| h.revision));
            if progress.is_some() {
                coverage::hit(if r.watch_id == -1 {
                    "watch.progress_answer"
                } else {
                    "watch.progress_notify"
                });
            } else if rng.gen_range(0..3) == 0 {
                coverage::hit("watch.progress_request");
                let ask = WatchRequest {
                    request_union: Some(RequestUnion::ProgressRequest(Default::default())),
                };
                let _ = tx.try_send(ask);
            }
            if let Some(rev) = r
                .events
                .iter()
                .filter_map(|e| e.kv.as_ref())
                .map(|kv| kv.mod_revision)
                .max()
            {
                last = last.max(rev);
            }
            coverage::hit("watch.response");
            let canceled = r.canceled;
            log.lock().expect("lock").received.push(Received {
                watcher: id,
                stream: stream_no,
                events: r.events,
                compact_revision: r.compact_revision,
                progress,
            });
            if canceled || until(last) {
                break;
            }
        }
        drop(tx);
    }
    last
}
