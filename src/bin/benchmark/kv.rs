//! `put`, `range`, `txn-put`, `lease-keepalive` (etcd's), and oxcd's
//! `lease-grant`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxcd::pb::etcdserverpb::{
    kv_client::KvClient, lease_client::LeaseClient, maintenance_client::MaintenanceClient,
    request_op, CompactionRequest, HashKvRequest, LeaseGrantRequest, LeaseKeepAliveRequest,
    PutRequest, RangeRequest, RequestOp, StatusRequest, TxnRequest,
};
use oxcd::rt::stream::ReceiverStream;
use tonic::transport::Channel;

use crate::report::Recorder;
use crate::{f, Bool, Dur, Int, Str};
use crate::{fail, put_varint, rand_below, rand_bytes, req, status_text, Flag, Global, Limiter};

pub const PUT_FLAGS: &[Flag] = &[
    f("key-size", Int, "8", "Key size of put request"),
    f("val-size", Int, "8", "Value size of put request"),
    f("rate", Int, "0", "Maximum puts per second (0 is no limit)"),
    f("total", Int, "10000", "Total number of put requests"),
    f("key-space-size", Int, "1", "Maximum possible keys"),
    f("sequential-keys", Bool, "false", "Use sequential keys"),
    f("compact-interval", Dur, "0s", "Interval to compact database (do not duplicate this with etcd's 'auto-compaction-retention' flag) (e.g. --compact-interval=5m compacts every 5-minute)"),
    f("compact-index-delta", Int, "1000", "Delta between current revision and compact revision (e.g. current revision 10000, compact at 9000)"),
    f("check-hashkv", Bool, "false", "'true' to check hashkv"),
];

pub const RANGE_FLAGS: &[Flag] = &[
    f(
        "rate",
        Int,
        "0",
        "Maximum range requests per second (0 is no limit)",
    ),
    f("total", Int, "10000", "Total number of range requests"),
    f(
        "consistency",
        Str,
        "l",
        "Linearizable(l) or Serializable(s)",
    ),
];

pub const TXN_PUT_FLAGS: &[Flag] = &[
    f("key-size", Int, "8", "Key size of txn put"),
    f("val-size", Int, "8", "Value size of txn put"),
    f("txn-ops", Int, "1", "Number of puts per txn"),
    f("rate", Int, "0", "Maximum txns per second (0 is no limit)"),
    f("total", Int, "10000", "Total number of txn requests"),
    f("key-space-size", Int, "1", "Maximum possible keys"),
];

pub const LEASE_KEEPALIVE_FLAGS: &[Flag] = &[f(
    "total",
    Int,
    "10000",
    "Total number of lease keepalive requests",
)];

pub const LEASE_GRANT_FLAGS: &[Flag] = &[
    f("total", Int, "10000", "Total number of lease grant requests"),
    f("ttl", Int, "600", "TTL of each lease (seconds)"),
    f("hold-secs", Int, "0", "Keep running this long after the grants (to measure the server meanwhile); prints \"Holding for N s\" first"),
];

