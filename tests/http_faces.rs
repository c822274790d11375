//! Resources of the HTTP faces: a watch through the JSON gateway or v2 holds
//! a watcher (and a stream) only while its client is connected; clients
//! that go away leave nothing behind.

// Real processes on real sockets: blocking clients and real time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{free_port, temp_dir, Server};

/// Sends `req` and reads until the response's head has come.
fn open(port: u16, req: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the response head");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    s
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `(v3 watch streams, v3 watchers, v2 watchers)` as the member reports them.
fn watching(port: u16) -> (u64, u64, u64) {
    let metrics = get(port, "/metrics");
    let gauge = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    let stats = get(port, "/v2/stats/store");
    let v2 = stats
        .split("\"watchers\":")
        .nth(1)
        .and_then(|r| r.trim_end_matches(['}', '\n']).parse().ok())
        .unwrap_or_else(|| panic!("no watchers in {stats}"));
    (
        gauge("etcd_debugging_mvcc_watch_stream_total"),
        gauge("etcd_debugging_mvcc_watcher_total"),
        v2,
    )
}

#[test]
fn watches_over_http_end_with_their_clients() {
    let dir = temp_dir("http-faces");
    let port = free_port();
    let srv = Server::start(&dir, port, &["--enable-v2"]);
    let body = r#"{"create_request":{"key":"Zm9v"}}"#;
    let gateway = format!(
        "POST /v3/watch HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let v2 = "GET /v2/keys/w?wait=true&stream=true HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(open(port, &gateway));
        clients.push(open(port, v2));
    }
    // The gateway's created answer comes after the head: wait for the count.
    let deadline = Instant::now() + Duration::from_secs(5);
    while watching(port) != (20, 20, 20) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(watching(port), (20, 20, 20));
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(5);
    while watching(port) != (0, 0, 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        watching(port),
        (0, 0, 0),
        "watchers left after their clients went away"
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
