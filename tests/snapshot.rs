//! `etcdctl snapshot save | status | restore` against etcd 3.4.23:
//!
//! * our `save` of a real etcd's snapshot: a file both etcdctls describe
//!   alike in every output format, and the same output and log lines;
//! * a real etcdctl's snapshot restored by ours into three data dirs, from
//!   which a three-member oxcd cluster serves every key at its revisions,
//!   its lease and a new write; our refusals (existing dir, bad or missing
//!   digest) are the real one's, exit codes too;
//! * an oxcd key space written as etcd's file (`snapshot::to_etcd_db`)
//!   passes the real `snapshot status` and restores with the real etcdctl
//!   into a real etcd that serves its keys at their revisions.
//!
//! Needs `/usr/bin/etcd` and `/usr/bin/etcdctl`: without them the tests
//! say they did not run, unless `OXCD_REQUIRE_DIFFERENTIAL=1` or `CI` is
//! set, where that fails them.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{free_port, real_etcd_present, temp_dir, Server, ETCD, ETCDCTL, REAL_ETCD};
use oxcd::pb::mvccpb::KeyValue;
use oxcd::pb::{etcdserverpb::Member, leasepb};
use oxcd::storage::backend::Pair;
use oxcd::storage::schema::{raw_writes, BackendOp};

const REAL_ETCDCTL: &str = "/usr/bin/etcdctl";

fn oracle(what: &str) -> bool {
    real_etcd_present(REAL_ETCD, what) && real_etcd_present(REAL_ETCDCTL, what)
}

/// Runs an etcdctl binary in `cwd`.
fn run(bin: &str, cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A zap log's lines without what changes from run to run (`ts`,
/// `took`), each as a sorted JSON object; other lines as they are.
fn log_lines(stderr: &[u8]) -> Vec<String> {
    text(stderr)
        .lines()
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("ts");
                m.remove("took");
                serde_json::Value::Object(m).to_string()
            }
            _ => l.to_string(),
        })
        .collect()
}

/// One member's flags for a cluster of `names` on `peers`.
struct Node {
    name: String,
    client: u16,
    peer: u16,
}

fn nodes(names: &[&str]) -> Vec<Node> {
    names
        .iter()
        .map(|n| Node {
            name: n.to_string(),
            client: free_port(),
            peer: free_port(),
        })
        .collect()
}

fn initial_cluster(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("{}=http://127.0.0.1:{}", n.name, n.peer))
        .collect::<Vec<_>>()
        .join(",")
}

/// Starts `bin` as member `n` of `cluster` on `data_dir` (no wait).
fn start(bin: &str, dir: &Path, n: &Node, cluster: &str, data_dir: &Path) -> Server {
    let peer_url = format!("http://127.0.0.1:{}", n.peer);
    let data_dir = data_dir.display().to_string();
    Server::spawn_bin(
        bin,
        None,
        dir,
        n.client,
        n.peer,
        &[
            "--name",
            &n.name,
            "--data-dir",
            &data_dir,
            "--initial-advertise-peer-urls",
            &peer_url,
            "--initial-cluster",
            cluster,
            "--initial-cluster-token",
            "snap-test",
        ],
    )
}

/// A real etcd with five keys (one overwritten, one deleted) and a lease.
fn real_etcd_with_data(dir: &Path) -> Server {
    let ns = nodes(&["e1"]);
    let srv = start(
        REAL_ETCD,
        dir,
        &ns[0],
        &initial_cluster(&ns),
        &dir.join("e1"),
    );
    srv.wait_ready();
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3"), ("a", "4"), ("d", "5")] {
        assert!(srv.ctl(&["put", k, v]).status.success());
    }
    assert!(srv.ctl(&["del", "c"]).status.success());
    let lease = text(&srv.ctl(&["lease", "grant", "600"]).stdout);
    let id = lease.split_whitespace().nth(1).unwrap().to_string();
    assert!(srv
        .ctl(&["put", "leased", "x", "--lease", &id])
        .status
        .success());
    srv
}

