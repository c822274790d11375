//! Network partitions, healed after a while: isolate one member (from
//! clients too), or the current leader; split the members into two random
//! halves; or a *bridge* (Jepsen's name): two halves that cannot talk to
//! each other, plus one member that talks to both. With a majority
//! connected somewhere, the cluster must keep serving.

use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::NodeHandle;

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

/// Cuts every link between `a` and `b` (both ways) for `d`, then heals.
async fn cut_for(a: &[&Member], b: &[&Member], d: Duration) {
    let net = NetSim::current();
    let each = |f: &dyn Fn(madsim::task::NodeId, madsim::task::NodeId)| {
        for x in a {
            for y in b {
                f(x.node.id(), y.node.id());
                f(y.node.id(), x.node.id());
            }
        }
    };
    each(&|s, t| net.clog_link(s, t));
    madsim::time::sleep(d).await;
    each(&|s, t| net.unclog_link(s, t));
}

/// Splits the members into two random halves for `d`.
pub async fn random_halves_for(members: &[Member], d: Duration) {
    use rand::seq::SliceRandom;
    let mut order: Vec<&Member> = members.iter().collect();
    order.shuffle(&mut madsim::rand::thread_rng());
    let (a, b) = order.split_at(members.len() / 2);
    cut_for(a, b, d).await;
}

/// A bridge for `d`: the members split in two groups that only reach each
/// other through one member in the middle.
pub async fn bridge_for(members: &[Member], d: Duration) {
    use rand::seq::SliceRandom;
    if members.len() < 3 {
        return;
    }
    let mut order: Vec<&Member> = members.iter().collect();
    order.shuffle(&mut madsim::rand::thread_rng());
    let rest = &order[1..]; // order[0] is the bridge
    let (a, b) = rest.split_at(rest.len() / 2);
    cut_for(a, b, d).await;
}

/// The index of the member that says it leads (its Status reports itself as
/// leader), asked from `client`; `None` if nobody answers as leader.
pub async fn find_leader(client: &NodeHandle, members: &[Member]) -> Option<usize> {
    use oxcd::pb::etcdserverpb::{maintenance_client::MaintenanceClient, StatusRequest};
    const ASK_TIMEOUT: Duration = Duration::from_millis(500);
    let urls: Vec<String> = members.iter().map(|m| m.client_url()).collect();
    client
        .spawn(async move {
            for (i, url) in urls.into_iter().enumerate() {
                let ask = async {
                    let mut m = MaintenanceClient::connect(url).await.ok()?;
                    let s = m.status(StatusRequest {}).await.ok()?.into_inner();
                    let me = s.header?.member_id;
                    (s.leader != 0 && s.leader == me).then_some(())
                };
                if let Ok(Some(())) = tokio::time::timeout(ASK_TIMEOUT, ask).await {
                    return Some(i);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
}

/// Isolates the current leader for `d` (so the rest must elect a new one
/// while the old one may still think it leads), then reconnects it. Returns
/// whether a leader was found.
pub async fn isolate_leader_for(client: &NodeHandle, members: &[Member], d: Duration) -> bool {
    match find_leader(client, members).await {
        Some(i) => {
            isolate_for(&members[i], d).await;
            true
        }
        None => false,
    }
}
