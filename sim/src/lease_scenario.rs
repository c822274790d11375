//! Leases under faults ([`crate::workload::lease`], checked by
//! [`crate::checker::lease`]).
//!
//! What it can find: a lease that expires before its TTL has passed on any
//! member's clock since it was granted or kept alive (a lost renewal, a new
//! leader that does not extend leases, a deposed leader that still revokes,
//! a wrong clock), a revoke or expiry that removes a lease's keys in more
//! than one revision, a revoked lease whose keys stay readable, and a lease
//! that never expires once the cluster is healthy. What it cannot: the
//! remaining TTL `TimeToLive` reports, `Leases`, checkpoints (off by default,
//! as in etcd), and a keep-alive answered by a stale leader after a revoke
//! (etcd 3.4 allows that window too).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::checker::lease::check;
use crate::nemesis::clock;
use crate::scenario::{clients_under_faults, ClusterRun};
use crate::workload::lease::{all_expire, observe, LeaseWorkloadClient, SharedEvents};

/// Once faults are healed and no lease is kept alive, every lease's keys
/// are gone within this long: the longest TTL (4 s), plus a new leader's
/// extension (an election timeout) and its election, plus the revoke's
/// commit, with room to spare.
pub const EXPIRY_BOUND: Duration = Duration::from_secs(15);

/// Leases on a 3-member cluster under the random faults (partitions,
/// crashes, pauses, clock skew and jumps, slow and failing disks): checked
/// as the module says, then every fault is healed and every lease must
/// expire.
pub async fn lease_3_members() -> Result<String, String> {
    const CLIENTS: usize = 3;
    const ROUNDS: usize = 6;
    const FAULTS_MAX: usize = 10;
    clock::reset_log();
    let ClusterRun {
        handle,
        members,
        urls,
        start,
        client_node,
    } = ClusterRun::start_with(3, &[]).await;
    let events = SharedEvents::default();
    let stop = Arc::new(AtomicBool::new(false));
    let observer = {
        let (u, e, s) = (urls.clone(), events.clone(), stop.clone());
        client_node.spawn(observe(u, e, Duration::from_millis(150), s))
    };
    let client = |id| {
        let mut c = LeaseWorkloadClient::new(id, urls.clone(), events.clone());
        async move { c.run(ROUNDS).await }
    };
    let schedule = (0..CLIENTS, FAULTS_MAX);
    let faults =
        clients_under_faults(&handle, &members, &client_node, schedule, client, || None).await?;
    crate::nemesis::heal_all(&members);
    let left = {
        let (u, e) = (urls.clone(), events.clone());
        client_node
            .spawn(async move { all_expire(u, e, EXPIRY_BOUND).await })
            .await
            .map_err(|e| format!("expiry probe: {e}"))?
    };
    stop.store(true, Ordering::Relaxed);
    observer.await.map_err(|e| format!("observer: {e}"))?;
    let events = events.lock().expect("lock").clone();
    let reads = check(&events, &clock::log())?;
    if !left.is_empty() {
        return Err(format!(
            "leases outlived their TTL: {} keys still there {EXPIRY_BOUND:?} after the faults were healed and every client stopped: {left:?}",
            left.len()
        ));
    }
    let granted = events
        .iter()
        .filter(|e| matches!(e, crate::workload::lease::Event::Granted { .. }))
        .count();
    Ok(format!(
        "lease 3 members: {granted} leases, {reads} reads checked, faults {faults:?}, {:.1} simulated s",
        start.elapsed().as_secs_f64()
    ))
}
