//! `watch`, `watch-latency`, `watch-get`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use oxcd::pb::etcdserverpb::{
    kv_client::KvClient, watch_client::WatchClient, watch_request, PutRequest, RangeRequest,
    WatchCreateRequest, WatchRequest, WatchResponse,
};
use oxcd::rt::stream::ReceiverStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::report::{Outcome, Recorder};
use crate::{f, Bool, Int};
use crate::{fail, put_varint, rand_below, rand_bytes, req, status_text, Flag, Global, Limiter};

pub const WATCH_FLAGS: &[Flag] = &[
    f("streams", Int, "10", "Total watch streams"),
    f("watch-per-stream", Int, "100", "Total watchers per stream"),
    f("watched-key-total", Int, "1", "Total number of keys to be watched"),
    f("put-rate", Int, "0", "Number of keys to put per second"),
    f("put-total", Int, "1000", "Number of put requests"),
    f("key-size", Int, "32", "Key size of watch request"),
    f("key-space-size", Int, "1", "Maximum possible keys"),
    f("sequential-keys", Bool, "false", "Use sequential keys"),
    f("hold-secs", Int, "0", "oxcd's: once the watchers are created, print \"Holding for N s\" and wait that long before the puts"),
];

pub const WATCH_LATENCY_FLAGS: &[Flag] = &[
    f("total", Int, "10000", "Total number of put requests"),
    f("put-rate", Int, "100", "Number of keys to put per second"),
    f("key-size", Int, "32", "Key size of watch response"),
    f("val-size", Int, "32", "Value size of watch response"),
];

pub const WATCH_GET_FLAGS: &[Flag] = &[
    f("watchers", Int, "10000", "Total number of watchers"),
    f("streams", Int, "1", "Total number of watcher streams"),
    f("events", Int, "8", "Number of events per watcher"),
];

type Responses = tonic::Streaming<WatchResponse>;

fn create(key: Vec<u8>, start_revision: i64) -> WatchRequest {
    WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key,
                start_revision,
                ..Default::default()
            },
        )),
    }
}

/// Opens a watch stream on `ch` with `first` as its first request (the
/// stream opens once a request is in).
async fn open(ch: Channel, first: WatchRequest) -> (mpsc::Sender<WatchRequest>, Responses) {
    let (tx, rx) = mpsc::channel(64);
    tx.send(first).await.expect("queue a watch request");
    match WatchClient::new(ch).watch(req(ReceiverStream(rx))).await {
        Ok(r) => (tx, r.into_inner()),
        Err(s) => fail(&status_text(&s)),
    }
}

/// The next response of a watch stream; a broken stream ends the run.
async fn next(resps: &mut Responses) -> WatchResponse {
    match resps.message().await {
        Ok(Some(r)) if r.canceled && !r.cancel_reason.is_empty() => fail(&r.cancel_reason),
        Ok(Some(r)) => r,
        Ok(None) => fail("watch stream closed"),
        Err(s) => fail(&status_text(&s)),
    }
}

/// Waits for the created response of the watcher just asked for.
async fn created(resps: &mut Responses) {
    while !next(resps).await.created {}
}

