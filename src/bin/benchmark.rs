//! `benchmark`: a load generator in the spirit of etcd's `tools/benchmark`.
//!
//! ```text
//! benchmark [--endpoints=127.0.0.1:2379] [--clients=64] [--conns=8] put [--total=100000] [--key-size=8] [--val-size=256]
//! ```
//!
//! Prints throughput and latency percentiles. Real time is what it measures.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest};

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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "put") {
        eprintln!("usage: benchmark [--endpoints=host:port] [--clients=N] [--conns=N] put [--total=N] [--key-size=N] [--val-size=N]");
        std::process::exit(1);
    }
    let ep = flag(&args, "endpoints", "127.0.0.1:2379");
    let ep = if ep.contains("://") {
        ep
    } else {
        format!("http://{ep}")
    };
    let clients = num(&args, "clients", 64).max(1);
    let conns = num(&args, "conns", 8).clamp(1, clients);
    let total = num(&args, "total", 100_000);
    let key_size = num(&args, "key-size", 8) as usize;
    let val_size = num(&args, "val-size", 256) as usize;
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
        let next = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let mut kv = KvClient::new(channels[(c % conns) as usize].clone());
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let mut key = format!("{i:0width$}", width = key_size).into_bytes();
                    key.truncate(key_size.max(1));
                    let req = PutRequest {
                        key,
                        value: vec![b'v'; val_size],
                        ..Default::default()
                    };
                    let t = Instant::now();
                    match kv.put(req).await {
                        Ok(_) => lat.push(t.elapsed()),
                        Err(_) => errors += 1,
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
        let took = start.elapsed();
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
    });
}
