//! Hostile clients on the client port of a real server process: garbage
//! bytes, HTTP/1 to the gRPC port, the HTTP/2 preface then a reset, a frame
//! cut in half, bytes trickled one a second, 1000 connections opened and
//! dropped, real etcdctl processes SIGKILLed mid-request, and a server under
//! a low open-files limit while 300 connections come and go.
//!
//! Throughout, a put and a get on a connection opened beforehand must keep
//! succeeding; once the clients are gone the server's descriptor count
//! (`/proc/PID/fd`) must be back to its baseline within a few seconds;
//! SIGTERM must then end the process within 3 s; after a restart every
//! acknowledged key must be there.
//!
//! The same scenario runs against the real etcd 3.4 when it is installed
//! (`/usr/bin/etcd`, or `OXCD_HOSTILE_SERVER=path`), so it checks etcd's
//! behaviour and not only ours. It requires it when
//! `OXCD_REQUIRE_DIFFERENTIAL=1` (CI).

// Real processes on real sockets: real time and threads are the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, shell_status, temp_dir, Server};
use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// How long the descriptor count may take to come back after the clients go.
const FD_SETTLE: Duration = Duration::from_secs(5);
/// How long SIGTERM may take to end the server.
const TERM_BOUND: Duration = Duration::from_secs(3);
/// One put or get of the checker may take this long under the abuse.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn hostile_clients_against_oxcd() {
    hostile_clients(common::ETCD);
}

#[test]
fn hostile_clients_against_etcd_34() {
    let bin = std::env::var("OXCD_HOSTILE_SERVER").unwrap_or_else(|_| "/usr/bin/etcd".into());
    if !std::path::Path::new(&bin).exists() {
        assert!(
            std::env::var("OXCD_REQUIRE_DIFFERENTIAL").is_err(),
            "{bin} is required (OXCD_REQUIRE_DIFFERENTIAL is set)"
        );
        eprintln!("hostile_clients_against_etcd_34: {bin} not installed, not run");
        return;
    }
    hostile_clients(&bin);
}

/// The etcdctl whose processes get killed: the real one if installed.
fn etcdctl() -> &'static str {
    if std::path::Path::new("/usr/bin/etcdctl").exists() {
        "/usr/bin/etcdctl"
    } else {
        common::ETCDCTL
    }
}

