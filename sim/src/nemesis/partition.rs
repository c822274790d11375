//! Network partition: cut one member off from everyone (clients included),
//! then heal. With a majority elsewhere, the cluster must keep serving.

use std::time::Duration;

use madsim::net::NetSim;

use crate::cluster::Member;

/// Isolates `m` for `d`, then reconnects it.
pub async fn isolate_for(m: &Member, d: Duration) {
    let net = NetSim::current();
    net.clog_node(m.node.id());
    madsim::time::sleep(d).await;
    net.unclog_node(m.node.id());
}

/// Reconnects every member (the liveness phase starts from a healed network).
pub fn heal_all(members: &[Member]) {
    let net = NetSim::current();
    for m in members {
        net.unclog_node(m.node.id());
    }
}
