//! `etcd grpc-proxy start` in front of an oxcd member, on loopback, driven
//! by our etcdctl: forwarding, the range cache, watch coalescing (one
//! upstream watch for two clients, released when they go), `--namespace`,
//! and the command line against the real etcd 3.4's.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, stdout, temp_dir, Server};

/// A running `etcd grpc-proxy start`; killed on drop.
struct Proxy {
    child: Child,
    addr: String,
}

impl Proxy {
    fn start(dir: &Path, member: &str, extra: &[&str]) -> Proxy {
        let addr = format!("127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.join(format!("proxy-{addr}.log"))).unwrap();
        let child = Command::new(common::ETCD)
            .current_dir(dir)
            .args(["grpc-proxy", "start", "--endpoints", member])
            .args(["--listen-addr", &addr])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Proxy { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if p.ctl(&["endpoint", "health"]).status.success() {
                return p;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the proxy on {} never served", p.addr);
    }

    fn ctl(&self, args: &[&str]) -> std::process::Output {
        common::ctl(&self.addr, args, None)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "etcdctl {args:?} through the proxy: {o:?}"
        );
        stdout(&o)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET's body.
fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// A sample's value in a `/metrics` text (0 when absent).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// `etcdctl watch` through `addr`, running until killed.
fn spawn_watch(addr: &str, args: &[&str]) -> Child {
    Command::new(common::ETCDCTL)
        .arg(format!("--endpoints={addr}"))
        .arg("watch")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn kill_and_read(mut c: Child) -> String {
    let _ = c.kill();
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = c.wait();
    out
}

#[test]
fn forwards_caches_and_coalesces_watches() {
    let dir = temp_dir("grpc-proxy");
    let member = Server::start(&dir, free_port(), &[]);
    let maddr = format!("127.0.0.1:{}", member.port);
    let proxy = Proxy::start(&dir, &member.endpoint(), &[]);
    let p = &proxy;

    // KV, txn, lease: forwarded as they are.
    assert_eq!(p.ok(&["put", "a", "1"]), "OK\n");
    assert_eq!(p.ok(&["get", "a"]), "a\n1\n");
    let txn = "value(\"a\") = \"1\"\n\nput a 2\nput b 9\n\n\n";
    let o = common::ctl(&p.addr, &["txn"], Some(txn));
    assert_eq!(stdout(&o), "SUCCESS\n\nOK\n\nOK\n", "{o:?}");
    assert_eq!(p.ok(&["del", "b"]), "1\n");
    let granted = p.ok(&["lease", "grant", "100"]);
    let id = granted.split_whitespace().nth(1).unwrap().to_string();
    p.ok(&["put", "leased", "x", "--lease", &id]);
    let ttl = p.ok(&["lease", "timetolive", &id, "--keys"]);
    assert!(ttl.contains("attached keys([leased])"), "{ttl}");
    assert!(p
        .ok(&["lease", "keep-alive", "--once", &id])
        .contains("keepalived with TTL(100)"));
    assert!(p.ok(&["lease", "list"]).contains(&id));
    assert!(p.ok(&["lease", "revoke", &id]).contains("revoked"));
    assert_eq!(p.ok(&["get", "leased"]), "");
    // MemberList answers the proxy itself (--advertise-client-url's default).
    let members = p.ok(&["member", "list"]);
    assert!(members.contains(", 127.0.0.1:23790, "), "{members}");
    assert!(p.ok(&["endpoint", "status"]).contains("3.4."));

    // The range cache: a serializable get is answered once from the
    // cluster, then from the cache; a put through the proxy invalidates it.
    let pm = || http_get(&p.addr, "/metrics");
    let (h0, m0) = (
        metric(&pm(), "etcd_grpc_proxy_cache_hits_total"),
        metric(&pm(), "etcd_grpc_proxy_cache_misses_total"),
    );
    assert_eq!(p.ok(&["get", "c", "--consistency=s"]), "");
    p.ok(&["put", "c", "v1"]);
    assert_eq!(p.ok(&["get", "c", "--consistency=s"]), "c\nv1\n");
    assert_eq!(p.ok(&["get", "c", "--consistency=s"]), "c\nv1\n");
    let after = pm();
    let (hits, misses) = (
        metric(&after, "etcd_grpc_proxy_cache_hits_total") - h0,
        metric(&after, "etcd_grpc_proxy_cache_misses_total") - m0,
    );
    eprintln!("cache: {hits} hits, {misses} misses over 3 serializable gets");
    assert_eq!((hits, misses), (1.0, 2.0));
    assert!(metric(&after, "etcd_grpc_proxy_cache_keys_total") >= 1.0);
    // The member's own figures ride along, as etcd's proxy serves them.
    assert_eq!(metric(&after, "etcd_server_has_leader"), 1.0);
    // A write that bypasses the proxy is not seen by serializable reads
    // (the cache's contract); a linearizable read refreshes the entry.
    member.ctl(&["put", "c", "direct"]);
    assert_eq!(p.ok(&["get", "c", "--consistency=s"]), "c\nv1\n");
    assert_eq!(p.ok(&["get", "c"]), "c\ndirect\n");
    assert_eq!(p.ok(&["get", "c", "--consistency=s"]), "c\ndirect\n");
    p.ok(&["put", "c", "v2"]);
    assert_eq!(p.ok(&["get", "c", "--consistency=s"]), "c\nv2\n");

    // Watch coalescing: two clients watching one key share one upstream
    // watch on the member.
    let mm = || http_get(&maddr, "/metrics");
    let watchers = || metric(&mm(), "etcd_debugging_mvcc_watcher_total");
    assert_eq!(watchers(), 0.0);
    let w1 = spawn_watch(&p.addr, &["w"]);
    wait_for("the first upstream watch", || watchers() == 1.0);
    let w2 = spawn_watch(&p.addr, &["w"]);
    wait_for("the second client to share it", || {
        metric(&pm(), "etcd_grpc_proxy_watchers_coalescing_total") == 1.0
    });
    assert_eq!(watchers(), 1.0, "two clients, one upstream watch");
    let e0 = metric(&pm(), "etcd_grpc_proxy_events_coalescing_total");
    p.ok(&["put", "w", "x"]);
    wait_for("the event shared", || {
        metric(&pm(), "etcd_grpc_proxy_events_coalescing_total") == e0 + 1.0
    });
    std::thread::sleep(Duration::from_millis(200));
    // A killed client leaves the shared watch to the other...
    assert_eq!(kill_and_read(w1), "PUT\nw\nx\n");
    wait_for("the coalescing count to drop", || {
        metric(&pm(), "etcd_grpc_proxy_watchers_coalescing_total") == 0.0
    });
    assert_eq!(watchers(), 1.0);
    p.ok(&["put", "w", "y"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(kill_and_read(w2), "PUT\nw\nx\nPUT\nw\ny\n");
    // ...and the last one out releases it on the member.
    wait_for("the upstream watch released", || watchers() == 0.0);

    // A watch from a past revision with prev_kv through the proxy.
    let w3 = spawn_watch(&p.addr, &["c", "--rev", "1", "--prev-kv"]);
    std::thread::sleep(Duration::from_millis(500));
    let seen = kill_and_read(w3);
    assert!(
        seen.starts_with("PUT\nc\nv1\nPUT\nc\nv1\nc\ndirect\n"),
        "{seen}"
    );
    wait_for("the past watch released", || watchers() == 0.0);

    // /health answers from the cluster.
    assert_eq!(http_get(&p.addr, "/health"), "{\"health\":\"true\"}");
}

#[test]
fn namespace_prefixes_keys_up_and_strips_them_down() {
    let dir = temp_dir("grpc-proxy-ns");
    let member = Server::start(&dir, free_port(), &[]);
    let proxy = Proxy::start(&dir, &member.endpoint(), &["--namespace", "ns/"]);
    let p = &proxy;
    member.ctl(&["put", "outside", "o"]);
    let w = spawn_watch(&p.addr, &["", "--prefix"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(p.ok(&["put", "k", "v", "--prev-kv"]), "OK\n");
    assert_eq!(p.ok(&["put", "k", "v2", "--prev-kv"]), "OK\nk\nv\n");
    assert_eq!(stdout(&member.ctl(&["get", "ns/k"])), "ns/k\nv2\n");
    assert_eq!(p.ok(&["get", "", "--prefix"]), "k\nv2\n");
    assert_eq!(p.ok(&["get", "", "--from-key"]), "k\nv2\n");
    let o = p.ctl(&["get", ""]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("key is not provided"),
        "{o:?}"
    );
    assert_eq!(p.ok(&["del", "", "--prefix"]), "1\n");
    assert_eq!(
        stdout(&member.ctl(&["get", "", "--prefix", "--keys-only"])),
        "outside\n\n"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(kill_and_read(w), "PUT\nk\nv\nPUT\nk\nv2\nDELETE\nk\n\n");
}

#[test]
fn command_line_as_etcd_3_4() {
    let run = |bin: &str, args: &[&str]| Command::new(bin).args(args).output().unwrap();
    let ours = run(common::ETCD, &["grpc-proxy"]);
    assert!(stdout(&ours).starts_with("grpc-proxy related command\n"));
    if common::real_etcd_present(common::REAL_ETCD, "grpc-proxy help comparison") {
        for args in [&["grpc-proxy"][..], &["grpc-proxy", "start", "--help"]] {
            let (a, b) = (run(common::ETCD, args), run(common::REAL_ETCD, args));
            assert_eq!(stdout(&a), stdout(&b), "{args:?}");
            assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        }
        let args = &["grpc-proxy", "start", "--bogus"];
        let (a, b) = (run(common::ETCD, args), run(common::REAL_ETCD, args));
        let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(text(&a), text(&b));
        assert_eq!(a.status.code(), b.status.code());
    }
    // A taken address fails with Go's text, before dialling anything.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = run(
        common::ETCD,
        &["grpc-proxy", "start", "--listen-addr", &addr],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).lines().last().unwrap(),
        format!("listen tcp {addr}: bind: address already in use")
    );
    let o = run(
        common::ETCD,
        &["grpc-proxy", "start", "--experimental-leasing-prefix", "l"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not built in oxcd's grpc-proxy"));
}
