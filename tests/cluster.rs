//! Three real `etcd` processes on loopback: the tutorial's cluster, leader
//! loss under write load (with the availability gap measured), a restarted
//! member catching up, a member far behind catching up from a snapshot, and
//! a member added, joined and removed.
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
    extra: Vec<String>,
    /// The server binary: ours, or the real etcd for a comparison.
    bin: &'static str,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[])
    }

    fn start_with(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_bin(common::ETCD, n, extra)
    }

    fn start_bin(bin: &'static str, n: usize, extra: &[&str]) -> Cluster {
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
            extra: extra.iter().map(|s| s.to_string()).collect(),
            bin,
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
        self.spawn_as(i, &self.initial, "new")
    }

    fn spawn_as(&self, i: usize, initial: &str, state: &str) -> Server {
        let name = format!("node{}", i + 1);
        let peer = self.peer_ports[i];
        let mut args = vec![
            format!("--name={name}"),
            format!("--data-dir={}", self.dir.join(&name).display()),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
            format!("--initial-cluster={initial}"),
            "--initial-cluster-token=tkn".to_string(),
            format!("--initial-cluster-state={state}"),
        ];
        args.extend(self.extra.iter().cloned());
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        Server::spawn_bin(self.bin, None, &self.dir, self.client_ports[i], peer, &args)
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("etcd-{}.log", self.client_ports[i])))
            .unwrap_or_default()
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
    // A lease kept alive through every member, followers forwarding to the
    // leader (over one connection, reused), and its TTL read through each.
    let granted = stdout(&s.ctl(&["lease", "grant", "60"]));
    let id = granted.split_whitespace().nth(1).unwrap().to_string();
    for _ in 0..3 {
        for m in c.members.iter().flatten() {
            let o = m.ctl(&["lease", "keep-alive", "--once", &id]);
            assert_eq!(
                stdout(&o),
                format!("lease {id} keepalived with TTL(60)\n"),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            let ttl = stdout(&m.ctl(&["lease", "timetolive", &id]));
            assert!(ttl.contains("granted with TTL(60s)"), "{ttl}");
        }
    }
}

#[test]
fn keep_alives_forwarded_together_get_their_own_answers() {
    use oxcd::pb::etcdserverpb::lease_client::LeaseClient;
    use oxcd::pb::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest};
    let c = Cluster::start(3);
    let rt = common::runtime();
    let leader = c.leader();
    let ep = |i: usize| format!("http://127.0.0.1:{}", c.client_ports[i]);
    let follower = ep((leader + 1) % 3);
    let leader = ep(leader);
    // Each lease its own TTL, every fifth revoked: an answer given to the
    // wrong keep-alive of a forwarded batch shows as a wrong TTL.
    const LEASES: i64 = 80;
    let ttl = |id: i64| 60 + id % 1000;
    let revoked = |id: i64| id % 5 == 0;
    rt.block_on(async {
        let mut leases = LeaseClient::connect(leader).await.unwrap();
        for id in 1000..1000 + LEASES {
            let g = LeaseGrantRequest { ttl: ttl(id), id };
            leases.lease_grant(g).await.unwrap();
            if revoked(id) {
                leases
                    .lease_revoke(LeaseRevokeRequest { id })
                    .await
                    .unwrap();
            }
        }
        let channel = tonic::transport::Endpoint::from_shared(follower)
            .unwrap()
            .connect()
            .await
            .unwrap();
        for _ in 0..3 {
            // All at once on the follower, one stream each, so they queue
            // behind one another's batch.
            let tasks: Vec<_> = (1000..1000 + LEASES)
                .map(|id| {
                    let mut leases = LeaseClient::new(channel.clone());
                    tokio::spawn(async move {
                        let req = futures::stream::iter([LeaseKeepAliveRequest { id }]);
                        let mut answers = leases.lease_keep_alive(req).await.unwrap().into_inner();
                        (id, answers.message().await.unwrap().unwrap())
                    })
                })
                .collect();
            for t in tasks {
                let (id, answer) = t.await.unwrap();
                let want = if revoked(id) { 0 } else { ttl(id) };
                assert_eq!(answer.ttl, want, "lease {id}");
            }
        }
    });
}