/// Runs `total` requests from `clients` concurrent clients (client i on
/// `chans[i]`), each after `limit` lets it, request n made by `op(ch, n)`,
/// and returns etcd's report of their outcomes.
pub async fn drive<F, Fut>(
    g: &Global,
    chans: &[Channel],
    total: usize,
    limit: Arc<Limiter>,
    op: F,
) -> String
where
    F: Fn(Channel, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let rec = Recorder::new(total as u64);
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for ch in chans {
        let (ch, next, limit, rec, op) = (
            ch.clone(),
            next.clone(),
            limit.clone(),
            rec.clone(),
            op.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return;
                }
                limit.wait().await;
                let st = Instant::now();
                let r = op(ch.clone(), n).await;
                rec.done(st, r.err());
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let took = start.elapsed();
    g.reporter.render(&rec.finish(), took)
}

fn positive_key_space(o: &crate::Opts, name: &str) -> usize {
    let n = o.int(name);
    if n <= 0 {
        eprint!("expected positive --{name}, got ({n})");
        std::process::exit(1);
    }
    n as usize
}

pub async fn put(o: &crate::Opts, g: &Global) {
    let space = positive_key_space(o, "key-space-size");
    let (key_size, total) = (o.count("key-size"), o.count("total"));
    let seq = o.bool("sequential-keys");
    let value = Arc::new(rand_bytes(o.count("val-size")));
    let limit = Arc::new(Limiter::new(o.int("rate"), 1));
    let chans = g.clients(g.clients, g.conns).await;
    let interval = o.dur("compact-interval");
    if !interval.is_zero() {
        let (ch, delta) = (chans[0].clone(), o.int("compact-index-delta"));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                compact(&ch, delta).await;
            }
        });
    }
    let report = drive(g, &chans, total, limit, move |ch, n| {
        let mut key = vec![0; key_size];
        let k = if seq { n % space } else { rand_below(space) };
        put_varint(&mut key, k as i64);
        let value = value.clone();
        async move {
            let put = PutRequest {
                key,
                value: value.to_vec(),
                ..Default::default()
            };
            KvClient::new(ch)
                .put(req(put))
                .await
                .map(drop)
                .map_err(|s| status_text(&s))
        }
    })
    .await;
    println!("{report}");
    if o.bool("check-hashkv") {
        hash_kv(&chans[0], &g.endpoints[0]).await;
    }
}

/// Compacts to `delta` revisions before the current one (etcd's
/// `compactKV`, which reads the revision off a get of `foo`).
async fn compact(ch: &Channel, delta: i64) {
    let get = RangeRequest {
        key: b"foo".to_vec(),
        ..Default::default()
    };
    let rev = match KvClient::new(ch.clone()).range(req(get)).await {
        Ok(r) => r.into_inner().header.map_or(0, |h| h.revision),
        Err(st) => fail(&status_text(&st)),
    };
    let to = rev - delta;
    if to <= 0 {
        // etcd would ask for revision 0, which is always compacted already
        // and panics; there is nothing to compact yet.
        return;
    }
    let c = CompactionRequest {
        revision: to,
        physical: false,
    };
    if let Err(st) = KvClient::new(ch.clone()).compact(req(c)).await {
        fail(&status_text(&st));
    }
}

/// etcd's `put --check-hashkv`: the endpoint's KV hash and database size.
async fn hash_kv(ch: &Channel, ep: &str) {
    let st = Instant::now();
    let mut m = MaintenanceClient::new(ch.clone());
    let hash = match m.hash_kv(req(HashKvRequest { revision: 0 })).await {
        Ok(r) => r.into_inner().hash,
        Err(s) => fail(&format!(
            "Failed to get the hashkv of endpoint {ep} ({})",
            status_text(&s)
        )),
    };
    let db_size = match m.status(req(StatusRequest {})).await {
        Ok(r) => r.into_inner().db_size,
        Err(s) => fail(&format!(
            "Failed to get the status of endpoint {ep} ({})",
            status_text(&s)
        )),
    };
    println!(
        "HashKV Summary:\n\tHashKV: {hash}\n\tEndpoint: {ep}\n\tTime taken to get hashkv: {}\n\tDB size: {}",
        crate::report::go_duration(st.elapsed()),
        humanize_bytes(db_size.max(0) as u64)
    );
}

