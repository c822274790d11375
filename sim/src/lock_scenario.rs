//! Lock holders under faults ([`crate::workload::lock`], checked by
//! [`crate::checker::lock`]).
//!
//! What it can find: a lock granted while an earlier key is still in the
//! queue (a waiter that stops waiting too early, a queue read at a stale
//! revision, a cancelled waiter whose key stays and blocks everyone, or
//! whose deletion hands the lock on while the holder still holds it), a
//! fence that does not fence (a create-revision compare that passes on a
//! deleted key), and a lock nobody can take once healed. What it cannot:
//! the election service (the gRPC differential test covers it against
//! etcd), and locks whose holders keep their leases alive.

use crate::checker::lock::{check, Report};
use crate::scenario::{clients_under_faults, ClusterRun};
use crate::workload::lock::{acquire_once, LockWorkloadClient, SharedEvents};
use std::time::Duration;

/// Once healed and every client has stopped, a new client holds the lock
/// within this long: every abandoned key's lease (TTL at most 4 s) has
/// expired, plus an election and the revokes' commits, with room to spare.
pub const ACQUIRE_BOUND: Duration = Duration::from_secs(20);

/// `clients` lock holders, `rounds` holds each, under up to `faults_max`
/// random faults on a 3-member cluster; one round in `stall_one_in` stalls
/// past its lease.
async fn lock_run(
    clients: usize,
    rounds: usize,
    faults_max: usize,
    stall_one_in: u32,
) -> Result<(Report, String), String> {
    let ClusterRun {
        handle,
        members,
        urls,
        start,
        client_node,
    } = ClusterRun::start_with(3, &[]).await;
    let events = SharedEvents::default();
    let client = |id| {
        let mut c = LockWorkloadClient::new(id, urls.clone(), events.clone(), stall_one_in);
        async move { c.run(rounds).await }
    };
    let schedule = (0..clients, faults_max);
    let faults =
        clients_under_faults(&handle, &members, &client_node, schedule, client, || None).await?;
    crate::nemesis::heal_all(&members);
    let took = {
        let u = urls.clone();
        client_node
            .spawn(async move { acquire_once(u, ACQUIRE_BOUND).await })
            .await
            .map_err(|e| format!("last lock: {e}"))??
    };
    let events = events.lock().expect("lock").clone();
    let report = check(&events)?;
    let tail = format!(
        "faults {faults:?}, lock taken {:.1} s after healing, {:.1} simulated s",
        took.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    Ok((report, tail))
}

/// Four clients take turns on one lock on a 3-member cluster under the
/// random faults (partitions, crashes, pauses, clock skew and jumps, slow
/// and failing disks), some holders stalling past their lease.
pub async fn lock_3_members() -> Result<String, String> {
    let (report, tail) = lock_run(4, 6, 10, 6).await?;
    Ok(format!("lock 3 members: {report}, {tail}"))
}

/// Without faults, every holder stalls once in two rounds: the unfenced
/// counter loses updates while the fenced one loses none, which is what
/// fencing on the lock key's revision is for. Fails if no update was lost
/// (the run then shows nothing).
pub async fn lock_fencing_matters() -> Result<String, String> {
    let (report, tail) = lock_run(3, 6, 0, 2).await?;
    if report.unfenced_lost_updates == 0 || report.fence_rejections == 0 {
        return Err(format!(
            "no stalled holder lost an update or had its fence refused: {report}"
        ));
    }
    Ok(format!("lock fencing: {report}, {tail}"))
}
