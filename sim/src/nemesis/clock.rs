//! Clock faults on one member, through the server's fault seam
//! (`oxcd::rt::faults`): madsim has one global clock, so a member's clock
//! is skewed where the server reads it, its raft ticker — which is also the
//! lessor's clock (`oxcd::raftnode::NodeClock`). A fast clock makes its
//! election and heartbeat timeouts fire early and its leases expire early,
//! a slow one late; a jump delivers many ticks at once (a follower campaigns
//! at once, a leader may step down for lack of a quorum it just heard from,
//! a leader's leases lose that much time).
//!
//! Every fault is logged ([`log`]), so a checker can bound how far any
//! member's clock may have run ahead of real time over an interval.

use std::cell::RefCell;
use std::time::Duration;

use oxcd::rt::faults;

pub use oxcd_checker::clock::{max_advance, now as sim_now, ClockFault, TICK};

use crate::cluster::Member;

thread_local! {
    // One simulation runs on one thread; each run starts with a fresh log
    // (`reset_log`), as the fault knobs do.
    static LOG: RefCell<Vec<ClockFault>> = const { RefCell::new(Vec::new()) };
}

/// The clock faults of this run so far.
pub fn log() -> Vec<ClockFault> {
    LOG.with(|l| l.borrow().clone())
}

/// Forgets earlier runs' faults.
pub fn reset_log() {
    LOG.with(|l| l.borrow_mut().clear());
}

/// Runs `m`'s clock at `rate` times real speed for `d`, then at speed again.
pub async fn skew_for(m: &Member, rate: f64, d: Duration) {
    let from = sim_now();
    faults::update(m.node.id(), |k| k.clock_rate = rate);
    madsim::time::sleep(d).await;
    faults::update(m.node.id(), |k| k.clock_rate = 1.0);
    let to = sim_now();
    LOG.with(|l| l.borrow_mut().push(ClockFault::Skew { from, to, rate }));
}

/// Makes `m`'s clock jump `ticks` raft ticks ahead at its next tick.
pub fn jump(m: &Member, ticks: u32) {
    faults::update(m.node.id(), |k| k.clock_jump_ticks = ticks);
    let by = TICK * ticks;
    LOG.with(|l| l.borrow_mut().push(ClockFault::Jump { at: sim_now(), by }));
}