/// go-humanize's `Bytes`: SI units, one decimal below 10.
fn humanize_bytes(n: u64) -> String {
    if n < 10 {
        return format!("{n} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let v = ((n as f64 / 1000f64.powi(e as i32)) * 10.0 + 0.5).floor() / 10.0;
    if v < 10.0 {
        format!("{v:.1} {}", units[e])
    } else {
        format!("{v:.0} {}", units[e])
    }
}

pub async fn range(o: &crate::Opts, g: &Global) {
    let args = o.args();
    if args.is_empty() || args.len() > 2 {
        o.usage_and_exit();
    }
    let key = args[0].clone().into_bytes();
    let end = args.get(1).cloned().unwrap_or_default().into_bytes();
    let serializable = match o.str("consistency").as_str() {
        "l" => {
            println!("bench with linearizable range");
            false
        }
        "s" => {
            println!("bench with serializable range");
            true
        }
        _ => o.usage_and_exit(),
    };
    let limit = Arc::new(Limiter::new(o.int("rate"), 1));
    let total = o.count("total");
    let chans = g.clients(g.clients, g.conns).await;
    let report = drive(g, &chans, total, limit, move |ch, _| {
        let get = RangeRequest {
            key: key.clone(),
            range_end: end.clone(),
            serializable,
            ..Default::default()
        };
        async move {
            KvClient::new(ch)
                .range(req(get))
                .await
                .map(drop)
                .map_err(|s| status_text(&s))
        }
    })
    .await;
    print!("{report}");
}

pub async fn txn_put(o: &crate::Opts, g: &Global) {
    let space = positive_key_space(o, "key-space-size");
    let (key_size, total, ops) = (o.count("key-size"), o.count("total"), o.count("txn-ops"));
    let value = Arc::new(rand_bytes(o.count("val-size")));
    let limit = Arc::new(Limiter::new(o.int("rate"), 1));
    let chans = g.clients(g.clients, g.conns).await;
    let report = drive(g, &chans, total, limit, move |ch, n| {
        let success = (0..ops)
            .map(|j| {
                let mut key = vec![0; key_size];
                put_varint(&mut key, ((n * ops + j) % space) as i64);
                RequestOp {
                    request: Some(request_op::Request::RequestPut(PutRequest {
                        key,
                        value: value.to_vec(),
                        ..Default::default()
                    })),
                }
            })
            .collect();
        let txn = TxnRequest {
            success,
            ..Default::default()
        };
        async move {
            KvClient::new(ch)
                .txn(req(txn))
                .await
                .map(drop)
                .map_err(|s| status_text(&s))
        }
    })
    .await;
    println!("{report}");
}

/// clientv3's `KeepAliveOnce`: a keep-alive stream of its own for one
/// request and its answer.
async fn keep_alive_once(ch: Channel, id: i64) -> Result<(), String> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(LeaseKeepAliveRequest { id })
        .await
        .map_err(|e| e.to_string())?;
    let mut resps = LeaseClient::new(ch)
        .lease_keep_alive(req(ReceiverStream(rx)))
        .await
        .map_err(|s| status_text(&s))?
        .into_inner();
    match resps.message().await {
        Ok(Some(r)) if r.ttl <= 0 => Err("etcdserver: requested lease not found".into()),
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("rpc error: code = Canceled desc = context canceled".into()),
        Err(s) => Err(status_text(&s)),
    }
}

pub async fn lease_keepalive(o: &crate::Opts, g: &Global) {
    let total = o.count("total");
    let chans = g.clients(g.clients, g.conns).await;
    let rec = Recorder::new(total as u64);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for ch in chans {
        let (rec, next) = (rec.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let grant = LeaseGrantRequest { ttl: 100, id: 0 };
            let id = match LeaseClient::new(ch.clone()).lease_grant(req(grant)).await {
                Ok(r) => r.into_inner().id,
                Err(s) => fail(&status_text(&s)),
            };
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let st = Instant::now();
                let r = keep_alive_once(ch.clone(), id).await;
                rec.done(st, r.err());
            }
        }));
    }
    for t in tasks {
        t.await.expect("keep-alive client");
    }
    let took = start.elapsed();
    print!("{}", g.reporter.render(&rec.finish(), took));
}

/// oxcd's `lease-grant`: `total` grants of `--ttl`, then, with
/// `--hold-secs`, a pause before exiting (the leases stay granted anyway).
pub async fn lease_grant(o: &crate::Opts, g: &Global) {
    let (total, ttl) = (o.count("total"), o.int("ttl"));
    let chans = g.clients(g.clients, g.conns).await;
    let limit = Arc::new(Limiter::new(0, 1));
    let report = drive(g, &chans, total, limit, move |ch, _| async move {
        let grant = LeaseGrantRequest { ttl, id: 0 };
        LeaseClient::new(ch)
            .lease_grant(req(grant))
            .await
            .map(drop)
            .map_err(|s| status_text(&s))
    })
    .await;
    print!("{report}");
    hold(o.count("hold-secs") as u64).await;
}

/// `--hold-secs`: says so (scripts wait for the line), then sleeps.
pub async fn hold(secs: u64) {
    if secs > 0 {
        println!("Holding for {secs} s");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
}