#[test]
fn writes_continue_after_the_leader_is_killed() {
    let mut c = Cluster::start(3);
    let rt = common::runtime();
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

fn count_keys(rt: &tokio::runtime::Runtime, ep: String, prefix: &str, serializable: bool) -> i64 {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    let key = prefix.as_bytes().to_vec();
    rt.block_on(async move {
        let mut kv = KvClient::connect(ep).await.unwrap();
        let all = RangeRequest {
            key,
            range_end: end,
            count_only: true,
            serializable,
            ..Default::default()
        };
        kv.range(all).await.unwrap().into_inner().count
    })
}

#[test]
fn a_member_far_behind_catches_up_from_a_snapshot() {
    const KEYS: usize = 1500;
    let mut c = Cluster::start_with(3, &["--snapshot-count=200"]);
    let rt = common::runtime();
    let leader = c.leader();
    let behind = (leader + 1) % 3;
    c.members[behind].as_mut().unwrap().kill9();
    let ep = c.members[leader].as_ref().unwrap().endpoint();
    rt.block_on(async move {
        let mut kv = KvClient::connect(ep).await.unwrap();
        for i in 0..KEYS {
            let req = PutRequest {
                key: format!("s{i:05}").into_bytes(),
                value: vec![b'x'; 100],
                ..Default::default()
            };
            kv.put(req).await.unwrap();
        }
    });
    // The leader compacted its log far past the stopped member's last entry.
    let s = c.spawn(behind);
    s.wait_ready();
    let n = count_keys(&rt, s.endpoint(), "s", true);
    assert_eq!(n as usize, KEYS, "keys on the member that was behind");
    let log = c.log(behind);
    assert!(
        log.contains("installing a snapshot from the leader"),
        "no snapshot installed:\n{log}"
    );
    eprintln!("member behind by {KEYS} writes caught up from a snapshot");
    // And it stays a full member: a write through it reaches the others.
    assert_eq!(stdout(&s.ctl(&["put", "after", "snap"])), "OK\n");
    c.members[behind] = Some(s);
    for m in c.members.iter().flatten() {
        assert_eq!(stdout(&m.ctl(&["get", "after"])), "after\nsnap\n");
    }
}

/// Waits up to 20 s until a joining learner answers `endpoint status`
/// (`endpoint health` reads linearizably, which a learner refuses).
fn learner_serves(s: &Server) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.ctl(&["endpoint", "status"]).status.success() {
        assert!(Instant::now() < deadline, "the learner never served");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits up to 10 s for `s` to exit by itself; its exit code. `what` says
/// what failed if it keeps running.
fn exit_code_within_10s(s: &mut Server, what: &str) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            return st.code();
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `member add node4` as a learner through `first`: its ID and the
/// `ETCD_INITIAL_CLUSTER` etcdctl printed for it, and all it printed.
fn add_learner(c: &Cluster, first: &str) -> (String, String, String) {
    let url = format!("http://127.0.0.1:{}", c.peer_ports[3]);
    let peer_urls = format!("--peer-urls={url}");
    let args = ["member", "add", "node4", &peer_urls, "--learner"];
    // etcd refuses a change until its members have been connected for 5 s.
    let deadline = Instant::now() + Duration::from_secs(15);
    let o = loop {
        let o = common::ctl(first, &args, None);
        let unhealthy = String::from_utf8_lossy(&o.stderr).contains("unhealthy cluster");
        if !unhealthy || Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    let initial = out
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER="))
        .unwrap()
        .trim_matches('"')
        .to_string();
    (id, initial, out)
}

#[test]
fn member_add_join_and_remove() {
    let mut c = Cluster::start(3);
    c.client_ports.push(free_port());
    c.peer_ports.push(free_port());
    let first = c.members[0].as_ref().unwrap().endpoint();
    assert_eq!(
        stdout(
            &c.members[0]
                .as_ref()
                .unwrap()
                .ctl(&["put", "before", "join"])
        ),
        "OK\n"
    );
    let (new_id, initial, out) = add_learner(&c, &first);
    let url = format!("http://127.0.0.1:{}", c.peer_ports[3]);
    assert!(
        out.starts_with("Member ") && out.contains(" added to cluster "),
        "{out}"
    );
    assert!(
        out.contains("ETCD_INITIAL_CLUSTER_STATE=\"existing\""),
        "{out}"
    );
    assert_eq!(initial.split(',').count(), 4, "{initial}");
    let list = stdout(&common::ctl(&first, &["member", "list"], None));
    assert!(
        list.contains(&format!("{new_id}, unstarted, , {url}, , true")),
        "{list}"
    );
    // The new member joins with the environment etcdctl printed.
    let s = c.spawn_as(3, &initial, "existing");
    learner_serves(&s);
    let status = stdout(&s.ctl(&["endpoint", "status"]));
    assert_eq!(status.split(", ").nth(5), Some("true"), "{status}");
    // A learner serves serializable reads only.
    assert_eq!(
        stdout(&s.ctl(&["get", "before", "--consistency=s"])),
        "before\njoin\n"
    );
    let o = s.ctl(&["put", "from", "learner"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).lines().last(),
        Some("Error: etcdserver: rpc not supported for learner")
    );
    // Promoted once it has caught up (etcd's 90% rule).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = common::ctl(&first, &["member", "promote", &new_id], None);
        if o.status.success() {
            let out = stdout(&o);
            assert!(
                out.starts_with(&format!("Member {new_id:>16} promoted in cluster ")),
                "{out}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = common::ctl(&first, &["member", "promote", &new_id], None);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("Error: etcdserver: can only promote a learner member"));
    assert_eq!(stdout(&s.ctl(&["get", "before"])), "before\njoin\n");
    let list = stdout(&s.ctl(&["member", "list"]));
    assert_eq!(list.matches(", started, ").count(), 4, "{list}");
    assert_eq!(stdout(&s.ctl(&["put", "from", "node4"])), "OK\n");
    assert_eq!(
        stdout(&common::ctl(&first, &["get", "from"], None)),
        "from\nnode4\n"
    );
    c.members.push(Some(s));
    // Removing it stops it, and the cluster goes on with three.
    let o = common::ctl(&first, &["member", "remove", &new_id], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).starts_with(&format!("Member {new_id:>16} removed from cluster ")));
    let removed = c.members[3].as_mut().unwrap();
    let code = exit_code_within_10s(removed, "removed member still running");
    assert_eq!(code, Some(0), "etcd exits 0 when its member is removed");
    assert!(c
        .log(3)
        .contains("the member has been permanently removed from the cluster"));
    // Restarted from its data dir, it knows it was removed and stops again
    // (the spawn replaces the log file, so the message is the restart's).
    let mut again = c.spawn_as(3, &initial, "existing");
    let code = exit_code_within_10s(&mut again, "a removed member restarted and kept running");
    assert_eq!(code, Some(0), "etcd exits 0 when its member is removed");
    assert!(c
        .log(3)
        .contains("the member has been permanently removed from the cluster"));
    again.kill9();
    let list = stdout(&common::ctl(&first, &["member", "list"], None));
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(!list.contains(&new_id));
    assert_eq!(
        stdout(&common::ctl(&first, &["put", "after", "remove"], None)),
        "OK\n"
    );
    // etcd's refusals: an unknown member, a bad ID, a taken peer URL.
    let o = common::ctl(&first, &["member", "remove", &new_id], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Error: etcdserver: member not found"));
    let taken = format!("--peer-urls=http://127.0.0.1:{}", c.peer_ports[0]);
    let o = common::ctl(&first, &["member", "add", "dup", &taken], None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Error: etcdserver: Peer URLs already exists"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = common::ctl(&first, &["member", "remove", "zz"], None);
    assert_eq!(o.status.code(), Some(128));
    assert!(String::from_utf8_lossy(&o.stderr).contains(
        "Error: bad member ID arg (strconv.ParseUint: parsing \"zz\": invalid syntax), expecting ID in Hex"
    ));
    // With node3 down, removing a live voter would leave too few started
    // members reachable, and a new voter could not be reached by all.
    c.members[2].as_mut().unwrap().kill9();
    std::thread::sleep(Duration::from_secs(3));
    let list = stdout(&common::ctl(&first, &["member", "list"], None));
    let node2 = list
        .lines()
        .find(|l| l.contains(", node2, "))
        .and_then(|l| l.split(", ").next())
        .unwrap()
        .to_string();
    let o = common::ctl(&first, &["member", "remove", &node2], None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "Error: etcdserver: re-configuration failed due to not enough started members"
        ),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let spare = format!("--peer-urls=http://127.0.0.1:{}", free_port());
    let o = common::ctl(&first, &["member", "add", "node5", &spare], None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Error: etcdserver: unhealthy cluster"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let list_after = stdout(&common::ctl(&first, &["member", "list"], None));
    assert_eq!(list_after, list, "a refused change changed nothing");
    // With --strict-reconfig-check=false the same add goes through (and,
    // with node3 still down, leaves 2 of 4 voters: why the check exists).
    c.members[0].as_mut().unwrap().terminate();
    c.extra.push("--strict-reconfig-check=false".into());
    let s = c.spawn(0);
    s.wait_ready();
    let o = s.ctl(&["member", "add", "node5", &spare]);
    assert!(
        stdout(&o).contains(" added to cluster "),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    c.members[0] = Some(s);
}

/// A member removed while it was down never applied its removal. Started
/// again from its data dir, it is told by its peers (etcd's peers answer it
/// 410 Gone) and stops as removed, exit 0, with etcd's message. The same
/// runs against the real etcd 3.4 when it is installed (as in CI).
#[test]
fn a_member_removed_while_down_is_told_by_its_peers() {
    removed_while_down(common::ETCD);
    if common::real_etcd_present(
        common::REAL_ETCD,
        "the removed-member comparison with etcd 3.4",
    ) {
        removed_while_down(common::REAL_ETCD);
    }
}

fn removed_while_down(bin: &'static str) {
    let mut c = Cluster::start_bin(bin, 3, &[]);
    c.client_ports.push(free_port());
    c.peer_ports.push(free_port());
    let first = c.members[0].as_ref().unwrap().endpoint();
    let (new_id, initial, _) = add_learner(&c, &first);
    let mut s = c.spawn_as(3, &initial, "existing");
    learner_serves(&s);
    s.kill9();
    let o = common::ctl(&first, &["member", "remove", &new_id], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut again = c.spawn_as(3, &initial, "existing");
    let what = format!("{bin}: a member removed while down kept running");
    let code = exit_code_within_10s(&mut again, &what);
    assert_eq!(
        code,
        Some(0),
        "{bin}: etcd exits 0 when its member is removed"
    );
    let log = c.log(3);
    assert!(
        log.contains("the member has been permanently removed from the cluster"),
        "{bin}: {log}"
    );
    let list = stdout(&common::ctl(&first, &["member", "list"], None));
    assert_eq!(list.lines().count(), 3, "{list}");
}

/// `etcd gateway start` in front of three members: clients that know only
/// the gateway keep working when a member dies (the gateway skips the
/// endpoint that refuses and marks it inactive), and a gateway that cannot
/// bind says so as etcd does.
#[test]
fn gateway_proxies_to_live_members() {
    let mut c = Cluster::start(3);
    let gw_port = free_port();
    let listen = format!("127.0.0.1:{gw_port}");
    let eps = c
        .client_ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let gateway = || {
        let mut cmd = std::process::Command::new(common::ETCD);
        cmd.args(["gateway", "start", "--listen-addr", &listen])
            .args(["--endpoints", &eps, "--retry-delay", "1s"]);
        cmd
    };
    let mut gw = gateway()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let via_gw = |args: &[&str]| common::ctl(&listen, args, None);
    let mut up = false;
    for _ in 0..50 {
        if via_gw(&["put", "g0", "v"]).status.success() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "the gateway never proxied a put");
    // A follower: the test is about the gateway, not about an election.
    let follower = (c.leader() + 1) % 3;
    let mut dead = c.members[follower].take().unwrap();
    dead.kill9();
    // Six connections: round robin reaches the dead member at least once.
    for i in 1..=6 {
        let o = via_gw(&["put", &format!("g{i}"), "v"]);
        assert!(o.status.success(), "put {i} through the gateway: {o:?}");
    }
    let o = via_gw(&["get", "g", "--prefix", "--keys-only"]);
    assert_eq!(stdout(&o).lines().filter(|l| !l.is_empty()).count(), 7);
    // A second gateway on the same address fails as etcd's does.
    let second = gateway().output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains(&format!("listen tcp {listen}: bind:")),
        "{second:?}"
    );
    gw.kill().unwrap();
    let out = gw.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("ready to proxy client requests"), "{log}");
    assert!(log.contains("deactivated endpoint"), "{log}");
}