/// Every key's `(key, create, mod, version, value, lease)` and the
/// store's revision, as `get --prefix ""` shows them.
fn key_space(endpoint: &str) -> (i64, Vec<serde_json::Value>) {
    let o = common::ctl(endpoint, &["get", "", "--prefix", "-w", "json"], None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rev = j["header"]["revision"].as_i64().unwrap();
    let kvs = j["kvs"].as_array().cloned().unwrap_or_default();
    (rev, kvs)
}

/// A temp dir with a real etcd holding data in it; `None` (the test did
/// not run) without the oracle.
fn with_real_etcd(what: &str, label: &str) -> Option<(std::path::PathBuf, Server)> {
    if !oracle(what) {
        return None;
    }
    let dir = temp_dir(label);
    let srv = real_etcd_with_data(&dir);
    Some((dir, srv))
}

#[test]
fn our_save_makes_a_file_both_etcdctls_describe_alike() {
    let Some((dir, srv)) = with_real_etcd("snapshot save/status test", "snap-save") else {
        return;
    };
    let ep = srv.endpoint();
    let eps = format!("--endpoints={ep}");
    let ours = run(ETCDCTL, &dir, &[&eps, "snapshot", "save", "ours.db"]);
    let real = run(REAL_ETCDCTL, &dir, &[&eps, "snapshot", "save", "real.db"]);
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours.stderr));
    assert_eq!(text(&ours.stdout), "Snapshot saved at ours.db\n");
    assert_eq!(text(&real.stdout), "Snapshot saved at real.db\n");
    let rename = |lines: Vec<String>| -> Vec<String> {
        lines
            .iter()
            .map(|l| l.replace("ours.db", "real.db"))
            .collect()
    };
    // The same log lines but for the size, which differs by the time
    // each file was taken only if the server wrote in between.
    assert_eq!(rename(log_lines(&ours.stderr)), log_lines(&real.stderr));
    assert!(!dir.join("ours.db.part").exists());
    for file in ["ours.db", "real.db"] {
        for w in ["simple", "table", "json", "fields", "protobuf"] {
            let args = ["snapshot", "status", file, "-w", w];
            let a = run(ETCDCTL, &dir, &args);
            let b = run(REAL_ETCDCTL, &dir, &args);
            assert_eq!(
                (a.status.code(), text(&a.stdout), text(&a.stderr)),
                (b.status.code(), text(&b.stdout), text(&b.stderr)),
                "snapshot status {file} -w {w}"
            );
        }
    }
    // Asked of two endpoints, both refuse alike (etcdctl's ExitInterrupted).
    let two = format!("--endpoints={ep},{ep}");
    let a = run(ETCDCTL, &dir, &[&two, "snapshot", "save", "x.db"]);
    let b = run(REAL_ETCDCTL, &dir, &[&two, "snapshot", "save", "x.db"]);
    assert_eq!(
        (a.status.code(), text(&a.stdout), text(&a.stderr)),
        (b.status.code(), text(&b.stdout), text(&b.stderr))
    );
    assert_eq!(a.status.code(), Some(5));
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `snapshot restore <file>` of member `n` of `cluster` into `data`.
fn restore_args(file: &str, n: &Node, cluster: &str, data: &str) -> Vec<String> {
    let peer = format!("http://127.0.0.1:{}", n.peer);
    [
        "snapshot",
        "restore",
        file,
        "--name",
        &n.name,
        "--data-dir",
        data,
        "--initial-cluster",
        cluster,
        "--initial-cluster-token",
        "snap-test",
        "--initial-advertise-peer-urls",
        &peer,
    ]
    .map(String::from)
    .to_vec()
}

/// Starts an oxcd member on each restored data dir `<prefix><i>`, and
/// waits until all serve.
fn start_restored(dir: &Path, members: &[Node], cluster: &str, prefix: &str) -> Vec<Server> {
    let servers: Vec<Server> = members
        .iter()
        .enumerate()
        .map(|(i, n)| start(ETCD, dir, n, cluster, &dir.join(format!("{prefix}{i}"))))
        .collect();
    for s in &servers {
        s.wait_ready();
    }
    servers
}

/// `snapshot restore` by `bin`: exit code, stdout, and the last stderr
/// line (the error; the log lines before it carry timestamps).
fn restore_by(bin: &str, cwd: &Path, args: &[String]) -> (Option<i32>, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(bin, cwd, &args);
    let last = text(&o.stderr).lines().last().unwrap_or("").to_string();
    (o.status.code(), text(&o.stdout), last)
}

