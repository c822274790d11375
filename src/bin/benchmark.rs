//! `benchmark`: a load generator in the spirit of etcd's `tools/benchmark`.
//!
//! ```text
//! benchmark [--endpoints=127.0.0.1:2379] [--clients=64] [--conns=8] [--total=100000] put [--key-size=8] [--val-size=256]
//! benchmark [--endpoints=127.0.0.1:2379] [--clients=64] [--conns=8] [--total=100000] range <key> [--consistency=l|s]
//! benchmark [--endpoints=…] [--clients=N] watch [--streams=10] [--watch-per-stream=100] [--put-total=1000] [--key-size=32] [--val-size=32] [--hold-secs=0]
//! benchmark [--endpoints=…] [--clients=N] [--conns=N] [--total=N] lease-keepalive
//! benchmark [--endpoints=…] [--clients=N] [--conns=N] [--total=N] lease-grant [--ttl=600] [--hold-secs=0]
//! ```
//!
//! Prints throughput and latency percentiles. Real time is what it measures.
//!
//! `watch` is etcd's `benchmark watch` on one key: `streams` gRPC streams
//! with `watch-per-stream` watchers each, then `put-total` puts by
//! `clients` writers; it reports how fast the watchers were created, the
//! puts' rate, and the events delivered per second (every watcher sees
//! every put). `lease-keepalive` grants one lease per client and sends
//! `total` keep-alives over one stream per client, each after the previous
//! answer (clientv3's keep-alive loop, without its pause). `lease-grant`
//! grants `total` leases. With `--hold-secs`, `watch` and `lease-grant`
//! keep what they opened for that long before going on (or exiting), so a
//! script can read the server's memory meanwhile.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxcd::pb::etcdserverpb::{
    kv_client::KvClient, lease_client::LeaseClient, watch_client::WatchClient, watch_request,
    LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, RangeRequest, WatchCreateRequest,
    WatchRequest,
};
use oxcd::rt::stream::ReceiverStream;
use tonic::transport::Channel;

const USAGE: &str =
    "usage: benchmark [--endpoints=host:port] [--clients=N] [--conns=N] [--total=N] \
put [--key-size=N] [--val-size=N] | range <key> [--consistency=l|s] | \
watch [--streams=N] [--watch-per-stream=N] [--put-total=N] [--key-size=N] [--val-size=N] [--hold-secs=N] | \
lease-keepalive | lease-grant [--ttl=N] [--hold-secs=N]";

fn flag(args: &[String], name: &str, default: &str) -> String {
    let prefix = format!("--{name}=");
    args.iter()
        .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| default.to_string())
}

fn num(args: &[String], name: &str, default: u64) -> u64 {
    let v = flag(args, name, &default.to_string());
    v.parse().unwrap_or_else(|_| {
        eprintln!("Error: invalid value {v:?} for --{name}");
        std::process::exit(1);
    })
}

/// One request of the workload; `i` numbers it across all clients.
#[derive(Clone)]
enum Workload {
    Put {
        key_size: usize,
        value: Vec<u8>,
    },
    Range {
        key: Vec<u8>,
        serializable: bool,
    },
    /// Puts to one key (`watch`'s writers).
    PutKey {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    LeaseGrant {
        ttl: i64,
    },
}

impl Workload {
    fn parse(args: &[String]) -> Workload {
        let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
        match positional.first().map(|s| s.as_str()) {
            Some("put") => Workload::Put {
                key_size: num(args, "key-size", 8) as usize,
                value: vec![b'v'; num(args, "val-size", 256) as usize],
            },
            Some("range") => {
                let Some(key) = positional.get(1) else {
                    eprintln!("Error: range needs a key\n{USAGE}");
                    std::process::exit(1);
                };
                let serializable = match flag(args, "consistency", "l").as_str() {
                    "l" => false,
                    "s" => true,
                    other => {
                        eprintln!("Error: consistency must be l or s, not {other:?}");
                        std::process::exit(1);
                    }
                };
                Workload::Range {
                    key: key.as_bytes().to_vec(),
                    serializable,
                }
            }
            Some("lease-grant") => Workload::LeaseGrant {
                ttl: num(args, "ttl", 600) as i64,
            },
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(1);
            }
        }
    }

