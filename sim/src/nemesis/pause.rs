//! Pause and resume: the member's process freezes (like SIGSTOP or a long GC
//! pause) and later continues where it was, with stale timers and views.

use std::time::Duration;

use madsim::runtime::Handle;

use crate::cluster::Member;

/// Freezes `m` for `d`, then lets it run again.
pub async fn pause_for(handle: &Handle, m: &Member, d: Duration) {
    handle.pause(m.node.id());
    madsim::time::sleep(d).await;
    handle.resume(m.node.id());
}
