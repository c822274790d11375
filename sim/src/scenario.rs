//! Scenarios: a workload, a nemesis schedule, checkers and a liveness phase.
//! Each returns a one-line report, or why the run failed; the `#[madsim::test]`
//! wrappers in `sim/tests/` turn a failure into a panic (madsim then prints
//! the seed), and the bug-finding tests run them over seeds by hand.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::runtime::Handle;
use madsim::time::Instant;
use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};
use rand::Rng;

use crate::checker::linearizability::{check_partitioned, register::Register, Verdict};
use crate::checker::revisions;
use crate::cluster::{crash_and_restart, start_single};
use crate::workload::register::{RegisterClient, SharedHistory};

/// A scenario's outcome: a one-line report, or why it failed.
pub type Outcome = Result<String, String>;
/// A boxed scenario run.
pub type Run = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome>>>;

/// Every scenario the explorer and the regression replay know, by name.
pub const NAMES: &[&str] = &[
    "acked_puts_survive_crashes",
    "register_under_crashes",
    "register_3_members",
    "register_5_members",
    "register_with_snapshots",
    "membership_under_load",
];

/// Starts the scenario called `name`.
pub fn by_name(name: &str) -> Option<Run> {
    Some(match name {
        "acked_puts_survive_crashes" => Box::pin(acked_puts_survive_crashes()),
        "register_under_crashes" => Box::pin(register_under_crashes()),
        "register_3_members" => Box::pin(register_in_cluster(3)),
        "register_5_members" => Box::pin(register_in_cluster(5)),
        "register_with_snapshots" => Box::pin(crate::membership::register_with_snapshots()),
        "membership_under_load" => Box::pin(crate::membership::membership_under_load()),
        _ => return None,
    })
}

/// Runs scenario `name` at `seed` in a fresh simulator; a panic counts as a failure.
pub fn run_seed(name: &str, seed: u64) -> Outcome {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async move {
            match by_name(name) {
                Some(run) => run.await,
                None => Err(format!("no scenario named {name:?}")),
            }
        })
    }));
    match run {
        Ok(outcome) => outcome,
        Err(p) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

/// Power cuts during concurrent puts: every acknowledged put must survive.
pub async fn acked_puts_survive_crashes() -> Result<String, String> {
    const CLIENTS: usize = 4;
    const CRASHES: usize = 5;
    let handle = Handle::current();
    let member = start_single(&handle);
    let url = member.client_url();
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let client_node = handle
        .create_node()
        .name("client")
        .ip("10.0.0.100".parse().expect("ip"))
        .build();
    for round in 0..CRASHES {
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
                        acked.lock().expect("lock").insert(key, value);
                    }
                }
            }));
        }
        let delay = madsim::rand::thread_rng().gen_range(1..200);
        madsim::time::sleep(Duration::from_millis(delay)).await;
        crash_and_restart(&handle, &member);
        for t in tasks {
            let _ = t.await;
        }
    }
    madsim::time::sleep(Duration::from_secs(1)).await;
    let want = acked.lock().expect("lock").clone();
    let got = client_node
        .spawn(async move {
            let mut kv = KvClient::connect(url).await.map_err(|e| e.to_string())?;
            let all = RangeRequest {
                key: vec![0],
                range_end: vec![0],
                ..Default::default()
            };
            let resp = kv.range(all).await.map_err(|e| e.to_string())?.into_inner();
            Ok::<_, String>(
                resp.kvs
                    .into_iter()
                    .map(|kv| {
                        (
                            String::from_utf8_lossy(&kv.key).into_owned(),
                            String::from_utf8_lossy(&kv.value).into_owned(),
                        )
                    })
                    .collect::<BTreeMap<_, _>>(),
            )
        })
        .await
        .map_err(|e| format!("reader task: {e}"))?
        .map_err(|e| format!("liveness: no answer after recovery: {e}"))?;
    if want.is_empty() {
        return Err("no put was ever acknowledged".into());
    }
    for (k, v) in &want {
        if got.get(k) != Some(v) {
            return Err(format!("acknowledged put {k}={v} lost after a crash"));
        }
    }
    Ok(format!(
        "acknowledged puts: {}, stored keys: {}, crashes: {CRASHES}",
        want.len(),
        got.len()
    ))
}

