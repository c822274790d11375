//! A simulated cluster of oxcd members plus a client node.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use madsim::runtime::{Handle, NodeHandle};
use oxcd::config::{self, Config, Parsed};
use oxcd::rt::disk::SimDisk;
use oxcd::storage::backend::MemBackend;
use rand::Rng;

/// Client port every simulated member listens on.
pub const CLIENT_PORT: u16 = 2379;

/// One simulated member and the storage that outlives its incarnations.
pub struct Member {
    pub name: String,
    pub ip: IpAddr,
    pub node: NodeHandle,
    pub disk: SimDisk,
    pub backend: MemBackend,
    /// When the member stopped because it was removed from the cluster
    /// (simulated time).
    pub removed_at: Arc<Mutex<Option<madsim::time::Instant>>>,
}

impl Member {
    pub fn client_url(&self) -> String {
        format!("http://{}:{CLIENT_PORT}", self.ip)
    }
}

/// Parses etcd flags for a simulated member of `initial_cluster`
/// (`name=url,…`; empty for a one-member cluster).
pub fn member_config(name: &str, ip: IpAddr, initial_cluster: &str) -> Config {
    member_config_with(name, ip, initial_cluster, &[])
}

/// [`member_config`] plus `extra` flags.
pub fn member_config_with(
    name: &str,
    ip: IpAddr,
    initial_cluster: &str,
    extra: &[String],
) -> Config {
    let mut args: Vec<String> = [
        format!("--name={name}"),
        format!("--data-dir=/{name}.etcd"),
        format!("--listen-client-urls=http://{ip}:{CLIENT_PORT}"),
        format!("--advertise-client-urls=http://{ip}:{CLIENT_PORT}"),
        format!("--listen-peer-urls=http://{ip}:2380"),
        format!("--initial-advertise-peer-urls=http://{ip}:2380"),
    ]
    .into();
    if !initial_cluster.is_empty() {
        args.push(format!("--initial-cluster={initial_cluster}"));
    }
    args.extend(extra.iter().cloned());
    match config::parse(&args, &BTreeMap::new())
        .expect("valid flags")
        .0
    {
        Parsed::Run(c) => *c,
        _ => unreachable!("no --help or --version"),
    }
}

/// Starts a single-member cluster on a fresh simulated node.
pub fn start_single(handle: &Handle) -> Member {
    oxcd::rt::faults::reset();
    start_member(handle, 1, "")
}

/// Starts an `n`-member cluster, members `etcd1..` at `10.0.0.1..`.
pub fn start_cluster(handle: &Handle, n: usize) -> Vec<Member> {
    start_cluster_with(handle, n, &[])
}

/// The `--initial-cluster` of members `etcd1..etcdn`.
pub fn initial_cluster(n: usize) -> String {
    let initial: Vec<String> = (1..=n)
        .map(|i| format!("etcd{i}={}", peer_url(i)))
        .collect();
    initial.join(",")
}

/// Member `i`'s peer URL.
pub fn peer_url(i: usize) -> String {
    format!("http://10.0.0.{i}:2380")
}

/// [`start_cluster`] with `extra` flags on every member.
pub fn start_cluster_with(handle: &Handle, n: usize, extra: &[&str]) -> Vec<Member> {
    oxcd::rt::faults::reset(); // no knobs left over from an earlier simulation
    let initial = initial_cluster(n);
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    (1..=n)
        .map(|i| start_member_with(handle, i, &initial, &extra))
        .collect()
}

fn start_member(handle: &Handle, i: usize, initial_cluster: &str) -> Member {
    start_member_with(handle, i, initial_cluster, &[])
}

/// Starts member `etcd{i}` at `10.0.0.{i}` with `extra` flags (e.g.
/// `--initial-cluster-state=existing` for a member that joins). A member
/// removed from the cluster stops cleanly; any other stop fails the run.
pub fn start_member_with(
    handle: &Handle,
    i: usize,
    initial_cluster: &str,
    extra: &[String],
) -> Member {
    let name = format!("etcd{i}");
    let ip: IpAddr = format!("10.0.0.{i}").parse().expect("ip");
    let cfg = member_config_with(&name, ip, initial_cluster, extra);
    start_member_on(handle, i, cfg, SimDisk::new(), MemBackend::new())
}

/// Starts member `etcd{i}` at `10.0.0.{i}` with configuration `cfg` on the
/// given disk and backend (a restored member's come filled).
pub fn start_member_on(
    handle: &Handle,
    i: usize,
    cfg: Config,
    disk: SimDisk,
    backend: MemBackend,
) -> Member {
    let name = format!("etcd{i}");
    let ip: IpAddr = format!("10.0.0.{i}").parse().expect("ip");
    let (d, b) = (disk.clone(), backend.clone());
    let removed_at = Arc::new(Mutex::new(None));
    let r = removed_at.clone();
    let node = handle
        .create_node()
        .name(&name)
        .ip(ip)
        .init(move || {
            let (cfg, d, b, r) = (cfg.clone(), d.clone(), b.clone(), r.clone());
            async move {
                let listeners = oxcd::embed::listen(&cfg).await.expect("bind");
                let stopped = oxcd::embed::run(
                    &cfg,
                    listeners,
                    Arc::new(d),
                    Arc::new(b),
                    // Simulated wall time: a restarted member counts its
                    // ids from a later start, as a real one does.
                    madsim::time::TimeHandle::current()
                        .now_time()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64),
                    std::future::pending(),
                )
                .await;
                // Removed members stop cleanly, and a member whose fsync
                // the nemesis fails stops as etcd does; anything else is a
                // failure.
                let node = madsim::plugin::node();
                match stopped {
                    Err(e)
                        if oxcd::rt::faults::get(node).fsync_fails
                            && e.to_string().contains("the disk failed the fsync") => {}
                    Err(e) => panic!("member stopped: {e}"),
                    Ok(oxcd::embed::Stopped::Removed) => {
                        #[allow(clippy::disallowed_methods)] // madsim's simulated clock
                        let now = madsim::time::Instant::now();
                        *r.lock().expect("removed_at lock") = Some(now);
                    }
                    Ok(oxcd::embed::Stopped::Shutdown) => {}
                }
            }
        })
        .build();
    Member {
        name,
        ip,
        node,
        disk,
        backend,
        removed_at,
    }
}

/// Kills a member like a power cut: its process stops, unsynced disk data is
/// lost (the last write may be torn at a sector), unflushed backend batches
/// are lost; then it restarts from what survived.
pub fn crash_and_restart(handle: &Handle, m: &Member) {
    handle.kill(m.node.id());
    let mut rng = madsim::rand::thread_rng();
    m.disk.crash(|max| rng.gen_range(0..=max));
    m.backend.crash();
    handle.restart(m.node.id());
}

/// The address a client dials.
pub fn client_addr(m: &Member) -> SocketAddr {
    SocketAddr::new(m.ip, CLIENT_PORT)
}
