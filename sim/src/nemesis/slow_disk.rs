//! A slow disk on one member, through the server's fault seam
//! (`oxcd::rt::faults`): every Ready cycle (WAL append and fsync, apply)
//! waits `latency` first, so the member lags, its proposals and reads wait,
//! and as leader it slows the whole cluster down.

use std::time::Duration;

use oxcd::rt::faults;

use crate::cluster::Member;

/// Makes `m`'s disk take `latency` per Ready cycle for `d`, then heals it.
pub async fn slow_for(m: &Member, latency: Duration, d: Duration) {
    faults::update(m.node.id(), |k| k.disk_latency = latency);
    madsim::time::sleep(d).await;
    faults::update(m.node.id(), |k| k.disk_latency = Duration::ZERO);
}