    async fn run(&self, ch: &Channel, i: u64) -> bool {
        let mut kv = KvClient::new(ch.clone());
        match self {
            Workload::Put { key_size, value } => {
                let mut key = format!("{i:0width$}", width = key_size).into_bytes();
                key.truncate((*key_size).max(1));
                let req = PutRequest {
                    key,
                    value: value.clone(),
                    ..Default::default()
                };
                kv.put(req).await.is_ok()
            }
            Workload::Range { key, serializable } => {
                let req = RangeRequest {
                    key: key.clone(),
                    serializable: *serializable,
                    ..Default::default()
                };
                kv.range(req).await.is_ok()
            }
            Workload::PutKey { key, value } => {
                let req = PutRequest {
                    key: key.clone(),
                    value: value.clone(),
                    ..Default::default()
                };
                kv.put(req).await.is_ok()
            }
            Workload::LeaseGrant { ttl } => {
                let req = LeaseGrantRequest { ttl: *ttl, id: 0 };
                LeaseClient::new(ch.clone()).lease_grant(req).await.is_ok()
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_default();
    let workload = match command.as_str() {
        "watch" | "lease-keepalive" => None,
        _ => Some(Workload::parse(&args)),
    };
    let ep = flag(&args, "endpoints", "127.0.0.1:2379");
    let ep = if ep.contains("://") {
        ep
    } else {
        format!("http://{ep}")
    };
    let clients = num(&args, "clients", 64).max(1);
    let conns = num(&args, "conns", 8).clamp(1, clients);
    let total = num(&args, "total", 100_000);
    let hold = Duration::from_secs(num(&args, "hold-secs", 0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut channels = Vec::new();
        for _ in 0..conns {
            let ch = tonic::transport::Endpoint::from_shared(ep.clone())
                .expect("endpoint")
                .connect()
                .await
                .unwrap_or_else(|e| {
                    eprintln!("Error: cannot connect to {ep}: {e}");
                    std::process::exit(1);
                });
            channels.push(ch);
        }
        match workload {
            None if command == "watch" => watch(&args, &channels, clients, hold).await,
            None => lease_keepalive(&channels, clients, total).await,
            Some(workload) => {
                let start = Instant::now();
                let (lat, errors) = requests(&channels, clients, total, workload).await;
                summary(lat, errors, start.elapsed());
                if !hold.is_zero() {
                    println!("Holding for {} s", hold.as_secs());
                    tokio::time::sleep(hold).await;
                }
            }
        }
    });
}

/// `total` requests of `workload` from `clients` concurrent clients over
/// `channels`: each one's latency, and how many failed.
async fn requests(
    channels: &[Channel],
    clients: u64,
    total: u64,
    workload: Workload,
) -> (Vec<Duration>, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let ch = channels[c as usize % channels.len()].clone();
        let next = next.clone();
        let workload = workload.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                if workload.run(&ch, i).await {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        lat.extend(l);
        errors += e;
    }
    (lat, errors)
}

fn summary(mut lat: Vec<Duration>, errors: u64, took: Duration) {
    lat.sort();
    let pct = |p: f64| -> Duration {
        if lat.is_empty() {
            return Duration::ZERO;
        }
        lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)]
    };
    println!("Summary:");
    println!("  Total:\t{:.4} secs.", took.as_secs_f64());
    println!("  Requests:\t{} ok, {errors} failed", lat.len());
    println!(
        "  Requests/sec:\t{:.1}",
        lat.len() as f64 / took.as_secs_f64()
    );
    println!(
        "  Latency p50/p90/p99/max:\t{:.2} / {:.2} / {:.2} / {:.2} ms",
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.9).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

/// etcd's `benchmark watch` on one key: watchers, then puts, then how fast
/// the events reached every watcher.
async fn watch(args: &[String], channels: &[Channel], clients: u64, hold: Duration) {
    let streams = num(args, "streams", 10).max(1);
    let per_stream = num(args, "watch-per-stream", 100).max(1);
    let put_total = num(args, "put-total", 1000);
    let key = vec![b'k'; num(args, "key-size", 32).max(1) as usize];
    let value = vec![b'v'; num(args, "val-size", 32) as usize];
    let start = Instant::now();
    let mut created = Vec::new();
    let mut readers = Vec::new();
    for s in 0..streams {
        let ch = channels[s as usize % channels.len()].clone();
        let (tx, rx) = tokio::sync::mpsc::channel(per_stream as usize);
        for _ in 0..per_stream {
            let create = WatchCreateRequest {
                key: key.clone(),
                ..Default::default()
            };
            let req = WatchRequest {
                request_union: Some(watch_request::RequestUnion::CreateRequest(create)),
            };
            tx.send(req).await.expect("queue a create");
        }
        let (done, is_created) = tokio::sync::oneshot::channel();
        created.push(is_created);
        let want = per_stream * put_total;
        readers.push(tokio::spawn(async move {
            let mut resps = WatchClient::new(ch)
                .watch(ReceiverStream(rx))
                .await
                .expect("watch stream")
                .into_inner();
            let (mut ready, mut events, mut done) = (0, 0, Some(done));
            while events < want || ready < per_stream {
                let Some(r) = resps.message().await.expect("watch response") else {
                    break;
                };
                ready += u64::from(r.created);
                events += r.events.len() as u64;
                if ready == per_stream {
                    if let Some(d) = done.take() {
                        let _ = d.send(());
                    }
                }
            }
            drop(tx);
            events
        }));
    }
    for c in created {
        c.await.expect("watchers created");
    }
    let took = start.elapsed();
    let watchers = streams * per_stream;
    println!(
        "Created {watchers} watchers on {streams} streams in {:.3} s ({:.0}/s)",
        took.as_secs_f64(),
        watchers as f64 / took.as_secs_f64()
    );
    if !hold.is_zero() {
        println!("Holding for {} s", hold.as_secs());
        tokio::time::sleep(hold).await;
    }
    let start = Instant::now();
    let (lat, errors) = requests(
        channels,
        clients.min(put_total.max(1)),
        put_total,
        Workload::PutKey { key, value },
    )
    .await;
    let put_took = start.elapsed();
    let mut delivered = 0;
    for r in readers {
        delivered += r.await.expect("watch reader");
    }
    let took = start.elapsed();
    println!(
        "Puts: {} ok, {errors} failed, in {:.3} s ({:.0}/s)",
        lat.len(),
        put_took.as_secs_f64(),
        lat.len() as f64 / put_took.as_secs_f64()
    );
    println!(
        "Events: {delivered} delivered to {watchers} watchers in {:.3} s ({:.0}/s)",
        took.as_secs_f64(),
        delivered as f64 / took.as_secs_f64()
    );
}

/// One lease per client, kept alive `total` times in all over one stream
/// per client, each keep-alive sent when the last was answered.
async fn lease_keepalive(channels: &[Channel], clients: u64, total: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let ch = channels[c as usize % channels.len()].clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lease = LeaseClient::new(ch);
            let grant = LeaseGrantRequest { ttl: 100, id: 0 };
            let id = lease
                .lease_grant(grant)
                .await
                .expect("grant")
                .into_inner()
                .id;
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let mut lat = Vec::new();
            if next.fetch_add(1, Ordering::Relaxed) >= total {
                return lat;
            }
            let t = Instant::now();
            tx.send(LeaseKeepAliveRequest { id }).await.expect("send");
            // The stream opens once its first request is in.
            let opened = lease.lease_keep_alive(ReceiverStream(rx)).await;
            let mut resps = opened.expect("keep-alive stream").into_inner();
            answer(&mut resps, &mut lat, t).await;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                tx.send(LeaseKeepAliveRequest { id }).await.expect("send");
                answer(&mut resps, &mut lat, t).await;
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("keep-alive client"));
    }
    summary(lat, 0, start.elapsed());
}

/// Waits for one keep-alive answer and records its latency.
async fn answer(
    resps: &mut tonic::Streaming<oxcd::pb::etcdserverpb::LeaseKeepAliveResponse>,
    lat: &mut Vec<Duration>,
    sent: Instant,
) {
    match resps.message().await {
        Ok(Some(_)) => lat.push(sent.elapsed()),
        other => {
            eprintln!("Error: keep-alive stream ended: {other:?}");
            std::process::exit(1);
        }
    }
}
