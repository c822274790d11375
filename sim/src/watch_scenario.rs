//! Watches under faults ([`crate::workload::watch`], checked by
//! [`crate::checker::watch`]).
//!
//! What it can find: a watch event lost, repeated, reordered or split
//! across responses (in the raft loop's notify, the sync task's catch-up,
//! the victim path, a resume on another member, a snapshot's restore), a
//! wrong `prev_kv` or create flag, members that disagree on a revision's
//! events, a progress notification (asked for, or periodic every 700 ms)
//! that names a revision whose events were still to come, and watchers that
//! cannot catch up once healed. What it cannot: filters, fragments and
//! compaction cancels (the gRPC differential test covers those against
//! etcd), and slow readers (its watchers read as fast as they can).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::checker::watch::check;
use crate::scenario::{clients_under_faults, ClusterRun};
use crate::workload::watch::{watcher, writer, SharedLog};

/// Once healed, every watcher has every write within this long.
const CATCH_UP_BOUND: Duration = Duration::from_secs(60);

/// Three watchers (one a member, resuming elsewhere on failure) and three
/// writers on a 3-member cluster under the random faults.
pub async fn watch_3_members() -> Result<String, String> {
    const WRITERS: usize = 3;
    const WATCHERS: usize = 3;
    const WRITES: usize = 60;
    const FAULTS_MAX: usize = 10;
    let ClusterRun {
        handle,
        members,
        urls,
        start,
        client_node,
    } = ClusterRun::start_with(3, &["--experimental-watch-progress-notify-interval=700ms"]).await;
    let log = SharedLog::default();
    let target = Arc::new(AtomicI64::new(i64::MAX));
    let watchers: Vec<_> = (0..WATCHERS)
        .map(|id| {
            let (u, l, t) = (urls.clone(), log.clone(), target.clone());
            client_node.spawn(async move {
                watcher(id, u, l, move |last| last >= t.load(Ordering::Relaxed)).await
            })
        })
        .collect();
    let client = |id| writer(id, urls.clone(), log.clone(), WRITES);
    let schedule = (0..WRITERS, FAULTS_MAX);
    let faults =
        clients_under_faults(&handle, &members, &client_node, schedule, client, || None).await?;
    crate::nemesis::heal_all(&members);
    let last_write = log.lock().expect("lock").last_revision();
    target.store(last_write, Ordering::Relaxed);
    for (id, w) in watchers.into_iter().enumerate() {
        match tokio::time::timeout(CATCH_UP_BOUND, w).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("watcher {id}: {e}")),
            Err(_) => {
                return Err(format!(
                    "watcher {id} did not reach revision {last_write} within {CATCH_UP_BOUND:?} of healing"
                ))
            }
        }
    }
    let log = log.lock().expect("lock");
    let events = check(&log.writes, &log.received, WATCHERS)?;
    Ok(format!(
        "watch 3 members: {} writes, {events} events checked, faults {faults:?}, {:.1} simulated s",
        log.writes.len(),
        start.elapsed().as_secs_f64()
    ))
}
