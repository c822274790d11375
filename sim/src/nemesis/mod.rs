//! Nemeses: fault injectors, one file each, composed by scenarios.

pub mod clock;
pub mod fsync;
pub mod kill;
pub mod lossy;
pub mod partition;
pub mod pause;
pub mod slow_disk;

use std::time::Duration;

use crate::cluster::Member;
use madsim::runtime::{Handle, NodeHandle};
use rand::Rng;

/// How many kinds of fault [`random_fault`] picks from.
const KINDS: u32 = 12;

/// Injects one random fault from the built nemeses on a random member, for a
/// random duration, then heals it (a crash heals by restarting at once, a
/// clock jump is over once delivered). `client` is a node the nemesis may
/// ask the cluster from (to find the leader). Returns a short description
/// for the run's report.
pub async fn random_fault(
    handle: &Handle,
    members: &[Member],
    client: &NodeHandle,
) -> &'static str {
    let (which, victim, ms, knob) = {
        let mut rng = madsim::rand::thread_rng();
        (
            rng.gen_range(0..KINDS),
            rng.gen_range(0..members.len()),
            rng.gen_range(300..3000),
            rng.gen_range(0.0..1.0f64),
        )
    };
    let m = &members[victim];
    let d = Duration::from_millis(ms);
    match which {
        0 => {
            kill::crash_and_restart(handle, m);
            "crash"
        }
        1 => {
            partition::isolate_for(m, d).await;
            "partition"
        }
        2 => {
            pause::pause_for(handle, m, d).await;
            "pause"
        }
        3 => {
            partition::random_halves_for(members, d).await;
            "halves"
        }
        4 => {
            partition::bridge_for(members, d).await;
            "bridge"
        }
        5 => {
            if partition::isolate_leader_for(client, members, d).await {
                "isolate-leader"
            } else {
                "isolate-leader (no leader found)"
            }
        }
        6 => {
            // Half to twice real speed.
            clock::skew_for(m, 0.5 + 1.5 * knob, d).await;
            "clock-skew"
        }
        7 => {
            // Up to three default election timeouts (10 ticks) at once.
            clock::jump(m, 1 + (knob * 30.0) as u32);
            "clock-jump"
        }
        8 => {
            slow_disk::slow_for(m, Duration::from_millis(5 + (knob * 95.0) as u64), d).await;
            "slow-disk"
        }
        9 => fsync::crash_in_fsync_window(handle, client, members, d).await,
        10 => {
            fsync::fail_fsync(handle, m, d).await;
            "fsync-error"
        }
        _ => {
            lossy::degrade_for(0.05, 50, d).await;
            "lossy"
        }
    }
}

/// Heals every fault a nemesis may have left (the liveness phase starts
/// from a healthy cluster).
pub fn heal_all(members: &[Member]) {
    partition::heal_all(members);
    lossy::heal();
    oxcd::rt::faults::reset();
}
