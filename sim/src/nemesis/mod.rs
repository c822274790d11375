//! Nemeses: fault injectors, one file each, composed by scenarios.

pub mod kill;
pub mod lossy;
pub mod partition;
pub mod pause;

use crate::cluster::Member;
use madsim::runtime::Handle;
use rand::Rng;

/// Injects one random fault from the built nemeses on a random member, for a
/// random duration, then heals it (a crash heals by restarting at once).
/// Returns a short description for the run's report.
pub async fn random_fault(handle: &Handle, members: &[Member]) -> &'static str {
    let (which, victim, ms) = {
        let mut rng = madsim::rand::thread_rng();
        (
            rng.gen_range(0..6),
            rng.gen_range(0..members.len()),
            rng.gen_range(300..3000),
        )
    };
    let m = &members[victim];
    let d = std::time::Duration::from_millis(ms);
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
        _ => {
            lossy::degrade_for(0.05, 50, d).await;
            "lossy"
        }
    }
}
