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

use crate::checker::bank::{self as check_bank, Bank};
use crate::checker::linearizability::{check, Verdict};
use crate::checker::revisions;
use crate::cluster::{crash_and_restart, start_single};
use crate::workload::bank::{self, BankClient};
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
    "bank_3_members",
    "register_with_snapshots",
    "membership_under_load",
    "kv_under_crashes",
    "kv_3_members",
    "lease_3_members",
    "watch_3_members",
    "lock_3_members",
    "auth_3_members",
    "ops_3_members",
];

/// Starts the scenario called `name`.
pub fn by_name(name: &str) -> Option<Run> {
    Some(match name {
        "acked_puts_survive_crashes" => Box::pin(acked_puts_survive_crashes()),
        "register_under_crashes" => Box::pin(register_under_crashes()),
        "register_3_members" => Box::pin(register_in_cluster(3)),
        "register_5_members" => Box::pin(register_in_cluster(5)),
        "bank_3_members" => Box::pin(bank_3_members()),
        "register_with_snapshots" => Box::pin(crate::membership::register_with_snapshots()),
        "membership_under_load" => Box::pin(crate::membership::membership_under_load()),
        "kv_under_crashes" => Box::pin(crate::kv_scenario::kv_under_crashes()),
        "kv_3_members" => Box::pin(crate::kv_scenario::kv_in_cluster(3)),
        "lease_3_members" => Box::pin(crate::lease_scenario::lease_3_members()),
        "watch_3_members" => Box::pin(crate::watch_scenario::watch_3_members()),
        "lock_3_members" => Box::pin(crate::lock_scenario::lock_3_members()),
        "auth_3_members" => Box::pin(crate::auth_scenario::auth_3_members()),
        "ops_3_members" => Box::pin(crate::kv_scenario::ops_3_members()),
        _ => return None,
    })
}

/// Runs scenario `name` at `seed` in a fresh simulator; a panic counts as a failure.
pub fn run_seed(name: &str, seed: u64) -> Outcome {
    run_seed_timed(name, seed).0
}

/// [`run_seed`], also returning the simulated time the run took (zero if it
/// panicked). Each run gets a fresh thread, as under `#[madsim::test]`, so
/// thread-locals outside madsim's control (tokio's `select!` RNG, std's hash
/// keys) start out the same whenever a seed is replayed.
pub fn run_seed_timed(name: &str, seed: u64) -> (Outcome, Duration) {
    let name = name.to_string();
    #[allow(clippy::disallowed_methods)] // the harness's thread, not server code
    let run = std::thread::spawn(move || run_seed_on_this_thread(&name, seed));
    run.join()
        .expect("scenario thread (panics are caught inside)")
}

fn run_seed_on_this_thread(name: &str, seed: u64) -> (Outcome, Duration) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let simulated = Arc::new(Mutex::new(Duration::ZERO));
    let sim = simulated.clone();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async move {
            #[allow(clippy::disallowed_methods)] // madsim's simulated clock
            let t0 = Instant::now();
            let outcome = match by_name(name) {
                Some(run) => run.await,
                None => Err(format!("no scenario named {name:?}")),
            };
            *sim.lock().expect("lock") = t0.elapsed();
            reap_nodes().await;
            outcome
        })
    }));
    let outcome = match run {
        Ok(outcome) => outcome,
        Err(p) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    };
    let simulated = *simulated.lock().expect("lock");
    (outcome, simulated)
}

/// Kills every node the run created and lets the executor drop their tasks.
/// madsim frees a task only when it finishes or its node is killed (a
/// pending task's waker, kept in its own task info, holds it alive), so
/// without this every server task outlives its run: about 1 MB a run, which
/// exhausted memory after some 25,000 runs of the explorer.
async fn reap_nodes() {
    let handle = Handle::current();
    // Every scenario gives its nodes unique names; madsim lists unnamed
    // nodes as `node-<id>`, which is not a name it can look up.
    for name in handle.metrics().num_tasks_by_node().into_keys() {
        if !name.starts_with("node-") {
            handle.kill(name.as_str());
        }
    }
    // Killed tasks are woken; dropping them in the runtime (not when the
    // executor itself is dropped) keeps their destructors inside madsim.
    madsim::time::sleep(Duration::from_millis(1)).await;
}