#[test]
fn a_real_snapshot_restores_into_a_three_member_oxcd_cluster() {
    let Some((dir, srv)) = with_real_etcd("snapshot restore test", "snap-restore") else {
        return;
    };
    let (want_rev, want_kvs) = key_space(&srv.endpoint());
    let eps = format!("--endpoints={}", srv.endpoint());
    let o = run(REAL_ETCDCTL, &dir, &[&eps, "snapshot", "save", "real.db"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    drop(srv);

    let members = nodes(&["m1", "m2", "m3"]);
    let cluster = initial_cluster(&members);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for (i, n) in members.iter().enumerate() {
        let args = |data: &str| restore_args("real.db", n, &cluster, data);
        let a = args(&format!("ours-{i}"));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(ETCDCTL, &dir, &a);
        assert!(o.status.success(), "{}", text(&o.stderr));
        ours.push(log_lines(&o.stderr));
        let b = args(&format!("real-{i}"));
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        let o = run(REAL_ETCDCTL, &dir, &b);
        assert!(o.status.success(), "{}", text(&o.stderr));
        theirs.push(log_lines(&o.stderr));
    }
    let renamed: Vec<Vec<String>> = ours
        .iter()
        .map(|ls| ls.iter().map(|l| l.replace("ours-", "real-")).collect())
        .collect();
    assert_eq!(renamed, theirs, "restore's log lines");

    // The same restore again: the data dir exists.
    let again = |data: &str, file: &str, extra: &[&str]| {
        let mut a = restore_args(file, &members[0], &cluster, data);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let a = restore_by(ETCDCTL, &dir, &again("ours-0", "real.db", &[]));
    let b = restore_by(REAL_ETCDCTL, &dir, &again("ours-0", "real.db", &[]));
    assert_eq!(a, b);
    assert_eq!(
        (a.0, a.2.as_str()),
        (Some(1), "Error: data-dir \"ours-0\" exists")
    );
    // A wrong digest, and none at all: refused with etcd's words.
    let file = std::fs::read(dir.join("real.db")).unwrap();
    let mut bad = file.clone();
    let n = bad.len();
    bad[n - 40] ^= 0x40;
    std::fs::write(dir.join("bad.db"), &bad).unwrap();
    std::fs::write(dir.join("bare.db"), &file[..n - 32]).unwrap();
    for f in ["bad.db", "bare.db"] {
        let a = restore_by(ETCDCTL, &dir, &again(&format!("x-ours-{f}"), f, &[]));
        let b = restore_by(REAL_ETCDCTL, &dir, &again(&format!("x-real-{f}"), f, &[]));
        assert_eq!(a, b, "restore of {f}");
        assert_eq!(a.0, Some(1));
        // With --skip-hash-check both take it.
        let skip = ["--skip-hash-check"];
        let a = restore_by(ETCDCTL, &dir, &again(&format!("s-ours-{f}"), f, &skip));
        let b = restore_by(REAL_ETCDCTL, &dir, &again(&format!("s-real-{f}"), f, &skip));
        assert_eq!((a.0, b.0), (Some(0), Some(0)), "{a:?} {b:?}");
    }

    // The three oxcd members start from the restored dirs.
    let servers = start_restored(&dir, &members, &cluster, "ours-");
    for s in &servers {
        let (rev, kvs) = key_space(&s.endpoint());
        assert_eq!((rev, &kvs), (want_rev, &want_kvs), "member {}", s.port);
    }
    let leases = text(&servers[0].ctl(&["lease", "list"]).stdout);
    assert!(leases.starts_with("found 1 leases"), "{leases}");
    let list = text(&servers[1].ctl(&["member", "list"]).stdout);
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(servers[1].ctl(&["put", "new", "v"]).status.success());
    let (rev, _) = key_space(&servers[2].endpoint());
    assert_eq!(rev, want_rev + 1);
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An oxcd key space: puts and a delete at their revisions, a lease, a
/// member, the cluster version, the consistent index.
fn oxcd_pairs() -> Vec<Pair> {
    let mut ops = Vec::new();
    let puts = [("k1", "v1", 2), ("k2", "v2", 3), ("k1", "v3", 4)];
    for (i, (k, v, rev)) in puts.iter().enumerate() {
        let create = if i == 2 { 2 } else { *rev };
        ops.push(BackendOp::PutRev {
            rev: oxcd::mvcc::Revision::new(*rev, 0),
            tombstone: false,
            kv: KeyValue {
                key: k.as_bytes().to_vec(),
                value: v.as_bytes().to_vec(),
                create_revision: create,
                mod_revision: *rev,
                version: if i == 2 { 2 } else { 1 },
                lease: 0,
            },
        });
    }
    ops.push(BackendOp::PutRev {
        rev: oxcd::mvcc::Revision::new(5, 0),
        tombstone: true,
        kv: KeyValue {
            key: b"k2".to_vec(),
            mod_revision: 5,
            ..Default::default()
        },
    });
    ops.push(BackendOp::PutRev {
        rev: oxcd::mvcc::Revision::new(6, 0),
        tombstone: false,
        kv: KeyValue {
            key: b"leased".to_vec(),
            value: b"x".to_vec(),
            create_revision: 6,
            mod_revision: 6,
            version: 1,
            lease: 0x1234,
        },
    });
    ops.push(BackendOp::PutLease(leasepb::Lease {
        id: 0x1234,
        ttl: 600,
        remaining_ttl: 0,
    }));
    ops.push(BackendOp::SetMember(Member {
        id: 0xabc,
        name: "old".into(),
        peer_ur_ls: vec!["http://127.0.0.1:1".into()],
        client_ur_ls: vec!["http://127.0.0.1:2".into()],
        is_learner: false,
    }));
    ops.push(BackendOp::SetClusterVersion("3.4.0".into()));
    ops.push(BackendOp::SetStorageVersion);
    let mut pairs: Vec<Pair> = raw_writes(&ops, 42)
        .into_iter()
        .map(|(key, v)| Pair {
            key,
            value: v.unwrap(),
        })
        .collect();
    pairs.sort_by(|a, b| a.key.cmp(&b.key));
    pairs
}

#[test]
fn an_oxcd_key_space_restores_into_a_real_etcd() {
    if !oracle("to_etcd_db restore test") {
        return;
    }
    let dir = temp_dir("snap-to-etcd");
    let db = oxcd::snapshot::to_etcd_db(&oxcd_pairs());
    let mut file = db.clone();
    file.extend(oxcd::snapshot::sha256_trailer(&db));
    std::fs::write(dir.join("oxcd.db"), &file).unwrap();
    for w in ["simple", "json"] {
        let args = ["snapshot", "status", "oxcd.db", "-w", w];
        let a = run(ETCDCTL, &dir, &args);
        let b = run(REAL_ETCDCTL, &dir, &args);
        assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
        assert_eq!(
            (a.status.code(), text(&a.stdout), text(&a.stderr)),
            (b.status.code(), text(&b.stdout), text(&b.stderr))
        );
    }
    let ns = nodes(&["r1"]);
    let (n, cluster) = (&ns[0], initial_cluster(&ns));
    let args = restore_args("oxcd.db", n, &cluster, "r1.etcd");
    let o = run(
        REAL_ETCDCTL,
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let srv = start(REAL_ETCD, &dir, n, &cluster, &dir.join("r1.etcd"));
    srv.wait_ready();
    let (rev, kvs) = key_space(&srv.endpoint());
    assert_eq!(rev, 6);
    let got: Vec<(String, i64, i64, i64)> = kvs
        .iter()
        .map(|kv| {
            let key = kv["key"].as_str().unwrap().to_string();
            let n = |f: &str| kv[f].as_i64().unwrap_or(0);
            (key, n("create_revision"), n("mod_revision"), n("version"))
        })
        .collect();
    // Keys are base64: k1 = "azE=", leased = "bGVhc2Vk".
    assert_eq!(
        got,
        [
            ("azE=".to_string(), 2, 4, 2),
            ("bGVhc2Vk".to_string(), 6, 6, 1)
        ]
    );
    let leases = text(&srv.ctl(&["lease", "list"]).stdout);
    assert_eq!(leases, "found 1 leases\n0000000000001234\n");
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15's acceptance: `snapshot save` from an oxcd member while 64
/// clients write; the file is restored into a new three-member cluster
/// that holds exactly the writes at or below the file's revision, each
/// acknowledged one with its value and revision; the real etcdctl's
/// `snapshot status` of the file agrees with ours.
#[test]
fn a_snapshot_saved_under_load_restores_every_acknowledged_write() {
    use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const CLIENTS: usize = 64;
    let dir = temp_dir("snap-load");
    let src_nodes = nodes(&["src"]);
    let src = start(
        ETCD,
        &dir,
        &src_nodes[0],
        &initial_cluster(&src_nodes),
        &dir.join("src"),
    );
    src.wait_ready();
    let ep = src.endpoint();
    let stop = Arc::new(AtomicBool::new(false));
    let rt = common::runtime();
    let writers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (ep, stop) = (ep.clone(), stop.clone());
            rt.spawn(async move {
                let mut kv = KvClient::connect(ep).await.unwrap();
                let mut acked = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("w{c:02}-{i:05}");
                    let req = PutRequest {
                        key: key.clone().into_bytes(),
                        value: format!("v{i}").into_bytes(),
                        ..Default::default()
                    };
                    if let Ok(r) = kv.put(req).await {
                        acked.push((key, r.into_inner().header.unwrap().revision));
                    }
                    i += 1;
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let eps = format!("--endpoints={ep}");
    let o = run(ETCDCTL, &dir, &[&eps, "snapshot", "save", "load.db"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "Snapshot saved at load.db\n");
    std::thread::sleep(std::time::Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(String, i64)> = writers
        .into_iter()
        .flat_map(|w| rt.block_on(w).unwrap())
        .collect();
    drop(src);

    let o = run(
        ETCDCTL,
        &dir,
        &["snapshot", "status", "load.db", "-w", "json"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let file_rev = st["revision"].as_i64().unwrap();
    if oracle("snapshot status of an oxcd file") {
        for w in ["simple", "table", "json", "fields"] {
            let args = ["snapshot", "status", "load.db", "-w", w];
            let (a, b) = (run(ETCDCTL, &dir, &args), run(REAL_ETCDCTL, &dir, &args));
            assert_eq!(
                (text(&a.stdout), a.status.code()),
                (text(&b.stdout), b.status.code()),
                "-w {w}"
            );
        }
    }
    let before: Vec<&(String, i64)> = acked.iter().filter(|(_, r)| *r <= file_rev).collect();
    let after = acked.len() - before.len();
    assert!(
        before.len() > 100 && after > 100,
        "the save ran under load: {} writes before revision {file_rev}, {after} after",
        before.len()
    );

    let members = nodes(&["r1", "r2", "r3"]);
    let cluster = initial_cluster(&members);
    for (i, n) in members.iter().enumerate() {
        let a = restore_args("load.db", n, &cluster, &format!("r{i}"));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(ETCDCTL, &dir, &a);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let servers = start_restored(&dir, &members, &cluster, "r");
    let (rev, kvs) = key_space(&servers[2].endpoint());
    assert_eq!(rev, file_rev);
    let stored: std::collections::HashMap<String, i64> = kvs
        .iter()
        .map(|kv| {
            let key = String::from_utf8(base64_decode(kv["key"].as_str().unwrap())).unwrap();
            (key, kv["mod_revision"].as_i64().unwrap())
        })
        .collect();
    for (key, r) in &before {
        assert_eq!(stored.get(key), Some(r), "{key}, acknowledged at {r}");
    }
    assert!(stored.values().all(|r| *r <= file_rev));
    // The other way: the real etcdctl restores oxcd's file into a real
    // etcd, which serves the same key space at the same revision.
    if oracle("an oxcd snapshot restored into etcd 3.4") {
        let real = nodes(&["e1"]);
        let a = restore_args("load.db", &real[0], &initial_cluster(&real), "real-r");
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(REAL_ETCDCTL, &dir, &a);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let e = start(
            REAL_ETCD,
            &dir,
            &real[0],
            &initial_cluster(&real),
            &dir.join("real-r"),
        );
        e.wait_ready();
        assert_eq!(key_space(&e.endpoint()), (rev, kvs.clone()));
    }
    println!(
        "{CLIENTS} clients: {} writes acknowledged, {} at or below the file's revision {file_rev} all restored, {after} after it absent",
        acked.len(),
        before.len()
    );
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Standard base64 (etcdctl's JSON shows keys so).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').map(val).collect();
    bytes
        .chunks(4)
        .flat_map(|c| {
            let n = c.iter().fold(0u32, |n, v| (n << 6) | u32::from(*v)) << (6 * (4 - c.len()));
            let b = n.to_be_bytes();
            b[1..c.len()].to_vec()
        })
        .collect()
}
