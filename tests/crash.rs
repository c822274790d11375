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
