//! Start-up and refusals as etcd 3.4: the lines supervising tools wait for,
//! listener failures with Go's message before the data dir is touched,
//! refused subcommands and flags, and grpc-go's keepalive enforcement.
//! The refusals and the keepalive policy are checked against the real etcd
//! 3.4 too when it is installed.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, shell_status, temp_dir, Server, ETCD};

const REAL_ETCD: &str = "/usr/bin/etcd";

/// The servers a behaviour is checked on: ours, and the real one if present.
fn servers() -> Vec<&'static str> {
    let mut s = vec![ETCD];
    if std::path::Path::new(REAL_ETCD).exists() {
        s.push(REAL_ETCD);
    } else {
        assert!(
            std::env::var("OXCD_REQUIRE_DIFFERENTIAL").is_err(),
            "{REAL_ETCD} is required"
        );
    }
    s
}

/// Runs `bin` with `args` in `dir` until it exits (at most 20 s).
fn run_to_exit(bin: &str, dir: &std::path::Path, args: &[String]) -> (Option<i32>, String) {
    let mut child = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} {args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output { status, stderr, .. } = child.wait_with_output().unwrap();
    (
        shell_status(status),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn member_flags(client: u16, peer: u16) -> Vec<String> {
    vec![
        format!("--listen-client-urls=http://127.0.0.1:{client}"),
        format!("--advertise-client-urls=http://127.0.0.1:{client}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
    ]
}

#[test]
fn start_up_lines_come_as_etcds() {
    let dir = temp_dir("startup-lines");
    let port = free_port();
    let srv = Server::start(&dir, port, &[]);
    let log_path = dir.join(format!("etcd-{port}.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        if log.contains("enabled capabilities for version 3.4") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"))
    };
    assert!(at("listening for peers on 127.0.0.1:") < at("published {Name:default ClientURLs:["));
    assert!(at("published {Name:default") < at("I | embed: ready to serve client requests"));
    at("N | embed: serving insecure client requests on 127.0.0.1:");
    at("I | etcdserver: setting up the initial cluster version to 3.4");
    at("N | etcdserver/membership: set the initial cluster version to 3.4");
    at("I | etcdserver/api: enabled capabilities for version 3.4");
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A port in use ends start-up with Go's message and exit 1, before the
/// data dir is created (peer listeners are bound first, as etcd's).
#[test]
fn a_port_in_use_fails_like_etcd() {
    for bin in servers() {
        for busy in ["client", "peer"] {
            let dir = temp_dir("port-in-use");
            let holder = TcpListener::bind("127.0.0.1:0").unwrap();
            let taken = holder.local_addr().unwrap().port();
            let (client, peer) = if busy == "client" {
                (taken, free_port())
            } else {
                (free_port(), taken)
            };
            let (code, stderr) = run_to_exit(bin, &dir, &member_flags(client, peer));
            assert_eq!(code, Some(1), "{bin}, {busy} port in use: {stderr}");
            assert!(
                stderr.contains(&format!(
                    "C | etcdmain: listen tcp 127.0.0.1:{taken}: bind: address already in use"
                )),
                "{bin}, {busy}: {stderr}"
            );
            assert!(
                !dir.join("default.etcd").exists(),
                "{bin} created its data dir"
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Positional arguments, proxies that cannot listen and TLS certificates
/// that cannot be read end start-up with exit 1 (etcd 3.4 exits 1 on these
/// too).
#[test]
fn refusals_end_start_up() {
    let dir = temp_dir("refusals");
    let (code, stderr) = run_to_exit(ETCD, &dir, &["foo".to_string()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains(
        "E | etcdmain: error verifying flags, 'foo' is not a valid flag. See 'etcd --help'."
    ));
    // The proxies' subcommands exist; a listen address they cannot use ends
    // them with exit 1 on both servers.
    for bin in servers() {
        for sub in ["gateway", "grpc-proxy"] {
            let args = [sub, "start", "--listen-addr", "nope"].map(String::from);
            let (code, _) = run_to_exit(bin, &dir, &args);
            assert_eq!(code, Some(1), "{bin} {sub} with a bad --listen-addr");
        }
    }
    // An https:// URL whose certificate cannot be read (etcd 3.4 exits 1
    // with the same open error, though only once it has published).
    let port = free_port();
    let tls = [
        format!("--listen-client-urls=https://127.0.0.1:{port}"),
        format!("--advertise-client-urls=https://127.0.0.1:{port}"),
        format!("--listen-peer-urls=http://127.0.0.1:{}", free_port()),
        "--cert-file=/nonexistent.pem".to_string(),
        "--key-file=/nonexistent.key".to_string(),
    ];
    let (code, stderr) = run_to_exit(ETCD, &dir, &tls);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("open /nonexistent.pem: no such file or directory"),
        "{stderr}"
    );
    let port = free_port();
    let both = [
        format!("--listen-client-urls=http://127.0.0.1:{port},https://127.0.0.1:{port}"),
        format!("--listen-peer-urls=http://127.0.0.1:{}", free_port()),
    ];
    for bin in servers() {
        let (code, _) = run_to_exit(bin, &dir, &both);
        assert_eq!(code, Some(1), "{bin}: one port as http and https");
    }
    assert!(!dir.join("default.etcd").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// kubeadm passes `--experimental-initial-corrupt-check=true` to every
/// member: it must start, having checked (alone, it has no peer to differ
/// from).
#[test]
fn kubeadms_flags_start_a_member() {
    let dir = temp_dir("kubeadm");
    let port = free_port();
    let srv = Server::start(
        &dir,
        port,
        &[
            "--experimental-initial-corrupt-check=true",
            "--snapshot-count=10000",
            "--grpc-keepalive-min-time=1s",
        ],
    );
    let log = std::fs::read_to_string(dir.join(format!("etcd-{port}.log"))).unwrap();
    assert!(
        log.contains("initial corruption checking passed; no corruption"),
        "{log}"
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const GOAWAY: u8 = 7;
const PING: u8 = 6;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// grpc-go's keepalive enforcement (`--grpc-keepalive-min-time`): a client
/// that pings without a stream open more than twice is sent GOAWAY
/// ENHANCE_YOUR_CALM "too_many_pings" and cut off.
#[test]
fn too_many_pings_are_refused_as_grpc_go_does() {
    for bin in servers() {
        let dir = temp_dir("pings");
        let (client, peer) = (free_port(), free_port());
        let mut srv = Server::spawn_bin(bin, None, &dir, client, peer, &[]);
        srv.wait_ready();
        let mut s = TcpStream::connect(("127.0.0.1", client)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(PREFACE).unwrap();
        s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap(); // SETTINGS
        for i in 0..5u8 {
            let mut ping = vec![0, 0, 8, PING, 0, 0, 0, 0, 0];
            ping.extend_from_slice(&[i; 8]);
            if s.write_all(&ping).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let goaway = read_goaway(&mut s);
        assert_eq!(
            goaway,
            Some((ENHANCE_YOUR_CALM, b"too_many_pings".to_vec())),
            "{bin}"
        );
        assert_eq!(srv.terminate(), Some(143));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Reads frames until a GOAWAY: its error code and debug data.
fn read_goaway(s: &mut TcpStream) -> Option<(u32, Vec<u8>)> {
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).ok()?;
        if head[3] == GOAWAY && len >= 8 {
            let code = u32::from_be_bytes(payload[4..8].try_into().unwrap());
            return Some((code, payload[8..].to_vec()));
        }
    }
}