/// The register workload against one member that is repeatedly power-cut;
/// then a liveness phase. Checks linearizability per key and per-client
/// revision monotonicity.
pub async fn register_under_crashes() -> Result<String, String> {
    const CLIENTS: usize = 5;
    const OPS_PER_CLIENT: usize = 200;
    const KEYS: usize = 3;
    const CRASHES_MAX: usize = 12;
    let handle = Handle::current();
    let member = start_single(&handle);
    let url = member.client_url();
    let history = SharedHistory::default();
    #[allow(clippy::disallowed_methods)] // madsim's simulated clock
    let start = Instant::now();
    let client_node = handle
        .create_node()
        .name("clients")
        .ip("10.0.0.100".parse().expect("ip"))
        .build();
    madsim::time::sleep(Duration::from_millis(300)).await;

    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let (url, history) = (url.clone(), history.clone());
        tasks.push(client_node.spawn(async move {
            RegisterClient::new(id, vec![url], KEYS, start, history)
                .run(OPS_PER_CLIENT)
                .await;
        }));
    }
    // Nemesis: power cuts at random moments while the clients run.
    let mut crashes = 0;
    while tasks.iter().any(|t| !t.is_finished()) && crashes < CRASHES_MAX {
        let pause = madsim::rand::thread_rng().gen_range(50..800);
        madsim::time::sleep(Duration::from_millis(pause)).await;
        crash_and_restart(&handle, &member);
        crashes += 1;
    }
    for t in tasks {
        t.await.map_err(|e| format!("client task: {e}"))?;
    }

    // Liveness: with faults healed, operations complete again.
    liveness(
        &client_node,
        vec![url],
        start,
        history.clone(),
        Duration::from_secs(1),
        Duration::from_secs(30),
    )
    .await?;
    let (ops, unknown) = check_register_history(&history)?;
    Ok(format!(
        "register: {ops} ops ({unknown} unknown outcome), {crashes} crashes, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}

/// The register workload against an `n`-member cluster while random members
/// are crashed, partitioned away or paused; clients fail over between
/// members. Then every fault is healed and the cluster must serve again.
pub async fn register_in_cluster(n: usize) -> Result<String, String> {
    const CLIENTS: usize = 5;
    const OPS_PER_CLIENT: usize = 150;
    const KEYS: usize = 3;
    const FAULTS_MAX: usize = 10;
    let handle = Handle::current();
    let members = crate::cluster::start_cluster(&handle, n);
    let urls: Vec<String> = members.iter().map(|m| m.client_url()).collect();
    let history = SharedHistory::default();
    #[allow(clippy::disallowed_methods)] // madsim's simulated clock
    let start = Instant::now();
    let client_node = handle
        .create_node()
        .name("clients")
        .ip("10.0.0.100".parse().expect("ip"))
        .build();
    // Let the members elect a leader.
    madsim::time::sleep(Duration::from_secs(3)).await;

    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let (urls, history) = (urls.clone(), history.clone());
        tasks.push(client_node.spawn(async move {
            RegisterClient::new(id, urls, KEYS, start, history)
                .run(OPS_PER_CLIENT)
                .await;
        }));
    }
    let mut faults = Vec::new();
    while tasks.iter().any(|t| !t.is_finished()) && faults.len() < FAULTS_MAX {
        let pause = madsim::rand::thread_rng().gen_range(200..1500);
        madsim::time::sleep(Duration::from_millis(pause)).await;
        faults.push(crate::nemesis::random_fault(&handle, &members).await);
    }
    for t in tasks {
        t.await.map_err(|e| format!("client task: {e}"))?;
    }

    // Liveness: heal everything; the cluster must answer again.
    crate::nemesis::partition::heal_all(&members);
    crate::nemesis::lossy::heal();
    let urls_all = urls.clone();
    liveness(
        &client_node,
        urls,
        start,
        history.clone(),
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .await?;
    let (ops, unknown) = check_register_history(&history)?;
    replicas_agree(&client_node, &urls_all).await?;
    Ok(format!(
        "{n} members: {ops} ops ({unknown} unknown outcome), faults {faults:?}, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}

/// Liveness phase: after `settle`, a fresh client runs `ops` operations
/// against `urls`; at least one must complete within `bound`.
pub(crate) async fn liveness(
    client_node: &madsim::runtime::NodeHandle,
    urls: Vec<String>,
    start: Instant,
    history: SharedHistory,
    settle: Duration,
    bound: Duration,
) -> Result<(), String> {
    const CLIENT_ID: usize = 1000;
    const OPS: usize = 20;
    let live = client_node.spawn(async move {
        madsim::time::sleep(settle).await;
        let before = history.lock().expect("lock").ops.len();
        let mut c = RegisterClient::new(CLIENT_ID, urls, 3, start, history.clone());
        for _ in 0..OPS {
            c.one().await;
        }
        let h = history.lock().expect("lock");
        h.ops[before..]
            .iter()
            .filter(|o| o.output.is_some())
            .count()
    });
    let completed = tokio::time::timeout(settle + bound, live)
        .await
        .map_err(|_| format!("liveness: no answer within {bound:?} of healing"))?
        .map_err(|e| format!("liveness task: {e}"))?;
    if completed == 0 {
        return Err("liveness: no operation completed after healing".into());
    }
    Ok(())
}

/// Runs the checkers on a register history: revision monotonicity per
/// client, then linearizability per key. Returns `(ops, unknown outcomes)`.
pub(crate) fn check_register_history(history: &SharedHistory) -> Result<(usize, usize), String> {
    const STEP_BUDGET: u64 = 5_000_000;
    let h = history.lock().expect("lock");
    let unknown = h.ops.iter().filter(|o| o.output.is_none()).count();
    if let Err((a, b)) = revisions::check(&h.revisions) {
        return Err(format!(
            "client {} saw revision {} after {}",
            b.client, b.revision, a.revision
        ));
    }
    match check_partitioned::<Register, _>(&h.ops, |i| i.key().to_string(), STEP_BUDGET) {
        Verdict::Ok => Ok((h.ops.len(), unknown)),
        Verdict::Unknown => Err("linearizability search exceeded its budget".into()),
        Verdict::Illegal(idx) => {
            let excerpt: Vec<_> = idx
                .iter()
                .rev()
                .take(30)
                .rev()
                .map(|&i| &h.ops[i])
                .collect();
            Err(format!(
                "history is not linearizable; last operations on the key:\n{excerpt:#?}"
            ))
        }
    }
}

/// Replica agreement at the end of a run: once every member has applied the
/// same revision, their `HashKV` at that revision must match.
pub(crate) async fn replicas_agree(
    client_node: &madsim::runtime::NodeHandle,
    urls: &[String],
) -> Result<(), String> {
    use crate::checker::replicas::{check, MemberHash};
    use oxcd::pb::etcdserverpb::{maintenance_client::MaintenanceClient, HashKvRequest};
    const ATTEMPTS: usize = 60;
    let urls = urls.to_vec();
    client_node
        .spawn(async move {
            for _ in 0..ATTEMPTS {
                madsim::time::sleep(Duration::from_millis(500)).await;
                // Each member's current revision, then the hash at the lowest.
                let mut revs = Vec::new();
                for u in &urls {
                    let Ok(Ok(mut m)) = tokio::time::timeout(
                        Duration::from_secs(1),
                        MaintenanceClient::connect(u.clone()),
                    )
                    .await
                    else {
                        break;
                    };
                    let r = m.hash_kv(HashKvRequest { revision: 0 }).await;
                    let Ok(r) = r else { break };
                    revs.push(r.into_inner().header.map_or(0, |h| h.revision));
                }
                if revs.len() != urls.len() || revs.iter().any(|r| *r != revs[0]) {
                    continue; // someone is still catching up
                }
                let mut hashes = Vec::new();
                for (i, u) in urls.iter().enumerate() {
                    let mut m = MaintenanceClient::connect(u.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    let r = m
                        .hash_kv(HashKvRequest { revision: revs[0] })
                        .await
                        .map_err(|e| e.to_string())?
                        .into_inner();
                    hashes.push(MemberHash {
                        member: i,
                        hash: r.hash,
                        compact_revision: r.compact_revision,
                    });
                }
                return check(&hashes).map_err(|(a, b)| {
                    format!("replicas diverge at revision {}: {a:?} vs {b:?}", revs[0])
                });
            }
            Err("replica agreement: members never reached the same revision".to_string())
        })
        .await
        .map_err(|e| format!("replica check task: {e}"))?
}
