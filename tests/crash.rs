//! Durability under SIGKILL: while concurrent clients put keys, the server is
//! killed with SIGKILL and restarted; every acknowledged put must be there.
//! A small `--snapshot-count` makes the server compact its WAL (an atomic
//! rewrite) many times per round, so kills land around compactions too.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{free_port, temp_dir, Server};
use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};

const CLIENTS: usize = 16;
const ROUNDS: usize = 3;
const SNAPSHOT_COUNT: &[&str] = &["--snapshot-count=1000"];

#[test]
fn acknowledged_puts_survive_sigkill() {
    let dir = temp_dir("crash");
    let port = free_port();
    let rt = common::runtime();
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    for round in 0..ROUNDS {
        let mut srv = Server::start(&dir, port, SNAPSHOT_COUNT);
        let ep = srv.endpoint();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (ep, acked, stop) = (ep.clone(), acked.clone(), stop.clone());
            tasks.push(rt.spawn(async move {
                let Ok(mut kv) = KvClient::connect(ep).await else {
                    return;
                };
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = format!("k-{round}-{c}-{i}");
                    let value = format!("v{i}");
                    let req = PutRequest {
                        key: key.clone().into_bytes(),
                        value: value.clone().into_bytes(),
                        ..Default::default()
                    };
                    match kv.put(req).await {
                        Ok(_) => {
                            acked.lock().unwrap().insert(key, value);
                        }
                        Err(_) => return,
                    }
                    i += 1;
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(1500));
        srv.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            let _ = rt.block_on(t);
        }
    }
    let srv = Server::start(&dir, port, SNAPSHOT_COUNT);
    let ep = srv.endpoint();
    let stored: BTreeMap<String, String> = rt.block_on(async move {
        let mut kv = KvClient::connect(ep).await.unwrap();
        let r = kv
            .range(RangeRequest {
                key: b"k-".to_vec(),
                range_end: b"k.".to_vec(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        r.kvs
            .into_iter()
            .map(|kv| {
                (
                    String::from_utf8(kv.key).unwrap(),
                    String::from_utf8(kv.value).unwrap(),
                )
            })
            .collect()
    });
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too few puts acknowledged: {}",
        acked.len()
    );
    let lost: Vec<_> = acked
        .iter()
        .filter(|(k, v)| stored.get(*k) != Some(v))
        .collect();
    eprintln!(
        "crash test: {} puts acknowledged over {ROUNDS} SIGKILLs, {} keys stored, {} lost",
        acked.len(),
        stored.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged puts lost: {:?}",
        &lost[..lost.len().min(10)]
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One v2 request over a fresh HTTP/1.1 connection: the status and body.
fn v2_http(port: u16, method: &str, path: &str, form: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1)?.to_string();
    Some((status, body))
}

/// The v2 store rides in the backend with the consistent index: v2 sets
/// acknowledged before a SIGKILL are there after the restart.
#[test]
// Blocking HTTP clients on threads of their own, against a real process.
#[allow(clippy::disallowed_methods)]
fn acknowledged_v2_sets_survive_sigkill() {
    let dir = temp_dir("crash-v2");
    let port = free_port();
    let flags = ["--enable-v2", "--snapshot-count=1000"];
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    for round in 0..ROUNDS {
        let mut srv = Server::start(&dir, port, &flags);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut clients = Vec::new();
        for c in 0..4 {
            let (acked, stop) = (acked.clone(), stop.clone());
            clients.push(std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let key = format!("k-{round}-{c}-{i}");
                    let path = format!("/v2/keys/crash/{key}");
                    match v2_http(port, "PUT", &path, &format!("value=v{i}")) {
                        Some((201, body)) if body.contains("\"action\":\"set\"") => {
                            acked.lock().unwrap().insert(key, format!("v{i}"));
                        }
                        _ => return,
                    }
                    i += 1;
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(1500));
        srv.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in clients {
            let _ = t.join();
        }
    }
    let srv = Server::start(&dir, port, &flags);
    let (status, body) = v2_http(port, "GET", "/v2/keys/crash?recursive=true", "").unwrap();
    assert_eq!(status, 200, "{body}");
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few v2 sets acknowledged: {}",
        acked.len()
    );
    let lost: Vec<_> = acked
        .iter()
        .filter(|(k, v)| !body.contains(&format!("\"key\":\"/crash/{k}\",\"value\":\"{v}\"")))
        .collect();
    eprintln!(
        "v2 crash test: {} sets acknowledged over {ROUNDS} SIGKILLs, {} lost",
        acked.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged v2 sets lost: {:?}",
        &lost[..lost.len().min(10)]
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
