//! `benchmark`: a load generator in the spirit of etcd's `tools/benchmark`.
//!
//! ```text
//! benchmark [--endpoints=127.0.0.1:2379] [--clients=64] [--conns=8] [--total=100000] put [--key-size=8] [--val-size=256]
//! benchmark [--endpoints=127.0.0.1:2379] [--clients=64] [--conns=8] [--total=100000] range <key> [--consistency=l|s]
//! ```
//!
//! Prints throughput and latency percentiles. Real time is what it measures.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};
use tonic::transport::Channel;

const USAGE: &str =
    "usage: benchmark [--endpoints=host:port] [--clients=N] [--conns=N] [--total=N] \
put [--key-size=N] [--val-size=N] | range <key> [--consistency=l|s]";

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
    Put { key_size: usize, value: Vec<u8> },
    Range { key: Vec<u8>, serializable: bool },
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
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(1);
            }
        }
    }

    async fn run(&self, kv: &mut KvClient<Channel>, i: u64) -> bool {
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
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workload = Workload::parse(&args);
    let ep = flag(&args, "endpoints", "127.0.0.1:2379");
    let ep = if ep.contains("://") {
        ep
    } else {
        format!("http://{ep}")
    };
    let clients = num(&args, "clients", 64).max(1);
    let conns = num(&args, "conns", 8).clamp(1, clients);
    let total = num(&args, "total", 100_000);
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
                    if workload.run(&mut kv, i).await {
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
