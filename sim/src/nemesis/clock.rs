//! Clock faults on one member, through the server's fault seam
//! (`oxcd::rt::faults`): madsim has one global clock, so a member's clock
//! is skewed where the server reads it, its raft ticker. A fast clock makes
//! its election and heartbeat timeouts fire early, a slow one late; a jump
//! delivers many ticks at once (a follower campaigns at once, a leader may
//! step down for lack of a quorum it just heard from).

use std::time::Duration;

use oxcd::rt::faults;

use crate::cluster::Member;

/// Runs `m`'s clock at `rate` times real speed for `d`, then at speed again.
pub async fn skew_for(m: &Member, rate: f64, d: Duration) {
    faults::update(m.node.id(), |k| k.clock_rate = rate);
    madsim::time::sleep(d).await;
    faults::update(m.node.id(), |k| k.clock_rate = 1.0);
}

/// Makes `m`'s clock jump `ticks` raft ticks ahead at its next tick.
pub fn jump(m: &Member, ticks: u32) {
    faults::update(m.node.id(), |k| k.clock_jump_ticks = ticks);
}
