//! Packet loss and latency: for a while the whole network drops a share of
//! packets and delays the rest, then returns to madsim's defaults.
//! (madsim's streams model loss as a broken connection, so clients and
//! peers see failed RPCs and must retry.)

use std::time::Duration;

use madsim::net::NetSim;

/// Makes the network lossy and slow for `d`.
pub async fn degrade_for(loss_rate: f64, latency_ms_max: u64, d: Duration) {
    let net = NetSim::current();
    net.update_config(|c| {
        c.packet_loss_rate = loss_rate;
        c.send_latency = Duration::from_millis(1)..Duration::from_millis(latency_ms_max.max(2));
    });
    madsim::time::sleep(d).await;
    heal();
}

/// Restores madsim's default network.
pub fn heal() {
    NetSim::current().update_config(|c| *c = madsim::net::Config::default());
}