fn hostile_clients(bin: &str) {
    let dir = temp_dir("hostile");
    let port = free_port();
    let peer = free_port();
    let mut srv = Server::spawn_bin(bin, None, &dir, port, peer, &[]);
    srv.wait_ready();
    let pid = srv.child.id();
    let checker = Checker::start(srv.endpoint());
    checker.wait_for_progress();
    let baseline = settled_fd_count(pid);

    garbage(port);
    http1_to_grpc(port);
    preface_then_reset(port, 50);
    frame_cut_in_half(port);
    let trickler = std::thread::spawn(move || trickle(port, 6));
    open_and_drop(port, 1000);
    killed_etcdctls(&srv.endpoint(), 40);
    trickler.join().unwrap();

    checker.assert_progress("after the hostile clients");
    assert_fds_back(pid, baseline);
    let acked = checker.stop();
    assert_terminates(&mut srv);

    // Every acknowledged key survives a restart.
    let srv = Server::spawn_bin(bin, None, &dir, port, peer, &[]);
    srv.wait_ready();
    assert_all_present(&srv.endpoint(), &acked);
    drop(srv);
    low_fd_limit(bin);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server under an open-files limit of 256 while 300 connections at a
/// time come and go: it keeps serving, and serves new clients afterwards.
fn low_fd_limit(bin: &str) {
    let dir = temp_dir("hostile-nofile");
    let port = free_port();
    let mut srv = Server::spawn_bin(bin, Some(256), &dir, port, free_port(), &[]);
    srv.wait_ready();
    let pid = srv.child.id();
    let checker = Checker::start(srv.endpoint());
    checker.wait_for_progress();
    let baseline = settled_fd_count(pid);
    for _ in 0..3 {
        let held: Vec<TcpStream> = (0..300)
            .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
            .collect();
        for mut s in held.iter().take(150) {
            let _ = s.write_all(PREFACE);
        }
        std::thread::sleep(Duration::from_millis(500));
        drop(held);
        std::thread::sleep(Duration::from_millis(200));
    }
    checker.assert_progress("with 300 connections coming and going under ulimit -n 256");
    assert_fds_back(pid, baseline);
    // New clients are served again.
    let o = common::ctl(&srv.endpoint(), &["put", "after-flood", "x"], None);
    assert!(
        o.status.success(),
        "a new client after the flood: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let acked = checker.stop();
    assert_terminates(&mut srv);
    let srv = Server::spawn_bin(bin, None, &dir, port, free_port(), &[]);
    srv.wait_ready();
    assert_all_present(&srv.endpoint(), &acked);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Puts and gets on one connection opened before the abuse, recording
/// every acknowledged key and every failure.
struct Checker {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    acked: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Checker {
    fn start(endpoint: String) -> Checker {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let acked: Arc<Mutex<Vec<String>>> = Arc::default();
        let failures: Arc<Mutex<Vec<String>>> = Arc::default();
        let (s, d, a, f) = (stop.clone(), done.clone(), acked.clone(), failures.clone());
        let thread = std::thread::spawn(move || {
            let rt = common::runtime();
            rt.block_on(async move {
                let mut kv = KvClient::connect(endpoint).await.expect("checker connects");
                let mut i = 0u64;
                while !s.load(Ordering::Relaxed) {
                    let key = format!("ack-{i:06}");
                    let put = PutRequest {
                        key: key.clone().into_bytes(),
                        value: b"v".to_vec(),
                        ..Default::default()
                    };
                    match tokio::time::timeout(REQUEST_TIMEOUT, kv.put(put)).await {
                        Ok(Ok(_)) => a.lock().unwrap().push(key.clone()),
                        other => f.lock().unwrap().push(format!("put {key}: {other:?}")),
                    }
                    let get = RangeRequest {
                        key: key.clone().into_bytes(),
                        ..Default::default()
                    };
                    match tokio::time::timeout(REQUEST_TIMEOUT, kv.range(get)).await {
                        Ok(Ok(r)) if r.get_ref().count == 1 => {}
                        other => f.lock().unwrap().push(format!("get {key}: {other:?}")),
                    }
                    d.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        });
        Checker {
            stop,
            done,
            acked,
            failures,
            thread,
        }
    }

    fn wait_for_progress(&self) {
        let start = self.done.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.done.load(Ordering::Relaxed) < start + 3 {
            assert!(Instant::now() < deadline, "the checker makes no progress");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn assert_progress(&self, when: &str) {
        self.wait_for_progress();
        let failures = self.failures.lock().unwrap();
        assert!(failures.is_empty(), "{when}: {failures:?}");
    }

    fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let failures = self.failures.lock().unwrap();
        assert!(failures.is_empty(), "{failures:?}");
        let acked = self.acked.lock().unwrap().clone();
        assert!(acked.len() > 10, "only {} puts acknowledged", acked.len());
        acked
    }
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The descriptor count once it has stopped moving.
fn settled_fd_count(pid: u32) -> usize {
    let mut last = fd_count(pid);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        let now = fd_count(pid);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

fn assert_fds_back(pid: u32, baseline: usize) {
    let deadline = Instant::now() + FD_SETTLE;
    loop {
        let now = fd_count(pid);
        if now <= baseline {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "descriptors: {now} open {FD_SETTLE:?} after the clients left, {baseline} before"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_terminates(srv: &mut Server) {
    let start = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status();
    loop {
        if let Some(st) = srv.child.try_wait().unwrap() {
            // etcd re-raises SIGTERM after its cleanup.
            assert_eq!(shell_status(st), Some(143));
            return;
        }
        assert!(
            start.elapsed() < TERM_BOUND,
            "SIGTERM did not end the server within {TERM_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn assert_all_present(endpoint: &str, acked: &[String]) {
    let rt = common::runtime();
    let count = rt.block_on(async {
        let mut kv = KvClient::connect(endpoint.to_string()).await.unwrap();
        let r = RangeRequest {
            key: b"ack-".to_vec(),
            range_end: b"ack.".to_vec(),
            count_only: true,
            ..Default::default()
        };
        kv.range(r).await.unwrap().into_inner().count
    });
    assert!(
        count as usize >= acked.len(),
        "{} acknowledged puts, {count} keys after the restart",
        acked.len()
    );
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

/// Closes with RST instead of FIN (SO_LINGER with a zero timeout).
fn reset(s: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger` for the duration of the call.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

/// A deterministic byte stream (no RNG needed for garbage).
fn junk(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn garbage(port: u16) {
    for i in 0..20 {
        let mut s = connect(port);
        let _ = s.write_all(&junk(1000, i));
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
    }
    // The preface followed by garbage (what hung SIGTERM once).
    for i in 0..10 {
        let mut s = connect(port);
        let _ = s.write_all(PREFACE);
        let _ = s.write_all(&junk(1000, 100 + i));
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
    }
}

fn http1_to_grpc(port: u16) {
    for req in [
        "POST /etcdserverpb.KV/Range HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0",
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /health HTTP/1.0\r\n\r\n",
        "BREW /pot HTCPCP/1.0\r\n\r\n",
    ] {
        let mut s = connect(port);
        let _ = s.write_all(req.as_bytes());
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
    }
}

fn preface_then_reset(port: u16, n: usize) {
    let conns: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut s = connect(port);
            let _ = s.write_all(PREFACE);
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    conns.into_iter().for_each(reset);
}

/// A HEADERS frame announcing 100 bytes of which 50 arrive, then the close.
fn frame_cut_in_half(port: u16) {
    for close in [true, false] {
        let mut s = connect(port);
        let _ = s.write_all(PREFACE);
        let _ = s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
        let _ = s.write_all(&[0, 0, 100, 1, 4, 0, 0, 0, 1]); // HEADERS, 100 bytes
        let _ = s.write_all(&junk(50, 7));
        std::thread::sleep(Duration::from_millis(200));
        if close {
            drop(s);
        } else {
            reset(s);
        }
    }
}

/// The preface trickled one byte a second.
fn trickle(port: u16, seconds: usize) {
    let mut s = connect(port);
    for b in PREFACE.iter().take(seconds) {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn open_and_drop(port: u16, n: usize) {
    for i in 0..n {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        if i % 2 == 0 {
            reset(s);
        }
    }
}

/// Real etcdctl processes killed 30–70 ms into a request.
fn killed_etcdctls(endpoint: &str, n: u64) {
    for i in 0..n {
        let mut c = std::process::Command::new(etcdctl())
            .arg(format!("--endpoints={endpoint}"))
            .args(if i % 2 == 0 {
                vec!["get", "ack-", "--prefix"]
            } else {
                vec!["put", "killed", "value"]
            })
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(30 + (i * 7) % 41));
        let _ = c.kill();
        let _ = c.wait();
    }
}