/// Power cuts during concurrent puts: every acknowledged put must survive.
///
/// Finds: acknowledged writes lost by a crash (fsync order, WAL recovery,
/// backend replay). Cannot find: anything about reads, txns or several
/// members.
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
/// then a liveness phase. Decided by the KV checker (linearizability,
/// revision order).
///
/// Finds: lost or doubled writes across crashes, wrong compare-and-set
/// outcomes, revisions reused or skipped. Cannot find: stale reads (one
/// member cannot serve stale data), or anything outside get/put/CAS.
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
    let client_node = client_node(&handle);
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
        crate::coverage::hit("fault.crash");
        crashes += 1;
    }
    for t in tasks {
        t.await.map_err(|e| format!("client task: {e}"))?;
    }

    // Liveness: with faults healed, operations complete again.
    let probe = register_probe(vec![url], start, history.clone());
    liveness(
        &client_node,
        Duration::from_secs(1),
        Duration::from_secs(30),
        probe,
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
///
/// Finds: stale reads (a member that lost leadership, a skipped ReadIndex),
/// split brain, lost or doubled writes across elections and crashes,
/// diverging replicas, a cluster that does not recover. Cannot find:
/// anything outside get/put/CAS (the KV scenarios cover the rest).
pub async fn register_in_cluster(n: usize) -> Result<String, String> {
    const CLIENTS: usize = 5;
    const OPS_PER_CLIENT: usize = 150;
    const KEYS: usize = 3;
    const FAULTS_MAX: usize = 10;
    let ClusterRun {
        handle,
        members,
        urls,
        start,
        client_node,
    } = ClusterRun::start(n).await;
    let history = SharedHistory::default();

    let client = |id| {
        let mut c = RegisterClient::new(id, urls.clone(), KEYS, start, history.clone());
        async move { c.run(OPS_PER_CLIENT).await }
    };
    let schedule = (0..CLIENTS, FAULTS_MAX);
    let faults =
        clients_under_faults(&handle, &members, &client_node, schedule, client, || None).await?;

    let (ops, unknown) =
        heal_and_check_register(&members, &client_node, urls, start, &history).await?;
    Ok(format!(
        "{n} members: {ops} ops ({unknown} unknown outcome), faults {faults:?}, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}

/// The end of a register run on a cluster: heal every fault, the cluster
/// must answer again (liveness); then the history's checks and replica
/// agreement. Returns `(ops, unknown outcomes)`.
pub(crate) async fn heal_and_check_register(
    members: &[crate::cluster::Member],
    client_node: &madsim::runtime::NodeHandle,
    urls: Vec<String>,
    start: Instant,
    history: &SharedHistory,
) -> Result<(usize, usize), String> {
    crate::nemesis::heal_all(members);
    let probe = register_probe(urls.clone(), start, history.clone());
    liveness(
        client_node,
        Duration::from_secs(3),
        Duration::from_secs(60),
        probe,
    )
    .await?;
    let checked = check_register_history(history)?;
    replicas_agree(client_node, &urls).await?;
    Ok(checked)
}

/// A node for the clients (at 10.0.0.100).
fn client_node(handle: &Handle) -> madsim::runtime::NodeHandle {
    handle
        .create_node()
        .name("clients")
        .ip("10.0.0.100".parse().expect("ip"))
        .build()
}

/// A started `n`-member cluster and a node for its clients, once the
/// members have had time to elect a leader.
pub(crate) struct ClusterRun {
    pub(crate) handle: Handle,
    pub(crate) members: Vec<crate::cluster::Member>,
    pub(crate) urls: Vec<String>,
    /// Time zero of the run's history.
    pub(crate) start: Instant,
    pub(crate) client_node: madsim::runtime::NodeHandle,
}

impl ClusterRun {
    async fn start(n: usize) -> Self {
        Self::start_with(n, &[]).await
    }

    /// [`ClusterRun::start`] with `extra` flags on every member.
    pub(crate) async fn start_with(n: usize, extra: &[&str]) -> Self {
        let handle = Handle::current();
        let members = crate::cluster::start_cluster_with(&handle, n, extra);
        let urls = members.iter().map(|m| m.client_url()).collect();
        #[allow(clippy::disallowed_methods)] // madsim's simulated clock
        let start = Instant::now();
        let client_node = client_node(&handle);
        // Let the members elect a leader.
        madsim::time::sleep(Duration::from_secs(3)).await;
        ClusterRun {
            handle,
            members,
            urls,
            start,
            client_node,
        }
    }
}

/// A step a scenario takes after each fault (e.g. a membership change).
pub(crate) type Step<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + 'a>>;

/// Runs a client task per id in `ids` (`client(id)`) on `client_node` and
/// injects random faults, with random pauses between them, until the
/// clients finish or `max` faults are spent; then waits for the clients.
/// After each fault it runs the step `after_fault` gives, if any; a failed
/// step fails the run. Returns the faults injected.
pub(crate) async fn clients_under_faults<'a, Fut>(
    handle: &Handle,
    members: &[crate::cluster::Member],
    client_node: &madsim::runtime::NodeHandle,
    (ids, max): (std::ops::Range<usize>, usize),
    client: impl Fn(usize) -> Fut,
    mut after_fault: impl FnMut() -> Option<Step<'a>>,
) -> Result<Vec<&'static str>, String>
where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<_> = ids.map(|id| client_node.spawn(client(id))).collect();
    let mut faults = Vec::new();
    while tasks.iter().any(|t| !t.is_finished()) && faults.len() < max {
        let pause = madsim::rand::thread_rng().gen_range(200..1500);
        madsim::time::sleep(Duration::from_millis(pause)).await;
        let fault = crate::nemesis::random_fault(handle, members, client_node).await;
        crate::coverage::hit(&format!("fault.{fault}"));
        faults.push(fault);
        if let Some(step) = after_fault() {
            step.await?;
        }
    }
    for t in tasks {
        t.await.map_err(|e| format!("client task: {e}"))?;
    }
    Ok(faults)
}

/// The bank workload against a 3-member cluster under random faults: every
/// read must see all accounts and the initial total, revisions never go
/// backwards, the whole history is linearizable; then every fault is
/// healed, the cluster must serve again, and the replicas must agree.
///
/// Finds: non-atomic txns, ranges that are not one snapshot, stale compares
/// (money created or lost). Cannot find: single-key semantics the bank's
/// reads do not look at.
pub async fn bank_3_members() -> Result<String, String> {
    const MEMBERS: usize = 3;
    const CLIENTS: usize = 4;
    const OPS_PER_CLIENT: usize = 100;
    const ACCOUNTS: usize = 4;
    const BALANCE: i64 = 100;
    const FAULTS_MAX: usize = 10;
    const STEP_BUDGET: u64 = 5_000_000;
    let ClusterRun {
        handle,
        members,
        urls,
        start,
        client_node,
    } = ClusterRun::start(MEMBERS).await;
    let history = bank::SharedHistory::default();

    // The initial balances, before any fault.
    let (u, h) = (urls.clone(), history.clone());
    let init = client_node.spawn(async move {
        let mut c = BankClient::new(0, u, ACCOUNTS, start, h);
        while !c.init(&[BALANCE; ACCOUNTS]).await {}
    });
    // Members serve clients once they have joined the cluster, which can
    // take a few election rounds.
    tokio::time::timeout(Duration::from_secs(30), init)
        .await
        .map_err(|_| "bank: could not write the initial balances in 30 s".to_string())?
        .map_err(|e| format!("init task: {e}"))?;

    let client = |id| {
        let mut c = BankClient::new(id, urls.clone(), ACCOUNTS, start, history.clone());
        async move { c.run(OPS_PER_CLIENT).await }
    };
    let schedule = (1..CLIENTS + 1, FAULTS_MAX);
    let faults =
        clients_under_faults(&handle, &members, &client_node, schedule, client, || None).await?;

    crate::nemesis::heal_all(&members);
    let (u, h) = (urls.clone(), history.clone());
    let probe = bank::probe(u, ACCOUNTS, start, h);
    liveness(
        &client_node,
        Duration::from_secs(3),
        Duration::from_secs(60),
        probe,
    )
    .await?;

    let (ops, unknown, moved) = {
        let h = history.lock().expect("lock");
        check_bank::check_reads(&h.ops, ACCOUNTS, BALANCE * ACCOUNTS as i64)?;
        check_revisions(&h.revisions)?;
        match check::<Bank>(&h.ops, STEP_BUDGET) {
            Verdict::Ok => {}
            Verdict::Unknown => {
                return Err("bank linearizability search exceeded its budget".into())
            }
            Verdict::Illegal(_) => {
                let tail: Vec<_> = h.ops.iter().rev().take(30).rev().collect();
                return Err(format!(
                    "bank history is not linearizable; last operations:\n{tail:#?}"
                ));
            }
        }
        let unknown = h.ops.iter().filter(|o| o.output.is_none()).count();
        let moved = h
            .ops
            .iter()
            .filter(|o| {
                matches!(
                    o.output,
                    Some(check_bank::Output::Transfer {
                        succeeded: true,
                        ..
                    })
                )
            })
            .count();
        (h.ops.len(), unknown, moved)
    };
    replicas_agree(&client_node, &urls).await?;
    Ok(format!(
        "bank {MEMBERS} members: {ops} ops ({unknown} unknown outcome, {moved} transfers done), faults {faults:?}, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}

/// Liveness phase: after `settle`, `probe` (a fresh client's operations,
/// returning how many completed) runs on `client_node`; at least one must
/// complete within `bound`.
pub(crate) async fn liveness(
    client_node: &madsim::runtime::NodeHandle,
    settle: Duration,
    bound: Duration,
    probe: impl std::future::Future<Output = usize> + Send + 'static,
) -> Result<(), String> {
    let live = client_node.spawn(async move {
        madsim::time::sleep(settle).await;
        probe.await
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

/// The register liveness probe: a fresh client's operations on `urls`.
pub(crate) async fn register_probe(
    urls: Vec<String>,
    start: Instant,
    history: SharedHistory,
) -> usize {
    crate::workload::register::probe(urls, 3, start, history).await
}

/// Decides a register history with the KV checker. Returns `(ops, unknown
/// outcomes)`.
pub(crate) fn check_register_history(history: &SharedHistory) -> Result<(usize, usize), String> {
    let h = history.lock().expect("lock");
    let unknown = h.iter().filter(|o| o.out.is_none()).count();
    crate::kv_scenario::decide(&h)?;
    Ok((h.len(), unknown))
}

/// Revision monotonicity per client.
fn check_revisions(observed: &[revisions::Observed]) -> Result<(), String> {
    revisions::check(observed).map_err(|(a, b)| {
        format!(
            "client {} saw revision {} after {}",
            b.client, b.revision, a.revision
        )
    })
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
                // The hash at the current revision (asking for it by number
                // would be refused if a compaction sits exactly there).
                let mut hashes = Vec::new();
                for (i, u) in urls.iter().enumerate() {
                    let mut m = MaintenanceClient::connect(u.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    let r = m
                        .hash_kv(HashKvRequest { revision: 0 })
                        .await
                        .map_err(|e| e.to_string())?
                        .into_inner();
                    if r.header.as_ref().map_or(0, |h| h.revision) != revs[0] {
                        break; // it moved on meanwhile: ask again
                    }
                    hashes.push(MemberHash {
                        member: i,
                        hash: r.hash,
                        compact_revision: r.compact_revision,
                    });
                }
                if hashes.len() != urls.len() {
                    continue;
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
