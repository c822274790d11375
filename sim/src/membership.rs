//! Scenarios that change the cluster under load: snapshots and compaction
//! under faults, and members added, joined, promoted and removed while the
//! register workload runs and random faults hit the original members.

use std::cell::RefCell;
use std::time::Duration;

use madsim::runtime::{Handle, NodeHandle};
use madsim::time::Instant;
use oxcd::pb::etcdserverpb::{
    cluster_client::ClusterClient, MemberAddRequest, MemberPromoteRequest, MemberRemoveRequest,
};
use rand::Rng;

use crate::cluster::{initial_cluster, peer_url, start_member_with};
use crate::scenario::{clients_under_faults, heal_and_check_register, ClusterRun, Outcome, Step};
use crate::workload::register::{RegisterClient, SharedHistory};

/// A small `--snapshot-count`, so runs compact their logs and members that
/// fall behind (crashed, partitioned, paused, new) catch up from snapshots.
const SNAPSHOT_COUNT: &str = "--snapshot-count=25";
/// Simulated time a membership step may take before the run fails.
const STEP_BOUND: Duration = Duration::from_secs(60);
/// Simulated time a removed member may keep running once it can reach its
/// peers again and the faults are healed: they refuse its next probe (sent
/// each second) as removed.
const REMOVED_STOP_BOUND: Duration = Duration::from_secs(10);

/// How a run's membership changes went, for its report.
#[derive(Debug, Default)]
struct Changes {
    added: usize,
    promoted: usize,
    removed: usize,
    /// Removed while cut off from the cluster.
    removed_cut_off: usize,
}

/// The register workload on three members with compaction every few
/// entries, under the random faults, then everything healed.
///
/// Finds: snapshot and log-compaction bugs (a member catching up from a
/// snapshot with wrong state, a log cut too far). Cannot find: what the
/// register scenarios cannot.
pub async fn register_with_snapshots() -> Outcome {
    register_with_changes(0).await
}

/// Like [`register_with_snapshots`], while new members are added (half of
/// them as learners, then promoted), join with
/// `--initial-cluster-state existing`, serve, and are removed again.
///
/// Finds: membership bugs (a conf change applied differently by members,
/// a joining member with the wrong state, a removed member still voting or
/// still running once healed).
/// Cannot find: what the register scenarios cannot.
pub async fn membership_under_load() -> Outcome {
    register_with_changes(3).await
}