pub async fn watch(o: &crate::Opts, g: &Global) {
    let space = o.int("key-space-size");
    if space <= 0 {
        eprint!("expected positive --key-space-size, got ({space})");
        std::process::exit(1);
    }
    let (streams, per_stream) = (o.count("streams"), o.count("watch-per-stream"));
    let grpc_conns = g.clients.min(g.conns);
    let wanted = 1 + streams / 100;
    if grpc_conns < wanted {
        eprintln!(
            "warning: grpc limits 100 streams per client connection, have {grpc_conns} but need {wanted}"
        );
    }
    let clients = g.clients(g.clients, g.conns).await;
    if clients.is_empty() {
        fail("no clients (--clients=0)");
    }
    // The watched keys, and how many watchers each gets (round-robin).
    let key_size = o.count("key-size");
    let seq = o.bool("sequential-keys");
    let watched: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..o.count("watched-key-total").max(1))
            .map(|i| {
                let mut k = vec![0; key_size];
                let n = if seq {
                    i % space as usize
                } else {
                    rand_below(space as usize)
                };
                put_varint(&mut k, n as i64);
                k
            })
            .collect(),
    );
    let mut watchers_of: HashMap<&[u8], usize> = HashMap::new();
    for i in 0..streams * per_stream {
        *watchers_of.entry(&watched[i % watched.len()]).or_default() += 1;
    }

    // Creation: each stream creates its watchers one after the other, each
    // once the last one's created answer came.
    let rec = Recorder::new((streams * per_stream) as u64);
    let next_key = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut makers = Vec::new();
    for s in 0..streams {
        let (ch, rec, watched, next_key) = (
            clients[s % clients.len()].clone(),
            rec.clone(),
            watched.clone(),
            next_key.clone(),
        );
        makers.push(tokio::spawn(async move {
            let key = || watched[next_key.fetch_add(1, Ordering::Relaxed) % watched.len()].clone();
            if per_stream == 0 {
                return None;
            }
            let st = Instant::now();
            let (tx, mut resps) = open(ch, create(key(), 0)).await;
            created(&mut resps).await;
            rec.done(st, None);
            for _ in 1..per_stream {
                let st = Instant::now();
                tx.send(create(key(), 0)).await.expect("watch stream open");
                created(&mut resps).await;
                rec.done(st, None);
            }
            Some((tx, resps))
        }));
    }
    let mut opened = Vec::new();
    for m in makers {
        opened.extend(m.await.expect("watch maker"));
    }
    let took = start.elapsed();
    print!(
        "Watch creation summary:\n{}",
        g.reporter.render(&rec.finish(), took)
    );
    crate::kv::hold(o.count("hold-secs") as u64).await;

    // Events: every put's event counted at each of its key's watchers.
    let put_total = o.count("put-total");
    let events_total: usize = (0..put_total)
        .map(|i| watchers_of[watched[i % watched.len()].as_slice()])
        .sum();
    let rec = Recorder::new(events_total as u64);
    let left = Arc::new(AtomicI64::new(events_total as i64));
    let done = CancellationToken::new();
    let start = Instant::now();
    let mut readers = Vec::new();
    for (tx, mut resps) in opened {
        let (rec, left, done) = (rec.clone(), left.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let _keep_open = tx;
            while left.load(Ordering::Relaxed) > 0 {
                let r = tokio::select! {
                    r = next(&mut resps) => r,
                    _ = done.cancelled() => return,
                };
                let st = Instant::now();
                for _ in &r.events {
                    rec.done(st, None);
                    if left.fetch_sub(1, Ordering::Relaxed) <= 1 {
                        done.cancel();
                        return;
                    }
                }
            }
        }));
    }
    let limit = Arc::new(Limiter::new(o.int("put-rate"), 1));
    let next_put = Arc::new(AtomicUsize::new(0));
    for ch in &clients {
        let (ch, limit, next_put, watched) =
            (ch.clone(), limit.clone(), next_put.clone(), watched.clone());
        tokio::spawn(async move {
            loop {
                let i = next_put.fetch_add(1, Ordering::Relaxed);
                if i >= put_total {
                    return;
                }
                limit.wait().await;
                let put = PutRequest {
                    key: watched[i % watched.len()].clone(),
                    value: b"data".to_vec(),
                    ..Default::default()
                };
                if let Err(s) = KvClient::new(ch.clone()).put(req(put)).await {
                    fail(&status_text(&s));
                }
            }
        });
    }
    if events_total == 0 {
        done.cancel();
    }
    for r in readers {
        r.await.expect("watch reader");
    }
    let took = start.elapsed();
    print!(
        "Watch events received summary:\n{}",
        g.reporter.render(&rec.finish(), took)
    );
}

