//! What an operator does to a running member: the backend quota and its
//! NOSPACE alarm, defragmentation, and the corruption checks.
// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;

/// The real etcdctl 3.4, which both servers must answer alike.
const REAL_ETCDCTL: &str = "/usr/bin/etcdctl";

fn run(ctl: &str, endpoint: &str, args: &[&str]) -> Output {
    ctl_bin(ctl, endpoint, args, None)
}

/// One command's outcome as a transcript line: the command, exit code,
/// stdout and stderr, with the member id and port made neutral.
fn line(args: &[&str], o: &Output, id: &str, port: u16) -> String {
    let text = format!(
        "$ etcdctl {}\n[{}] {}{}",
        args.join(" "),
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // The client's retry warnings carry a time and a client id: keep
    // their error only.
    let text: String = text
        .lines()
        .map(|l| match (l.find("{\"level\":"), l.find("\"error\":")) {
            (Some(from), Some(at)) => format!("{}<client warning {}\n", &l[..from], &l[at..]),
            _ => format!("{l}\n"),
        })
        .collect();
    let text = text.replace(&port.to_string(), "<PORT>");
    if id.is_empty() {
        text
    } else {
        text.replace(id, "<ID>")
    }
}

/// The member id as `alarm list` prints it (decimal).
fn member_id(ctl: &str, endpoint: &str) -> String {
    let o = run(ctl, endpoint, &["endpoint", "status", "-w", "json"]);
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    let at = s.find("\"member_id\":").expect("member_id") + "\"member_id\":".len();
    s[at..].chars().take_while(|c| c.is_ascii_digit()).collect()
}

/// The quota walk-through of etcd's maintenance guide, on a member started
/// by `spawn` with a 1 MB quota: fill it until NOSPACE, see the alarm,
/// reads and deletes and compaction still work, writes are refused; then
/// compact, defragment and disarm, and writes work again.
fn quota_transcript(ctl: &str, server: &Server) -> String {
    let ep = server.endpoint();
    let id = member_id(ctl, &ep);
    let mut out = Vec::new();
    let big = "x".repeat(100_000);
    let mut filled = None;
    for n in 0..100 {
        // Both servers count the backend's size at their 100 ms backend
        // commits, and check the quota twice: before proposing (which
        // raises NOSPACE) and when applying (which answers NOSPACE only).
        // A commit landing between the two checks of the put that crosses
        // the quota would answer it NOSPACE without the alarm, in etcd as
        // in oxcd; waiting out the batch interval lets each put see the
        // size of the ones before it, so the transcript is the same every
        // time.
        if n > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        let o = run(ctl, &ep, &["put", "key", &big]);
        if !o.status.success() {
            filled = Some((n, o));
            break;
        }
    }
    let (n, o) = filled.expect("the quota is reached");
    assert!(n >= 3, "the quota let only {n} puts through");
    out.push(line(&["put", "key", "<100 kB>"], &o, &id, server.port));
    let steps: &[&[&str]] = &[
        &["alarm", "list"],
        &["put", "key", "small"],
        &["get", "key", "--keys-only"],
        &["del", "missing"],
        &["lease", "grant", "60"],
        &["txn"],
    ];
    for args in steps {
        let o = if args == &["txn"] {
            ctl_bin(ctl, &ep, args, Some("\nput a b\n\n\n"))
        } else {
            run(ctl, &ep, args)
        };
        out.push(line(args, &o, &id, server.port));
    }
    // Compact to the current revision, defragment, disarm.
    let o = run(ctl, &ep, &["get", "key", "-w", "json"]);
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    let at = s.find("\"revision\":").unwrap() + "\"revision\":".len();
    let rev: String = s[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let o = run(ctl, &ep, &["compaction", &rev]);
    out.push(line(&["compaction", "<rev>"], &o, &id, server.port).replace(&rev, "<rev>"));
    for args in [
        &["defrag"][..],
        &["alarm", "disarm"],
        &["alarm", "list"],
        &["put", "key", "small"],
    ] {
        let o = run(ctl, &ep, args);
        out.push(line(args, &o, &id, server.port));
    }
    out.join("\n")
}

fn start(bin: &str, dir: &Path, extra: &[&str]) -> Server {
    let s = Server::spawn_bin(bin, None, dir, free_port(), free_port(), extra);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !run(REAL_ETCDCTL, &s.endpoint(), &["endpoint", "health"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "{bin} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

#[test]
fn quota_alarm_and_recovery_match_etcd() {
    if !real_etcd_present(REAL_ETCD, "quota differential")
        || !real_etcd_present(REAL_ETCDCTL, "quota differential")
    {
        return;
    }
    let quota = ["--quota-backend-bytes=1000000"];
    let dir = temp_dir("quota-etcd");
    let real = start(REAL_ETCD, &dir, &quota);
    let theirs = quota_transcript(REAL_ETCDCTL, &real);
    drop(real);
    let dir = temp_dir("quota-oxcd");
    let ours_server = start(ETCD, &dir, &quota);
    let ours = quota_transcript(REAL_ETCDCTL, &ours_server);
    println!("{ours}");
    assert_eq!(ours, theirs, "oxcd (left) and etcd 3.4 (right) differ");
    // Our etcdctl against oxcd tells the same story.
    drop(ours_server);
    let dir = temp_dir("quota-oxcd-ctl");
    let ours_server = start(ETCD, &dir, &quota);
    let both_ours = quota_transcript(ETCDCTL, &ours_server);
    assert_eq!(
        both_ours, theirs,
        "our etcdctl on oxcd (left) and etcd 3.4's on etcd (right)"
    );
    assert!(ours.contains("etcdserver: mvcc: database space exceeded"));
    assert!(ours.contains("alarm:NOSPACE"));
}

/// Defragmentation gives the space compaction freed back: the db size in
/// `endpoint status` falls to the size in use, and the data stays.
#[test]
fn defrag_gives_space_back() {
    let dir = temp_dir("defrag");
    let s = Server::start(&dir, free_port(), &[]);
    let ep = s.endpoint();
    let big = "y".repeat(50_000);
    for _ in 0..40 {
        assert!(s.ctl(&["put", "k", &big]).status.success());
    }
    let status = |s: &Server| -> (u64, u64) {
        // The sizes are the backend's, which commits every 100 ms (as
        // etcd's): read them once the last writes are in.
        std::thread::sleep(Duration::from_millis(300));
        let o = s.ctl(&["endpoint", "status", "-w", "json"]);
        let t = stdout(&o);
        let num = |field: &str| -> u64 {
            let at = t.find(field).unwrap() + field.len();
            t[at..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse()
                .unwrap()
        };
        (num("\"dbSize\":"), num("\"dbSizeInUse\":"))
    };
    let (size, in_use) = status(&s);
    assert!(size >= 2_000_000 && in_use >= 2_000_000, "{size} {in_use}");
    let o = run(REAL_ETCDCTL, &ep, &["get", "k", "-w", "json"]);
    let t = stdout(&o);
    let at = t.find("\"revision\":").unwrap() + "\"revision\":".len();
    let rev: String = t[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    assert!(s.ctl(&["compaction", &rev]).status.success());
    let (after_compact, in_use) = status(&s);
    assert_eq!(after_compact, size, "compaction alone does not shrink it");
    assert!(in_use < 200_000, "{in_use}");
    let snap = dir.join("default.etcd").join("member").join("snap");
    let disk_before = disk_bytes(&snap);
    let o = run(REAL_ETCDCTL, &ep, &["defrag"]);
    assert!(o.status.success(), "{o:?}");
    let (defragged, in_use2) = status(&s);
    let disk_after = disk_bytes(&snap);
    println!(
        "db size {size} -> compacted {after_compact} (in use {in_use}) -> defragmented {defragged}; \
         on disk {disk_before} -> {disk_after} bytes"
    );
    assert_eq!(defragged, in_use2);
    assert!(defragged < 200_000);
    assert!(
        disk_after < disk_before / 2,
        "the files shrink too: {disk_before} -> {disk_after}"
    );
    let o = s.ctl(&["get", "k", "--print-value-only"]);
    assert_eq!(stdout(&o).trim_end().len(), 50_000);
}

/// The bytes the files under `dir` take on disk.
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            disk_bytes(&e.path())
        } else {
            m.blocks() * 512
        };
    }
    total
}

/// The backend generations in a member's `snap` directory: `db`, or
/// `db.N` named by `db.current` (see `SledBackend`).
fn backend_generations(data_dir: &Path) -> Vec<String> {
    let snap = data_dir.join("member").join("snap");
    let mut names: Vec<String> = std::fs::read_dir(snap)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n == "db"
                || n.strip_prefix("db.")
                    .is_some_and(|r| r.parse::<u64>().is_ok())
        })
        .collect();
    names.sort();
    names
}

/// Defragmentation under writes, compactions and snapshot saves, with the
/// member killed (SIGKILL) just after a defragmentation starts, three
/// times: each restart serves every acknowledged write, and leaves one
/// backend generation on disk whatever the kill interrupted.
#[test]
fn defrag_under_writes_snapshots_and_kills_loses_no_acknowledged_write() {
    use oxcd::pb::etcdserverpb::{
        kv_client::KvClient, maintenance_client::MaintenanceClient, CompactionRequest,
        DefragmentRequest, PutRequest, RangeRequest,
    };
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    use std::sync::Arc;
    const CLIENTS: usize = 16;
    const SLOTS: usize = 200;
    let dir = temp_dir("defrag-kill");
    let data = dir.join("default.etcd");
    let (port, peer) = (free_port(), free_port());
    let rt = runtime();
    // (key) -> (last acknowledged i, last attempted i) of its writer.
    let mut written: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let check = |s: &Server, written: &BTreeMap<String, (i64, i64)>| {
        let ep = s.endpoint();
        let stored = rt.block_on(async {
            let mut kv = KvClient::connect(ep)
                .await
                .unwrap()
                .max_decoding_message_size(usize::MAX);
            kv.range(RangeRequest {
                key: b"w".to_vec(),
                range_end: b"x".to_vec(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .kvs
        });
        let stored: BTreeMap<String, i64> = stored
            .iter()
            .map(|kv| {
                let v = String::from_utf8_lossy(&kv.value);
                let i = v.split(' ').next().unwrap().parse().unwrap();
                (String::from_utf8_lossy(&kv.key).into_owned(), i)
            })
            .collect();
        for (key, (acked, tried)) in written {
            let got = stored.get(key).copied();
            if *acked >= 0 {
                assert!(
                    got.is_some_and(|i| i >= *acked && i <= *tried),
                    "{key}: acknowledged {acked}, tried up to {tried}, stored {got:?}"
                );
            }
        }
        stored.len()
    };
    let mut interrupted = 0;
    for round in 0..3u64 {
        let s = Server::spawn(&dir, port, peer, &[]);
        s.wait_ready();
        assert_eq!(
            backend_generations(&data).len(),
            1,
            "{:?}",
            backend_generations(&data)
        );
        let keys = check(&s, &written);
        println!("round {round}: {keys} keys served after the restart");
        let ep = s.endpoint();
        let stop = Arc::new(AtomicBool::new(false));
        let rev = Arc::new(AtomicI64::new(0));
        let writers: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (ep, stop, rev) = (ep.clone(), stop.clone(), rev.clone());
                rt.spawn(async move {
                    let mut kv = KvClient::connect(ep).await.unwrap();
                    let mut mine: BTreeMap<String, (i64, i64)> = BTreeMap::new();
                    let mut i = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("w{round}-{c:02}-{:03}", i as usize % SLOTS);
                        let slot = mine.entry(key.clone()).or_insert((-1, -1));
                        slot.1 = i;
                        let req = PutRequest {
                            key: key.into_bytes(),
                            value: format!("{i} {}", "v".repeat(1000)).into_bytes(),
                            ..Default::default()
                        };
                        match kv.put(req).await {
                            Ok(r) => {
                                slot.0 = i;
                                let r = r.into_inner().header.unwrap().revision;
                                rev.fetch_max(r, Ordering::Relaxed);
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                        i += 1;
                    }
                    mine
                })
            })
            .collect();
        let mut maintenance = rt.block_on(MaintenanceClient::connect(ep.clone())).unwrap();
        let mut kv = rt.block_on(KvClient::connect(ep.clone())).unwrap();
        let started = Instant::now();
        let mut defrags = 0;
        while started.elapsed() < Duration::from_secs(3) {
            let r = rev.load(Ordering::Relaxed) - 500;
            if r > 0 {
                let _ = rt.block_on(kv.compact(CompactionRequest {
                    revision: r,
                    physical: true,
                }));
            }
            rt.block_on(maintenance.defragment(DefragmentRequest {}))
                .unwrap();
            defrags += 1;
            if defrags % 2 == 0 {
                let file = dir.join(format!("save-{round}-{defrags}.db"));
                let o = s.ctl(&["snapshot", "save", file.to_str().unwrap()]);
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                let _ = std::fs::remove_file(file);
            }
        }
        // A defragmentation, and a SIGKILL a few milliseconds into it.
        let mut m = maintenance.clone();
        let pending = rt.spawn(async move { m.defragment(DefragmentRequest {}).await });
        std::thread::sleep(Duration::from_millis(5 + 15 * round));
        let mut s = s;
        s.kill9();
        stop.store(true, Ordering::Relaxed);
        let finished = rt.block_on(pending).unwrap().is_ok();
        if !finished {
            interrupted += 1;
        }
        let left = backend_generations(&data);
        println!(
            "round {round}: {defrags} defragmentations under load; killed with one {}; on disk: {left:?}",
            if finished { "finished" } else { "in flight" }
        );
        for w in writers {
            written.extend(rt.block_on(w).unwrap());
        }
    }
    let s = Server::spawn(&dir, port, peer, &[]);
    s.wait_ready();
    assert_eq!(backend_generations(&data).len(), 1);
    let keys = check(&s, &written);
    let acked = written.values().filter(|(a, _)| *a >= 0).count();
    println!("after the last kill: {keys} keys served, {acked} acknowledged; {interrupted} of 3 kills during a defragmentation");
    assert!(acked > 1000, "{acked}");
}

/// A three-member cluster on loopback, started with `extra`.
struct Three {
    dir: std::path::PathBuf,
    clients: Vec<u16>,
    peers: Vec<u16>,
    members: Vec<Option<Server>>,
}

impl Three {
    fn start(label: &str, extra: &[&str]) -> Three {
        let dir = temp_dir(label);
        let clients: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let peers: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut t = Three {
            dir,
            clients,
            peers,
            members: Vec::new(),
        };
        for i in 0..3 {
            let s = t.spawn(i, extra);
            t.members.push(Some(s));
        }
        for s in t.members.iter().flatten() {
            s.wait_ready();
        }
        t
    }

    fn spawn(&self, i: usize, extra: &[&str]) -> Server {
        let initial = (0..3)
            .map(|j| format!("n{j}=http://127.0.0.1:{}", self.peers[j]))
            .collect::<Vec<_>>()
            .join(",");
        let mut args = vec![
            format!("--name=n{i}"),
            format!("--data-dir={}", self.data_dir(i).display()),
            format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{}",
                self.peers[i]
            ),
            format!("--initial-cluster={initial}"),
            "--initial-cluster-token=ops".to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        Server::spawn(&self.dir, self.clients[i], self.peers[i], &args)
    }

    fn data_dir(&self, i: usize) -> std::path::PathBuf {
        self.dir.join(format!("n{i}"))
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("etcd-{}.log", self.clients[i])))
            .unwrap_or_default()
    }
}

impl Drop for Three {
    fn drop(&mut self) {
        self.members.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Changes one stored value of member `i`'s backend, offline: the
/// corruption a disk could cause, which raft cannot see.
fn corrupt_backend(dir: &Path) {
    use oxcd::storage::backend::{Backend, SledBackend};
    let db = dir.join("member").join("snap").join("db");
    let b = SledBackend::open(&db).unwrap();
    let mut pairs = b.dump().unwrap();
    let victim = pairs
        .iter_mut()
        .rev()
        .find(|p| p.key.first() == Some(&b'k') && p.key.last() != Some(&b't'))
        .expect("a stored revision");
    use prost::Message;
    let mut kv = oxcd::pb::mvccpb::KeyValue::decode(&victim.value[..]).unwrap();
    kv.value = b"flipped by the disk".to_vec();
    victim.value = kv.encode_to_vec();
    b.replace_all(pairs).unwrap();
}

#[test]
fn corrupted_member_is_caught_by_initial_and_periodic_checks() {
    let mut c = Three::start("corrupt", &[]);
    let ep0 = format!("http://127.0.0.1:{}", c.clients[0]);
    for i in 0..20 {
        assert!(ctl(&ep0, &["put", &format!("k{i}"), "v"], None)
            .status
            .success());
    }
    // Every member has applied the puts before member 2 stops.
    std::thread::sleep(Duration::from_millis(500));
    c.members[2].as_mut().unwrap().terminate();
    corrupt_backend(&c.data_dir(2));

    // The initial check: the member refuses to start.
    let mut s = c.spawn(2, &["--experimental-initial-corrupt-check"]);
    let started = Instant::now();
    let code = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break shell_status(st);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the corrupt member kept running:\n{}",
            c.log(2)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, Some(1), "{}", c.log(2));
    assert!(
        c.log(2).contains("found data inconsistency with peers"),
        "{}",
        c.log(2)
    );

    // The periodic check: without the initial check member 2 starts; the
    // leader, whichever it is, compares hashes every second and raises
    // CORRUPT.
    c.members.clear();
    for i in 0..3 {
        let s = c.spawn(i, &["--experimental-corrupt-check-time=1s"]);
        c.members.push(Some(s));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = run(alarm_ctl(), &ep0, &["alarm", "list"]);
        if stdout(&o).contains("alarm:CORRUPT") {
            // Member 0, which the text format leaves out.
            assert_eq!(stdout(&o), "alarm:CORRUPT \n");
            break;
        }
        assert!(Instant::now() < deadline, "no CORRUPT alarm:\n{}", c.log(0));
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = ctl(&ep0, &["put", "k", "v"], None);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("etcdserver: corrupt cluster"),
        "{o:?}"
    );
    // Reads are still served.
    assert!(ctl(&ep0, &["get", "k1"], None).status.success());
}

/// The real etcdctl when installed, else ours.
fn alarm_ctl() -> &'static str {
    if Path::new(REAL_ETCDCTL).exists() {
        REAL_ETCDCTL
    } else {
        ETCDCTL
    }
}

/// etcd's disaster recovery: with two of three members gone for good, the
/// survivor restarts with `--force-new-cluster` as a one-member cluster
/// that keeps every key, and takes writes again.
#[test]
fn force_new_cluster_recovers_a_lone_survivor() {
    let mut c = Three::start("force", &[]);
    let ep0 = format!("http://127.0.0.1:{}", c.clients[0]);
    for i in 0..50 {
        let o = ctl(&ep0, &["put", &format!("k{i}"), &format!("v{i}")], None);
        assert!(o.status.success());
    }
    for m in c.members.iter_mut().flatten() {
        m.terminate();
    }
    c.members.clear();
    let s = c.spawn(0, &["--force-new-cluster"]);
    s.wait_ready();
    let o = ctl(&ep0, &["member", "list"], None);
    let list = stdout(&o);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains(", started, n0, "), "{list}");
    let o = ctl(&ep0, &["get", "k", "--prefix", "--keys-only"], None);
    assert_eq!(stdout(&o).split_whitespace().count(), 50);
    assert!(ctl(&ep0, &["put", "after", "recovery"], None)
        .status
        .success());
    c.members.push(Some(s));
    // A second restart, without the flag, is the same one-member cluster.
    c.members[0].as_mut().unwrap().terminate();
    let s = c.spawn(0, &[]);
    s.wait_ready();
    let o = ctl(&ep0, &["get", "after", "--print-value-only"], None);
    assert_eq!(stdout(&o), "recovery\n");
    c.members[0] = Some(s);
}

/// `--auto-compaction-retention=2s` (periodic): the leader compacts to
/// the revision it noted two seconds earlier, so old revisions become
/// unreadable on their own, on oxcd as on etcd 3.4.
#[test]
fn periodic_auto_compaction_compacts_old_revisions() {
    let mut servers = vec![("oxcd", ETCD)];
    if real_etcd_present(REAL_ETCD, "auto compaction on etcd 3.4") {
        servers.push(("etcd 3.4", REAL_ETCD));
    }
    for (name, bin) in servers {
        let dir = temp_dir("autocompact");
        let s = start(bin, &dir, &["--auto-compaction-retention=2s"]);
        let ep = s.endpoint();
        for i in 0..5 {
            assert!(ctl(&ep, &["put", "k", &format!("v{i}")], None)
                .status
                .success());
        }
        // Wait for the first compaction (after one retention), then for
        // it to reach the puts' revisions.
        let deadline = Instant::now() + Duration::from_secs(20);
        let refused = loop {
            let o = ctl(&ep, &["get", "k", "--rev=2"], None);
            if !o.status.success() {
                break String::from_utf8_lossy(&o.stderr).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{name}: revision 2 never compacted"
            );
            std::thread::sleep(Duration::from_millis(250));
        };
        assert!(
            refused.contains("etcdserver: mvcc: required revision has been compacted"),
            "{name}: {refused}"
        );
        let o = ctl(&ep, &["get", "k", "--print-value-only"], None);
        assert_eq!(stdout(&o), "v4\n", "{name}");
        println!(
            "{name}: revision 2 compacted after {:?}",
            Instant::now() - (deadline - Duration::from_secs(20))
        );
    }
}