async fn register_with_changes(changes_max: usize) -> Outcome {
    const CLIENTS: usize = 4;
    const OPS_PER_CLIENT: usize = 150;
    const KEYS: usize = 3;
    const FAULTS_MAX: usize = 8;
    let ClusterRun {
        handle,
        members,
        urls,
        start,
        client_node,
    } = ClusterRun::start_with(3, &[SNAPSHOT_COUNT]).await;
    let history = SharedHistory::default();
    let snapshots_before = oxcd::raftnode::snapshots_installed();

    let client = |id| {
        let mut c = RegisterClient::new(id, urls.clone(), KEYS, start, history.clone());
        async move { c.run(OPS_PER_CLIENT).await }
    };
    // After each fault (while the budget lasts) a member is added, joins and
    // is removed again.
    let changes = RefCell::new(Changes::default());
    let gone = RefCell::new(Vec::new());
    let (h, cn, u, ch, g) = (&handle, &client_node, &urls, &changes, &gone);
    let change = || -> Option<Step<'_>> {
        let i = 4 + ch.borrow().added;
        if ch.borrow().added >= changes_max {
            return None;
        }
        Some(Box::pin(async move {
            let (member, promoted) = add_and_join(h, cn, u, i).await?;
            {
                let mut c = ch.borrow_mut();
                c.added += 1;
                c.promoted += usize::from(promoted);
            }
            // Half the time the member is cut off while it is removed, so it
            // never applies its removal: its peers must tell it once it is
            // back (etcd's 410 Gone).
            let cut_off = madsim::rand::thread_rng().gen_bool(0.5);
            let net = madsim::net::NetSim::current();
            if cut_off {
                net.clog_node(member.node.id());
            }
            let removed = remove(cn, u, i).await;
            if cut_off {
                net.unclog_node(member.node.id());
            }
            removed?;
            {
                let mut c = ch.borrow_mut();
                c.removed += 1;
                c.removed_cut_off += usize::from(cut_off);
            }
            #[allow(clippy::disallowed_methods)] // madsim's simulated clock
            let back = Instant::now();
            g.borrow_mut().push((member, back));
            Ok(())
        }))
    };
    let schedule = (0..CLIENTS, FAULTS_MAX);
    let faults =
        clients_under_faults(&handle, &members, &client_node, schedule, client, change).await?;
    #[allow(clippy::disallowed_methods)] // madsim's simulated clock
    let healed = Instant::now();
    let (ops, unknown) =
        heal_and_check_register(&members, &client_node, urls.clone(), start, &history).await?;
    removed_members_stop(&gone.into_inner(), healed).await?;
    let changes = changes.into_inner();
    let snapshots = oxcd::raftnode::snapshots_installed() - snapshots_before;
    Ok(format!(
        "3 members, {SNAPSHOT_COUNT}: {ops} ops ({unknown} unknown outcome), {snapshots} snapshots installed, changes {changes:?}, faults {faults:?}, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}

/// Every removed member stopped (as removed), whether or not it applied its
/// own removal, within [`REMOVED_STOP_BOUND`] of the later of two moments:
/// its removal, when it could reach its peers again (`back`), and the
/// healing of the faults (`healed`), which may have kept its peers from it.
async fn removed_members_stop(
    gone: &[(crate::cluster::Member, Instant)],
    healed: Instant,
) -> Result<(), String> {
    for (m, back) in gone {
        let since = (*back).max(healed);
        let deadline = since + REMOVED_STOP_BOUND;
        loop {
            let stopped = *m.removed_at.lock().expect("removed_at lock");
            match stopped {
                Some(at) if at <= deadline => break,
                Some(at) => {
                    return Err(format!(
                        "removed member {} stopped {:?} after it was back and the faults healed (bound {REMOVED_STOP_BOUND:?})",
                        m.name,
                        at - since
                    ))
                }
                None => {}
            }
            #[allow(clippy::disallowed_methods)] // madsim's simulated clock
            if Instant::now() >= deadline {
                return Err(format!(
                    "removed member {} still running {REMOVED_STOP_BOUND:?} after it was back and the faults healed",
                    m.name
                ));
            }
            madsim::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Retries `step` (a membership RPC through any original member) until it
/// succeeds or [`STEP_BOUND`] passes; members may be down or partitioned.
async fn retry<T, F, Fut>(
    client_node: &NodeHandle,
    what: &str,
    urls: &[String],
    step: F,
) -> Result<T, String>
where
    T: Send + 'static,
    F: Fn(ClusterClient<tonic::transport::Channel>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<T, tonic::Status>> + Send,
{
    let urls = urls.to_vec();
    let what = what.to_string();
    client_node
        .spawn(async move {
            #[allow(clippy::disallowed_methods)] // madsim's simulated clock
            let deadline = Instant::now() + STEP_BOUND;
            let mut last = String::new();
            let mut n = 0;
            #[allow(clippy::disallowed_methods)] // madsim's simulated clock
            while Instant::now() < deadline {
                let url = urls[n % urls.len()].clone();
                n += 1;
                let c =
                    tokio::time::timeout(Duration::from_secs(1), ClusterClient::connect(url)).await;
                if let Ok(Ok(c)) = c {
                    match tokio::time::timeout(Duration::from_secs(10), step(c)).await {
                        Ok(Ok(v)) => return Ok(v),
                        Ok(Err(s)) => last = s.message().to_string(),
                        Err(_) => last = "timed out".into(),
                    }
                }
                madsim::time::sleep(Duration::from_millis(300)).await;
            }
            let state = cluster_state(&urls).await;
            Err(format!(
                "{what}: no success within {STEP_BOUND:?} (last error: {last})\n{state}"
            ))
        })
        .await
        .map_err(|e| format!("membership task: {e}"))?
}

/// What each member says about itself and the cluster, for failure reports.
async fn cluster_state(urls: &[String]) -> String {
    use oxcd::pb::etcdserverpb::{maintenance_client::MaintenanceClient, StatusRequest};
    let mut out = String::new();
    for u in urls {
        let status = async {
            let mut m = MaintenanceClient::connect(u.clone()).await.ok()?;
            let st = m.status(StatusRequest {}).await.ok()?.into_inner();
            let mut c = ClusterClient::connect(u.clone()).await.ok()?;
            let list = c
                .member_list(oxcd::pb::etcdserverpb::MemberListRequest::default())
                .await
                .ok()?
                .into_inner();
            let members: Vec<String> = list
                .members
                .iter()
                .map(|m| format!("{:x}{}", m.id, if m.is_learner { "(learner)" } else { "" }))
                .collect();
            Some(format!(
                "member {:x}: leader {:x}, term {}, raft index {}, members {members:?}",
                st.header.map_or(0, |h| h.member_id),
                st.leader,
                st.raft_term,
                st.raft_index
            ))
        };
        let line = tokio::time::timeout(Duration::from_secs(2), status).await;
        match line {
            Ok(Some(l)) => out.push_str(&format!("  {u}: {l}\n")),
            _ => out.push_str(&format!("  {u}: no answer\n")),
        }
    }
    out
}

/// `member add` (maybe as a learner), start the member with
/// `--initial-cluster-state existing`, wait until it serves, and promote a
/// learner once it has caught up. Returns the member and whether it was a
/// learner (and so was promoted).
async fn add_and_join(
    handle: &Handle,
    client_node: &NodeHandle,
    urls: &[String],
    i: usize,
) -> Result<(crate::cluster::Member, bool), String> {
    let learner = madsim::rand::thread_rng().gen_bool(0.5);
    let peer = peer_url(i);
    let p = peer.clone();
    let id = retry(client_node, "member add", urls, move |mut c| {
        let req = MemberAddRequest {
            peer_ur_ls: vec![p.clone()],
            is_learner: learner,
        };
        let p = p.clone();
        async move {
            match c.member_add(req).await {
                Ok(r) => Ok(r.into_inner().member.map_or(0, |m| m.id)),
                Err(s) if s.message().contains("Peer URLs already exists") => {
                    // An earlier attempt was applied but its answer lost.
                    let list = c
                        .member_list(oxcd::pb::etcdserverpb::MemberListRequest::default())
                        .await?;
                    let m = list
                        .into_inner()
                        .members
                        .into_iter()
                        .find(|m| m.peer_ur_ls == [p.clone()]);
                    m.map(|m| m.id).ok_or(s)
                }
                Err(s) => Err(s),
            }
        }
    })
    .await?;
    let initial = format!("{},etcd{i}={peer}", initial_cluster(3));
    let extra = vec![
        "--initial-cluster-state=existing".to_string(),
        SNAPSHOT_COUNT.to_string(),
    ];
    let m = start_member_with(handle, i, &initial, &extra);
    // It serves once it has caught up and published itself.
    let url = m.client_url();
    retry(
        client_node,
        "new member serving",
        &[url],
        // Its client port opens only once it has published itself.
        |_| async move { Ok(()) },
    )
    .await?;
    if learner {
        retry(
            client_node,
            "member promote",
            urls,
            move |mut c| async move {
                match c.member_promote(MemberPromoteRequest { id }).await {
                    Ok(_) => Ok(()),
                    // Applied by an attempt whose answer was lost.
                    Err(s)
                        if s.message().contains("can only promote a learner member")
                            && !s.message().contains("in sync") =>
                    {
                        Ok(())
                    }
                    Err(s) => Err(s),
                }
            },
        )
        .await?;
    }
    Ok((m, learner))
}

/// `member remove` of member `i` (found by its peer URL).
async fn remove(client_node: &NodeHandle, urls: &[String], i: usize) -> Result<(), String> {
    let peer = peer_url(i);
    retry(client_node, "member remove", urls, move |mut c| {
        let peer = peer.clone();
        async move {
            let list = c
                .member_list(oxcd::pb::etcdserverpb::MemberListRequest::default())
                .await?
                .into_inner();
            let Some(m) = list.members.iter().find(|m| m.peer_ur_ls == [peer.clone()]) else {
                return Ok(()); // already removed
            };
            c.member_remove(MemberRemoveRequest { id: m.id }).await?;
            Ok(())
        }
    })
    .await
}
