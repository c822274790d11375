//! Faults at the WAL's fsync, through the server's fault seam
//! (`oxcd::rt::faults`):
//!
//! * **A crash inside a Ready cycle.** A follower is killed after appending
//!   new entries and before syncing them, while the other followers are
//!   cut off from the leader (so the leader can commit only with this
//!   follower's acknowledgement), and right after, the leader is cut off
//!   (so the rest elect a leader from what survived). etcd's and raft-rs's
//!   rule is that acknowledgements wait for the fsync: if they do, nothing
//!   acknowledged to a client is lost; if a member answers early, an
//!   acknowledged write disappears.
//! * **A failing fsync.** The member's WAL sync returns an error; the member
//!   stops, as etcd does (it is fatal there), and is restarted.

use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use oxcd::rt::faults;
use rand::Rng;

use super::partition::find_leader;
use crate::cluster::{crash_and_restart, Member};

/// How long the follower's fsync is held open.
const HOLD: Duration = Duration::from_millis(300);
/// How long to wait for the follower to start a held fsync.
const WAIT_FOR_WINDOW: Duration = Duration::from_secs(2);

/// The compound fault described above; `d` is how long the old leader
/// stays cut off. Returns a description for the run's report.
pub async fn crash_in_fsync_window(
    handle: &Handle,
    client: &NodeHandle,
    members: &[Member],
    d: Duration,
) -> &'static str {
    if members.len() < 3 {
        return "fsync-crash (too few members)";
    }
    let Some(leader) = find_leader(client, members).await else {
        return "fsync-crash (no leader)";
    };
    let followers: Vec<usize> = (0..members.len()).filter(|i| *i != leader).collect();
    let f = followers[madsim::rand::thread_rng().gen_range(0..followers.len())];
    let net = NetSim::current();
    let others: Vec<&Member> = followers
        .iter()
        .filter(|i| **i != f)
        .map(|i| &members[*i])
        .collect();
    for o in &others {
        net.clog_node(o.node.id());
    }
    let victim = members[f].node.id();
    // A node killed inside an earlier held fsync never cleared the flag.
    faults::update(victim, |k| {
        k.hold_fsync = HOLD;
        k.in_fsync = false;
    });
    let mut waited = Duration::ZERO;
    while !faults::get(victim).in_fsync && waited < WAIT_FOR_WINDOW {
        madsim::time::sleep(Duration::from_millis(5)).await;
        waited += Duration::from_millis(5);
    }
    let entered = faults::get(victim).in_fsync;
    faults::update(victim, |k| k.hold_fsync = Duration::ZERO);
    if entered {
        // Long enough for the leader to commit with an early answer.
        madsim::time::sleep(HOLD / 2).await;
        crash_and_restart(handle, &members[f]);
        faults::update(victim, |k| k.in_fsync = false);
    }
    let old_leader = members[leader].node.id();
    net.clog_node(old_leader);
    for o in &others {
        net.unclog_node(o.node.id());
    }
    madsim::time::sleep(d).await;
    net.unclog_node(old_leader);
    if entered {
        "fsync-crash"
    } else {
        "fsync-crash (no write in flight)"
    }
}

/// `m`'s fsync fails: it stops, as etcd does; after `d` it restarts.
pub async fn fail_fsync(handle: &Handle, m: &Member, d: Duration) {
    faults::update(m.node.id(), |k| k.fsync_fails = true);
    madsim::time::sleep(d).await;
    faults::update(m.node.id(), |k| k.fsync_fails = false);
    crash_and_restart(handle, m);
}
