//! Scenario: the register workload against one member that is repeatedly
//! power-cut and restarted; then a liveness phase. Checks: linearizability
//! of every key's history and per-client revision monotonicity.
#![cfg(madsim)]
// Under madsim, `Instant::now` is the simulator's deterministic clock.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use madsim::runtime::Handle;
use madsim::time::Instant;
use oxcd_sim::checker::linearizability::{check_partitioned, register::Register, Verdict};
use oxcd_sim::checker::revisions;
use oxcd_sim::cluster::{crash_and_restart, start_single};
use oxcd_sim::workload::register::{RegisterClient, SharedHistory};
use rand::Rng;

const CLIENTS: usize = 5;
const OPS_PER_CLIENT: usize = 200;
const KEYS: usize = 3;
const STEP_BUDGET: u64 = 5_000_000;

#[madsim::test]
async fn register_linearizable_under_crashes() {
    let handle = Handle::current();
    let member = start_single(&handle);
    let url = member.client_url();
    let history = SharedHistory::default();
    let start = Instant::now();
    let client_node = handle
        .create_node()
        .name("clients")
        .ip("10.0.0.100".parse().unwrap())
        .build();
    madsim::time::sleep(Duration::from_millis(300)).await;

    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let (url, history) = (url.clone(), history.clone());
        tasks.push(client_node.spawn(async move {
            RegisterClient::new(id, url, KEYS, start, history)
                .run(OPS_PER_CLIENT)
                .await;
        }));
    }
    // Nemesis: power cuts at random moments while the clients run.
    let mut crashes = 0;
    while tasks.iter().any(|t| !t.is_finished()) && crashes < 12 {
        let pause = madsim::rand::thread_rng().gen_range(50..800);
        madsim::time::sleep(Duration::from_millis(pause)).await;
        crash_and_restart(&handle, &member);
        crashes += 1;
    }
    for t in tasks {
        t.await.unwrap();
    }

    // Liveness: with faults healed, every client completes an operation.
    let (url2, h2) = (url.clone(), history.clone());
    let live = client_node.spawn(async move {
        madsim::time::sleep(Duration::from_secs(1)).await;
        let before = h2.lock().unwrap().ops.len();
        let mut c = RegisterClient::new(CLIENTS, url2, KEYS, start, h2.clone());
        for _ in 0..10 {
            c.one().await;
        }
        let h = h2.lock().unwrap();
        h.ops[before..]
            .iter()
            .filter(|o| o.output.is_some())
            .count()
    });
    let completed = tokio::time::timeout(Duration::from_secs(30), live)
        .await
        .expect("liveness: the healed cluster must answer within 30 s")
        .unwrap();
    assert!(
        completed > 0,
        "liveness: no operation completed after healing"
    );

    let h = history.lock().unwrap();
    let unknown = h.ops.iter().filter(|o| o.output.is_none()).count();
    println!(
        "register: {} ops ({} unknown outcome), {crashes} crashes, {:.1} simulated s",
        h.ops.len(),
        unknown,
        start.elapsed().as_secs_f64()
    );
    if let Err((a, b)) = revisions::check(&h.revisions) {
        panic!(
            "client {} saw revision {} after {}",
            b.client, b.revision, a.revision
        );
    }
    match check_partitioned::<Register, _>(&h.ops, |i| i.key().to_string(), STEP_BUDGET) {
        Verdict::Ok => {}
        Verdict::Unknown => panic!("linearizability search exceeded its budget"),
        Verdict::Illegal(idx) => {
            let excerpt: Vec<_> = idx.iter().take(40).map(|&i| &h.ops[i]).collect();
            panic!("history is not linearizable; the key's operations:\n{excerpt:#?}");
        }
    }
}
