//! Simulation smoke test: one member, concurrent clients, repeated power cuts.
//! Every put that was acknowledged must survive every crash (etcd's
//! durability guarantee: a response means the entry was fsynced).
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::runtime::Handle;
use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};
use oxcd_sim::cluster::{crash_and_restart, start_single};
use rand::Rng;

const CLIENTS: usize = 4;
const CRASHES: usize = 5;

#[madsim::test]
async fn acknowledged_puts_survive_crashes() {
    let handle = Handle::current();
    let member = start_single(&handle);
    let url = member.client_url();
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let client_node = handle
        .create_node()
        .name("client")
        .ip("10.0.0.100".parse().unwrap())
        .build();

    for round in 0..CRASHES {
        // Let the member come up, then write from several clients at once.
        madsim::time::sleep(Duration::from_millis(500)).await;
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (url, acked) = (url.clone(), acked.clone());
            tasks.push(client_node.spawn(async move {
                let Ok(mut kv) = KvClient::connect(url).await else {
                    return;
                };
                for i in 0..20 {
                    let key = format!("r{round}-c{c}-k{i}");
                    let value = format!("v{}", madsim::rand::thread_rng().gen::<u32>());
                    let req = PutRequest {
                        key: key.clone().into_bytes(),
                        value: value.clone().into_bytes(),
                        ..Default::default()
                    };
                    if kv.put(req).await.is_ok() {
                        acked.lock().unwrap().insert(key, value);
                    }
                }
            }));
        }
        // Cut the power at a random moment while the writes are in flight.
        let delay = madsim::rand::thread_rng().gen_range(1..200);
        madsim::time::sleep(Duration::from_millis(delay)).await;
        crash_and_restart(&handle, &member);
        for t in tasks {
            let _ = t.await;
        }
    }

    madsim::time::sleep(Duration::from_secs(1)).await;
    let want = acked.lock().unwrap().clone();
    let got = client_node
        .spawn(async move {
            let mut kv = KvClient::connect(url).await.expect("member is back");
            let resp = kv
                .range(RangeRequest {
                    key: vec![0],
                    range_end: vec![0],
                    ..Default::default()
                })
                .await
                .expect("range after recovery")
                .into_inner();
            resp.kvs
                .into_iter()
                .map(|kv| {
                    (
                        String::from_utf8(kv.key).unwrap(),
                        String::from_utf8(kv.value).unwrap(),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        })
        .await
        .unwrap();
    assert!(!want.is_empty(), "no put was ever acknowledged");
    for (k, v) in &want {
        assert_eq!(
            got.get(k),
            Some(v),
            "acknowledged put {k}={v} lost after a crash"
        );
    }
    println!(
        "acknowledged puts: {}, stored keys: {}, crashes: {CRASHES}",
        want.len(),
        got.len()
    );
}