pub async fn watch_latency(o: &crate::Opts, g: &Global) {
    let key = rand_bytes(o.count("key-size"));
    let value = rand_bytes(o.count("val-size"));
    let total = o.count("total");
    let clients = g.clients(g.clients, g.conns).await;
    let put_client = g.connect().await;
    // One watcher per client, each on a stream of its own, forwarding
    // when each response came.
    let mut arrivals = Vec::new();
    for ch in clients {
        let (_tx, mut resps) = open(ch, create(key.clone(), 0)).await;
        created(&mut resps).await;
        let (atx, arx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let _keep_open = _tx;
            loop {
                let r = next(&mut resps).await;
                if !r.events.is_empty() && atx.send(()).is_err() {
                    return;
                }
            }
        });
        arrivals.push(arx);
    }
    let rate = o.int("put-rate");
    let limit = Limiter::new(rate, rate);
    let rec = Recorder::new(total as u64);
    let quiet = Recorder::quiet();
    let start = Instant::now();
    for _ in 0..total {
        limit.wait().await;
        let put = PutRequest {
            key: key.clone(),
            value: value.clone(),
            ..Default::default()
        };
        if let Err(s) = KvClient::new(put_client.clone()).put(req(put)).await {
            eprintln!(
                "Failed to Put for watch latency benchmark: {}",
                status_text(&s)
            );
            std::process::exit(1);
        }
        // As etcd: from the put's answer to each watcher's response.
        let st = Instant::now();
        futures::future::join_all(arrivals.iter_mut().map(|a| {
            let quiet = &quiet;
            async move {
                if a.recv().await.is_some() {
                    quiet.done(st, None);
                }
            }
        }))
        .await;
        rec.tick(1);
    }
    rec.finish();
    let took = start.elapsed();
    print!("{}", g.reporter.render(&quiet.finish(), took));
}

pub async fn watch_get(o: &crate::Opts, g: &Global) {
    let (watchers, streams, events) = (o.count("watchers"), o.count("streams"), o.count("events"));
    let clients = g.clients(g.clients, g.conns).await;
    if clients.is_empty() {
        fail("no clients (--clients=0)");
    }
    let get_client = g.connect().await;
    // The events every watcher will replay, from the first one's revision.
    let mut watch_rev = 0;
    for i in 0..events {
        let put = PutRequest {
            key: b"watchkey".to_vec(),
            value: i.to_string().into_bytes(),
            ..Default::default()
        };
        match KvClient::new(clients[0].clone()).put(req(put)).await {
            Ok(r) if i == 0 => watch_rev = r.into_inner().header.map_or(0, |h| h.revision),
            Ok(_) => {}
            Err(s) => fail(&status_text(&s)),
        }
    }
    let bar = Recorder::new((watchers * events) as u64);
    let gets = Recorder::quiet();
    let stop = CancellationToken::new();
    let first_watch = Arc::new(tokio::sync::Notify::new());
    // Serializable gets in a loop from the first watch on, until every
    // watcher has its events.
    let getter = {
        let (gets, stop, first_watch) = (gets.clone(), stop.clone(), first_watch.clone());
        tokio::spawn(async move {
            first_watch.notified().await;
            let started = Instant::now();
            loop {
                let get = RangeRequest {
                    key: b"abc".to_vec(),
                    serializable: true,
                    ..Default::default()
                };
                let st = Instant::now();
                let mut kv = KvClient::new(get_client.clone());
                let r = tokio::select! {
                    r = kv.range(req(get)) => r,
                    _ = stop.cancelled() => return started,
                };
                gets.add(Outcome {
                    start: st,
                    took: st.elapsed(),
                    err: r.err().map(|s| status_text(&s)),
                    weight: 0.0,
                });
            }
        })
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..streams.min(watchers) {
        // Watcher i goes on stream i mod streams.
        let mine = (s..watchers).step_by(streams).count();
        let (ch, bar, first_watch) = (
            clients[s % clients.len()].clone(),
            bar.clone(),
            first_watch.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (tx, mut resps) = open(ch, create(b"watchkey".to_vec(), watch_rev)).await;
            first_watch.notify_one();
            for _ in 1..mine {
                tx.send(create(b"watchkey".to_vec(), watch_rev))
                    .await
                    .expect("watch stream open");
            }
            let mut got: HashMap<i64, usize> = HashMap::new();
            let mut complete = 0;
            while events > 0 && complete < mine {
                let r = next(&mut resps).await;
                if r.events.is_empty() {
                    continue;
                }
                bar.tick(r.events.len() as u64);
                let n = got.entry(r.watch_id).or_default();
                let before = *n;
                *n += r.events.len();
                if before < events && *n >= events {
                    complete += 1;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("watcher");
    }
    if events == 0 || watchers == 0 {
        first_watch.notify_one();
    }
    stop.cancel();
    let _ = getter.await;
    let took = start.elapsed();
    bar.finish();
    print!(
        "Get during watch summary:\n{}",
        g.reporter.render(&gets.finish(), took)
    );
}
