//! Three real `etcd` processes on loopback: the tutorial's cluster, leader
//! loss under write load (with the availability gap measured), and a
//! restarted member catching up.
#![allow(clippy::disallowed_methods)] // real processes: real time

mod common;

use std::time::{Duration, Instant};

use common::{free_port, stdout, temp_dir, Server};
use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};

struct Cluster {
    members: Vec<Option<Server>>,
    client_ports: Vec<u16>,
    peer_ports: Vec<u16>,
    dir: std::path::PathBuf,
    initial: String,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        let dir = temp_dir("cluster");
        let client_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peer_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let initial = (0..n)
            .map(|i| format!("node{}=http://127.0.0.1:{}", i + 1, peer_ports[i]))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Cluster {
            members: Vec::new(),
            client_ports,
            peer_ports,
            dir,
            initial,
        };
        for i in 0..n {
            let s = c.spawn(i);
            c.members.push(Some(s));
        }
        for s in c.members.iter().flatten() {
            s.wait_ready();
        }
        c
    }

    fn spawn(&self, i: usize) -> Server {
        let name = format!("node{}", i + 1);
        let peer = self.peer_ports[i];
        Server::spawn(
            &self.dir,
            self.client_ports[i],
            peer,
            &[
                &format!("--name={name}"),
                &format!("--data-dir={}", self.dir.join(&name).display()),
                &format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                &format!("--initial-cluster={}", self.initial),
                "--initial-cluster-token=tkn",
                "--initial-cluster-state=new",
            ],
        )
    }

    /// Index of the member that says it leads.
    fn leader(&self) -> usize {
        for _ in 0..100 {
            for (i, s) in self.members.iter().enumerate() {
                let Some(s) = s else { continue };
                let o = s.ctl(&["endpoint", "status"]);
                let line = stdout(&o);
                if line.split(", ").nth(4) == Some("true") {
                    return i;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no leader");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.members.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn three_member_cluster_like_the_tutorial() {
    let c = Cluster::start(3);
    let s = c.members[0].as_ref().unwrap();
    let o = s.ctl(&["member", "list"]);
    let list = stdout(&o);
    assert_eq!(list.lines().count(), 3, "{list}");
    for line in list.lines() {
        assert!(line.contains(", started, node"), "{line}");
    }
    for i in 0..3 {
        let want = format!(
            ", started, node{}, http://127.0.0.1:{}, http://127.0.0.1:{}, false",
            i + 1,
            c.peer_ports[i],
            c.client_ports[i]
        );
        assert!(list.contains(&want), "missing {want} in\n{list}");
    }
    // The real etcdctl 3.4 reads the same list.
    if std::path::Path::new("/usr/bin/etcdctl").exists() {
        let o = std::process::Command::new("/usr/bin/etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", s.endpoint()))
            .args(["member", "list"])
            .output()
            .unwrap();
        assert_eq!(stdout(&o), list);
    }
    // `endpoint status --cluster` visits every member and finds one leader.
    let o = s.ctl(&["endpoint", "status", "--cluster"]);
    let status = stdout(&o);
    assert_eq!(status.lines().count(), 3, "{status}");
    let leaders = status
        .lines()
        .filter(|l| l.split(", ").nth(4) == Some("true"))
        .count();
    assert_eq!(leaders, 1, "{status}");
    let o = s.ctl(&["endpoint", "health", "--cluster"]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr)
            .matches("is healthy")
            .count(),
        3
    );
    // move-leader hands leadership to a follower.
    let ids: Vec<String> = list
        .lines()
        .map(|l| l.split(", ").next().unwrap().to_string())
        .collect();
    let leader_line = status
        .lines()
        .find(|l| l.split(", ").nth(4) == Some("true"))
        .unwrap();
    let leader_id = leader_line.split(", ").nth(1).unwrap().to_string();
    let target = ids.iter().find(|id| **id != leader_id).unwrap();
    let all = (0..3)
        .map(|i| format!("http://127.0.0.1:{}", c.client_ports[i]))
        .collect::<Vec<_>>()
        .join(",");
    let o = common::ctl(&all, &["move-leader", target], None);
    assert_eq!(
        stdout(&o),
        format!("Leadership transferred from {leader_id} to {target}\n"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = s.ctl(&["endpoint", "status", "--cluster"]);
    let now_leading: Vec<_> = stdout(&o)
        .lines()
        .filter(|l| l.split(", ").nth(4) == Some("true"))
        .map(|l| l.split(", ").nth(1).unwrap().to_string())
        .collect();
    assert_eq!(now_leading, vec![target.clone()]);
    // A write through one member is readable through every other.
    assert_eq!(stdout(&s.ctl(&["put", "foo", "bar"])), "OK\n");
    for m in c.members.iter().flatten() {
        assert_eq!(stdout(&m.ctl(&["get", "foo"])), "foo\nbar\n");
    }
}

#[test]
fn writes_continue_after_the_leader_is_killed() {
    let mut c = Cluster::start(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let leader = c.leader();
    let others: Vec<String> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| format!("http://127.0.0.1:{}", c.client_ports[i]))
        .collect();
    // Writers on the surviving members; the leader dies mid-load.
    let killed_at = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let successes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (w, ep) in others.iter().enumerate() {
        let (ep, successes, stop) = (ep.clone(), successes.clone(), stop.clone());
        tasks.push(rt.spawn(async move {
            let mut kv = KvClient::connect(ep).await.unwrap();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let req = PutRequest {
                    key: format!("w{w}-{i}").into_bytes(),
                    value: b"v".to_vec(),
                    ..Default::default()
                };
                let put = tokio::time::timeout(Duration::from_secs(1), kv.put(req)).await;
                if matches!(put, Ok(Ok(_))) {
                    successes.lock().unwrap().push(Instant::now());
                    i += 1;
                } else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    c.members[leader].as_mut().unwrap().kill9();
    let killed = Instant::now();
    *killed_at.lock().unwrap() = Some(killed);
    // Keep writing until well after the first post-kill success (or give up).
    let hard_deadline = killed + Duration::from_secs(20);
    while Instant::now() < hard_deadline {
        let after = successes
            .lock()
            .unwrap()
            .iter()
            .filter(|t| **t >= killed)
            .count();
        if after >= 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        rt.block_on(t).unwrap();
    }
    let killed = killed_at.lock().unwrap().unwrap();
    let mut ok = successes.lock().unwrap().clone();
    ok.sort();
    let before = ok.iter().filter(|t| **t < killed).count();
    assert!(
        ok.iter().any(|t| *t >= killed + Duration::from_millis(100)),
        "no write succeeded after the leader was killed"
    );
    // Availability gap: the longest stretch without a successful write
    // around the kill (answers already in flight may land just after it).
    let gap = ok
        .windows(2)
        .filter(|w| w[1] >= killed)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    eprintln!(
        "leader kill: {before} writes before, {} after; availability gap {:?}",
        ok.len() - before,
        gap
    );
    assert!(before > 0);
    assert!(gap < Duration::from_secs(5), "gap {gap:?}");

    // The killed member restarts and catches up.
    let s = c.spawn(leader);
    s.wait_ready();
    let ep = s.endpoint();
    let n: i64 = rt.block_on(async move {
        let mut kv = KvClient::connect(ep).await.unwrap();
        let all = RangeRequest {
            key: b"w".to_vec(),
            range_end: b"x".to_vec(),
            count_only: true,
            ..Default::default()
        };
        kv.range(all).await.unwrap().into_inner().count
    });
    // Writes whose answer timed out may have landed too.
    assert!(
        n as usize >= ok.len(),
        "restarted member sees {n} of {} acknowledged writes",
        ok.len()
    );
    c.members[leader] = Some(s);
}
