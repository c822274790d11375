//! Scenarios over the whole KV API ([`crate::workload::kv`]), checked by
//! the revision-driven linearizability checker ([`crate::checker::kv`])
//! against the reference model.
//!
//! What they can find: any response field that differs from etcd's
//! semantics (ranges in all their forms, put and delete results, txn
//! compares and branches, compaction and its errors), a write lost or
//! applied twice across crashes, a revision skipped or reused, replicas that
//! diverge (`kv_3_members`), and stale linearizable reads served by a member
//! that lost leadership or skipped ReadIndex (`kv_3_members`: only several
//! members can serve stale data). What they cannot: lease and watch
//! semantics (not built yet), and anything about requests the workload does
//! not send (auth, maintenance).

use std::time::Duration;

use madsim::runtime::Handle;
use madsim::time::Instant;
use rand::Rng;

use crate::checker::kv::{Decided, KvOp};
use crate::cluster::{crash_and_restart, start_single};
use crate::coverage;
use crate::scenario::{clients_under_faults, liveness, replicas_agree, ClusterRun};
use crate::workload::kv::{KvWorkloadClient, SharedHistory};

/// Placements the checker may try for lost answers before giving up.
const PLACEMENT_BUDGET: u64 = 1_000_000;
/// Client id of the liveness phase's fresh client.
const LIVENESS_CLIENT: usize = 1000;

/// The whole KV API against one member that is repeatedly power-cut.
pub async fn kv_under_crashes() -> Result<String, String> {
    const CLIENTS: usize = 4;
    const OPS_PER_CLIENT: usize = 150;
    const CRASHES_MAX: usize = 10;
    let handle = Handle::current();
    let member = start_single(&handle);
    let urls = vec![member.client_url()];
    let history = SharedHistory::default();
    #[allow(clippy::disallowed_methods)] // madsim's simulated clock
    let start = Instant::now();
    let client_node = handle
        .create_node()
        .name("clients")
        .ip("10.0.0.100".parse().expect("ip"))
        .build();
    madsim::time::sleep(Duration::from_millis(300)).await;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let mut c = KvWorkloadClient::new(id, urls.clone(), start, history.clone());
            client_node.spawn(async move { c.run(OPS_PER_CLIENT).await })
        })
        .collect();
    let mut crashes = 0;
    while tasks.iter().any(|t| !t.is_finished()) && crashes < CRASHES_MAX {
        let pause = madsim::rand::thread_rng().gen_range(50..800);
        madsim::time::sleep(Duration::from_millis(pause)).await;
        crash_and_restart(&handle, &member);
        coverage::hit("fault.crash");
        crashes += 1;
    }
    for t in tasks {
        t.await.map_err(|e| format!("client task: {e}"))?;
    }
    liveness(
        &client_node,
        Duration::from_secs(1),
        Duration::from_secs(30),
        probe(urls, start, history.clone()),
    )
    .await?;
    let checked = check_history(&history)?;
    Ok(format!(
        "kv: {checked}, {crashes} crashes, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}

/// The whole KV API against an `n`-member cluster under the random faults;
/// then every fault is healed, the cluster must serve again, the history
/// must be linearizable and the replicas must agree.
pub async fn kv_in_cluster(n: usize) -> Result<String, String> {
    kv_run(n, false).await
}

/// `kv_3_members` with an operator at work: after each fault it
/// defragments a member or saves a snapshot from one, and at the end the
/// last snapshot is restored into a new member ([`crate::ops_scenario`]).
pub async fn ops_3_members() -> Result<String, String> {
    kv_run(3, true).await
}

async fn kv_run(n: usize, operate: bool) -> Result<String, String> {
    const CLIENTS: usize = 4;
    const OPS_PER_CLIENT: usize = 120;
    const FAULTS_MAX: usize = 10;
    let ClusterRun {
        handle,
        members,
        urls,
        start,
        client_node,
    } = ClusterRun::start_with(n, &[]).await;
    let history = SharedHistory::default();
    let client = |id| {
        let mut c = KvWorkloadClient::new(id, urls.clone(), start, history.clone());
        async move { c.run(OPS_PER_CLIENT).await }
    };
    let schedule = (0..CLIENTS, FAULTS_MAX);
    let operator = crate::ops_scenario::Operator::new(client_node.clone(), urls.clone());
    let step = || operate.then(|| operator.step());
    let faults =
        clients_under_faults(&handle, &members, &client_node, schedule, client, step).await?;
    crate::nemesis::heal_all(&members);
    liveness(
        &client_node,
        Duration::from_secs(3),
        Duration::from_secs(60),
        probe(urls.clone(), start, history.clone()),
    )
    .await?;
    let checked = check_history(&history)?;
    replicas_agree(&client_node, &urls).await?;
    let operated = match operate {
        true => format!(", {}", operator.finish(&handle).await?),
        false => String::new(),
    };
    Ok(format!(
        "kv {n} members: {checked}, faults {faults:?}{operated}, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}

/// After healing: a fresh client's requests must complete.
async fn probe(urls: Vec<String>, start: Instant, history: SharedHistory) -> usize {
    let before = history.lock().expect("lock").len();
    let mut c = KvWorkloadClient::new(LIVENESS_CLIENT, urls, start, history.clone());
    c.run(20).await;
    let h = history.lock().expect("lock");
    h[before..].iter().filter(|o| o.out.is_some()).count()
}

/// Decides the history; a summary, or the violation with an excerpt.
fn check_history(history: &SharedHistory) -> Result<String, String> {
    let h = history.lock().expect("lock");
    let unknown = h.iter().filter(|o| o.out.is_none()).count();
    let d = decide(&h)?;
    Ok(format!(
        "{} ops ({unknown} unknown outcome), {} revisions ({} written by lost answers)",
        h.len(),
        d.revisions,
        d.filled
    ))
}

/// Runs the KV checker on `h` (`oxcd_checker::checker::kv::decide`).
pub(crate) fn decide(h: &[KvOp]) -> Result<Decided, String> {
    crate::checker::kv::decide(h, PLACEMENT_BUDGET)
}
